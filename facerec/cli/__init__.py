"""The `facerec` command: argument parsing, exit codes, one module per subcommand in cli.commands."""
