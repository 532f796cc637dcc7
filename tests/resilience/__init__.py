"""Resilience: faults of the issuer's JWKS endpoint, and bounded load, against
example_api under gunicorn."""
