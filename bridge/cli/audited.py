"""The audit row of an operator action taken with the CLI: who is ``--by``, else
BRIDGE_OPERATOR, else the OS user (bridge.services.audit.operator_of)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.cli.context import AppContext
from bridge.services.audit import Via, operator_of, record_action_after


def audit_cli(
    app: AppContext,
    action: str,
    subject: str = "",
    *,
    reason: str = "",
    details: Mapping[str, Any] | None = None,
    by: str | None = None,
) -> None:
    """Record that the CLI's operator did ``action`` on ``subject`` (after it succeeded)."""
    record_action_after(
        app.ready_engine(),
        operator=operator_of(by, app.settings.console.operator),
        via=Via.CLI,
        action=action,
        subject=subject,
        reason=reason,
        details=details,
    )
