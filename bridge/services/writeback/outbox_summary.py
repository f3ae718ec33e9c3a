"""What one outbox drain did, or dry would do: counts, why it stopped, the requests it plans.

``drain_outbox`` (in ``outbox``) fills a ``DrainSummary``; the CLI and the scheduled sync print
its ``summary()`` line or its ``as_dict()``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bridge.rules.words import plural

__all__ = ["DrainSummary", "PlannedRequest"]


@dataclass(frozen=True)
class PlannedRequest:
    """One HTTP request a drain sends (or, dry, would send); path relative to /wp-json/wc/v3/."""

    method: str
    path: str
    body: Any = None
    condition: str = ""  # when the request is sent only if an earlier one says so

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.body is not None:
            shown["body"] = self.body
        if self.condition:
            shown["condition"] = self.condition
        return shown


@dataclass
class DrainSummary:
    """What one drain did (or, dry, would do)."""

    dry_run: bool = False
    sent: int = 0  # rows delivered
    unchanged: int = 0  # rows equal to what was last written: nothing sent
    retrying: int = 0  # rows that failed and will be tried again
    dead: int = 0  # rows dead-lettered by this drain
    deferred: int = 0  # notes waiting for the coupon they mention
    left: int = 0  # rows not tried because the drain stopped
    http_requests: int | None = None
    stopped: str = ""  # why the drain stopped early (shop down, key refused)
    requests: list[PlannedRequest] = field(default_factory=list)  # dry run only
    adopted: int = 0  # notes and coupons the shop already had: recorded, not sent again
    timed_out: int = 0  # rows whose request got no answer in time: retried, looked for first
    # Learners told something: a customer note or a coupon sent (dry: would be sent).
    notified: set[int] = field(default_factory=set)

    def summary(self) -> str:
        verb = "would send" if self.dry_run else "sent"
        if self.dry_run:
            line = (
                f"{verb} {plural(len(self.requests), 'request')}; {self.unchanged} unchanged, "
                f"{self.deferred} deferred"
            )
        else:
            line = (
                f"{verb} {self.sent}, {self.unchanged} unchanged, {self.retrying} to retry, "
                f"{self.dead} dead, {self.deferred} deferred, {self.left} left"
            )
            if self.http_requests is not None:
                line += f"; {plural(self.http_requests, 'request')}"
        if self.adopted:
            line += f"; {self.adopted} already in the shop (adopted)"
        if self.timed_out:
            line += f"; {self.timed_out} not answered in time (retried later, looked for first)"
        line += f"; customers {'to notify' if self.dry_run else 'notified'}: {len(self.notified)}"
        if self.stopped:
            line += f"; stopped: {self.stopped}"
        return line

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["requests"] = [request.as_dict() for request in self.requests]
        data["notified"] = len(self.notified)
        return data
