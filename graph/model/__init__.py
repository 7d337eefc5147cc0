"""The ground of the model: frozen dataclasses (spec), single-value checks and version order."""
