"""One module of checks per assignment. Instructor-only: never released, never visible to workers."""
