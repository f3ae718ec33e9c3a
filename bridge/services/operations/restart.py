"""Settings changed since the process started: what the console shows until a restart.

Settings are read once at start-up; a change to ``.env`` (or the environment file the service
was started with) takes effect only after a restart. Comparing the running settings with what
the file says now tells the operator which variables wait for one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.settings import Settings, SettingsError, load_settings


@dataclass(frozen=True)
class PendingSettings:
    """Variables whose value in the file differs from the running one, or why the file cannot
    be read (the service goes on with the settings it started with)."""

    changed: tuple[str, ...] = ()
    error: str = ""

    @property
    def restart_needed(self) -> bool:
        return bool(self.changed or self.error)


def pending_settings(running: Settings, env_file: str | None) -> PendingSettings:
    """Compare the running settings with the environment file now (the names only: values may
    be secrets). ``env_file`` None: the settings came from code, there is nothing to compare."""
    if env_file is None:
        return PendingSettings()
    try:
        now = load_settings(env_file=env_file)
    except SettingsError as exc:
        return PendingSettings(error=str(exc))
    before, after = running.masked(), now.masked()
    changed = tuple(name for name in after if after[name] != before.get(name))
    return PendingSettings(changed=changed)
