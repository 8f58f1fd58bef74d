"""Audit trail: who changed what, when, from where, with the before and after."""

from centralhub.audit.models import AuditEntry
from centralhub.audit.service import AuditLog

__all__ = ["AuditEntry", "AuditLog"]
