"""Compatibility constraints: a safe expression language over a combination's attributes."""
