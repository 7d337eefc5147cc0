"""Building: the buildx driver (the only door to Docker), its pure arguments, logs, the scheduler."""
