"""The alerts job: look for incidents, tell the creator of each opening and clearing once."""

from __future__ import annotations

from bridge.services.alerts import check_alerts
from sync.context import JobContext, JobFailed


def run_alerts(ctx: JobContext) -> None:
    """Open and clear incidents; send what is untold to BRIDGE_ALERT_EMAIL_TO and the chat
    webhook (and the daily digest when it is due)."""
    run = check_alerts(ctx.engine, ctx.settings, ctx.now(), tell=not ctx.dry_run)
    ctx.tally.changed += len(run.opened) + len(run.cleared)
    for key in run.opened:
        ctx.change(f"incident opened: {key}")
    for key in run.cleared:
        ctx.change(f"incident cleared: {key}")
    if ctx.dry_run:
        ctx.note("a dry run sends no alert: the incidents above are rolled back")
    elif not run.channels:
        ctx.note(
            "no alert channel is set (BRIDGE_ALERT_EMAIL_TO with BRIDGE_SMTP_HOST, or "
            "BRIDGE_ALERT_WEBHOOK_URL): incidents are only listed by `bridge alerts`"
        )
    if run.failed:
        raise JobFailed(
            "alerts not delivered: "
            + "; ".join(f"{channel}: {why}" for channel, why in sorted(run.failed.items()))
        )
