"""The `stackbuild` command: argv in, an exit code out; one module per bigger command."""
