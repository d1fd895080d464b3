"""A region's login endpoint: password grant, token introspection, JWKS, health and metrics."""
