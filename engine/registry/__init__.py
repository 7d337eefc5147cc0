"""Registry access: the distribution API client, the retrying proxy for BuildKit, the catalogue."""
