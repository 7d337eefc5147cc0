"""How stacks are built: scheduler, buildx driver, registry access, state, CLI and logging."""
