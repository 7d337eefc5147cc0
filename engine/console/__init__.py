"""What a person sees: structlog set-up and the live progress block."""
