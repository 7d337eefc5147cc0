"""Benchmarks: stackbuild beside docker buildx bake, the planner at scale, the scheduler."""
