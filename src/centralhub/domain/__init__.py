"""The hub's domain layer: registry, configuration, health. Knows nothing of HTTP."""
