"""What a sync job reports while it runs (the port), and a reporter that says nothing.

The CLI's Rich display (bridge.cli.output) is the one that shows it to people.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """What a job reports while it runs: items done out of an expected total, if known."""

    def set_total(self, total: int | None) -> None: ...

    def advance(self, items: int = 1) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing (tests, quiet runs)."""

    def set_total(self, total: int | None) -> None:
        pass

    def advance(self, items: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass
