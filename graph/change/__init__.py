"""What changed: content fingerprints and the nodes a set of changed files affects."""
