"""The ``centralhub`` command: ``serve`` runs the hub; every other command is an HTTP client of it."""

from centralhub.cli.main import app, main

__all__ = ["app", "main"]
