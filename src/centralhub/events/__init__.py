"""The event stream for services in any language: Server-Sent Events of configuration,
registry and alert changes."""
