"""Tests of the course assignments: fairness of their checks on scenario notebooks."""
