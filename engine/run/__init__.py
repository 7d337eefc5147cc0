"""Orchestration without argv: planning against the registry, building nodes, promotion, contracts."""
