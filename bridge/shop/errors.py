"""Typed errors of the shop client: retryable (unreachable, overloaded) or permanent (refused)."""

from __future__ import annotations

from bridge.errors import PermanentError, RetryableError


class ShopNotConfigured(PermanentError):
    """The client was built without a shop URL or REST keys."""


class ShopUnavailable(RetryableError):
    """The shop could not be reached or stayed overloaded (connection, timeout, 429, 5xx).

    ``status`` is the last HTTP status (None when no answer came); ``retry_after`` is the wait
    the shop last asked for, if any, so a caller can schedule its next try. ``timed_out``: the
    last attempt reached the shop and got no answer in time (a read timeout, a 504), so a
    request that creates something may have created it.
    """

    def __init__(
        self,
        message: str,
        *,
        host: str,
        method: str,
        resource: str,
        reason: str,
        hint: str,
        status: int | None = None,
        attempts: int = 1,
        elapsed: float = 0.0,
        retry_after: float | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.host = host
        self.method = method
        self.resource = resource
        self.reason = reason
        self.hint = hint
        self.status = status
        self.attempts = attempts
        self.elapsed = elapsed
        self.retry_after = retry_after
        self.timed_out = timed_out


class ShopRequestError(PermanentError):
    """The shop refused the request; retrying it unchanged will not help.

    ``code`` and ``detail`` are WooCommerce's own ``code`` and ``message`` (empty when the answer
    was not a WooCommerce error); ``hint`` says what a person should do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        host: str,
        method: str,
        resource: str,
        status: int | None,
        code: str,
        detail: str,
        hint: str,
    ) -> None:
        super().__init__(message)
        self.host = host
        self.method = method
        self.resource = resource
        self.status = status
        self.code = code
        self.detail = detail
        self.hint = hint


def failure_detail(exc: ShopRequestError | ShopUnavailable) -> str:
    if isinstance(exc, ShopUnavailable):
        return f"{exc.host} {exc.reason}"
    answer = " ".join(part for part in (str(exc.status or ""), exc.code) if part)
    return f"{answer}: {exc.detail}" if answer else exc.detail
