"""One module per subcommand of `graders`: argument parsing only, the work is in the stage modules."""
