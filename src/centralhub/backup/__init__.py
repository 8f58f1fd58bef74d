"""Backup and restore of the hub's stored state as one versioned JSON document."""
