"""The audit trail (bridge.services.audit): rows written with the action, read back filtered."""
