"""The backup job: a copy of the database into the operator's folder, the oldest beyond the
number to keep deleted (SQLite: the online backup API; PostgreSQL: pg_dump when installed)."""

from __future__ import annotations

from bridge.store.backups import take_backup
from bridge.store.db import BackupRefused
from sync.context import JobContext, JobFailed


def run_backup(ctx: JobContext) -> None:
    """Back the database up into BRIDGE_BACKUP_DIR and keep the newest BRIDGE_BACKUP_KEEP."""
    settings = ctx.settings
    folder, keep = settings.database.backup_dir, settings.database.backup_keep
    if ctx.dry_run:
        # A file outside the database cannot be rolled back: the preview counts it, writes none.
        ctx.tally.changed += 1
        ctx.change(f"would back the database up into {folder} (keeping the newest {keep})")
        return
    try:
        backup, dropped = take_backup(settings.database.url, folder, keep, ctx.now())
    except (BackupRefused, OSError) as exc:
        raise JobFailed(f"backup failed: {exc}") from None
    ctx.tally.changed += 1
    ctx.change(
        f"backed up to {backup.path} ({backup.bytes} bytes, schema revision {backup.revision})"
    )
    for old in dropped:
        ctx.note(f"deleted the old backup {old.name} (keeping the newest {keep})")
