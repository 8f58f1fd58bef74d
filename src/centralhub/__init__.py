"""Central Hub: service registry, discovery, live configuration and health for microservices."""

__version__ = "0.1.0"

__all__ = ["__version__"]
