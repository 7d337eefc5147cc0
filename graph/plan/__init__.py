"""Plans: an action and a reason per node, and release diffs between two versions of the stacks."""
