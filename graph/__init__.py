"""The pure model of what to build: stacks, nodes, the DAG and plans (no I/O beyond reading files)."""
