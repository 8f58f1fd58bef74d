"""Credentials (API keys and JWTs), scopes and the caller's identity."""
