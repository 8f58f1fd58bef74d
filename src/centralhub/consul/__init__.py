"""A Consul-compatible HTTP API subset over the hub's own registry, health and database."""
