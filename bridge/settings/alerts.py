"""The alerts group of the settings: where alerts to the creator go (e-mail, a chat webhook),
and what counts as an incident. Declared here (not in the package's ``__init__``) to keep that
module under the size rule; ``Settings.alerts`` holds it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bridge.settings import parsers
from bridge.settings.declaration import DECLARED, setting


def _emails(value: str) -> tuple[str, ...]:
    addresses = tuple(part.strip() for part in value.split(",") if part.strip())
    for address in addresses:
        local, _, domain = address.rpartition("@")
        if not local or "." not in domain or any(ch.isspace() for ch in address):
            raise ValueError("must be e-mail addresses separated by commas")
    return addresses


def _security(value: str) -> str:
    value = value.strip().lower()
    if value not in ("starttls", "tls", "none"):
        raise ValueError("must be starttls, tls or none")
    return value


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError("must be a port number from 1 to 65535")
    return int(value)


def _hour(value: str) -> int | None:
    if value.strip().lower() == "off":
        return None
    if not value.strip().isdigit() or not 0 <= int(value) <= 23:
        raise ValueError("must be an hour from 0 to 23 (UTC), or off")
    return int(value)


def _percent(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 100:
        raise ValueError("must be a whole percentage from 1 to 100")
    return int(value)


@dataclass(frozen=True, repr=False)
class AlertSettings:
    """Alerts to the creator"""

    email_to: tuple[str, ...] = setting(
        "BRIDGE_ALERT_EMAIL_TO",
        _emails,
        example="dana@example.com",
        doc="Who gets alerts by e-mail (addresses separated by commas); unset: no e-mail.",
    )
    email_from: str = setting(
        "BRIDGE_ALERT_EMAIL_FROM",
        parsers.text,
        default="creator-bridge@localhost",
        doc="The From address of alert e-mails.",
    )
    smtp_host: str | None = setting(
        "BRIDGE_SMTP_HOST",
        parsers.text,
        example="smtp.example.com",
        doc="SMTP server alert e-mails are sent through (required with `BRIDGE_ALERT_EMAIL_TO`).",
    )
    smtp_port: int = setting(
        "BRIDGE_SMTP_PORT", _port, default="587", doc="Port of the SMTP server."
    )
    smtp_security: str = setting(
        "BRIDGE_SMTP_SECURITY",
        _security,
        default="starttls",
        doc="`starttls` (port 587), `tls` (port 465) or `none` (a relay on the same machine).",
    )
    smtp_username: str | None = setting(
        "BRIDGE_SMTP_USERNAME",
        parsers.text,
        example="alerts@example.com",
        doc="SMTP login; unset: no login.",
    )
    smtp_password: str | None = setting(
        "BRIDGE_SMTP_PASSWORD",
        parsers.text,
        secret=True,
        example="an-app-password",
        doc="SMTP password of `BRIDGE_SMTP_USERNAME`.",
    )
    chat_webhook_url: str | None = setting(
        "BRIDGE_ALERT_WEBHOOK_URL",
        parsers.url,
        secret=True,
        example="https://hooks.slack.com/services/T000/B000/XXXX",
        doc="A chat incoming-webhook URL (Slack, or anything that takes Slack's "
        '`{"text": ...}`: Mattermost, Rocket.Chat, Discord\'s `/slack` URL); unset: no chat.',
    )
    job_failures: int = setting(
        "BRIDGE_ALERT_JOB_FAILURES",
        parsers.positive_int,
        default="3",
        doc="Alert when a sync job fails this many times in a row.",
    )
    cohort_fill_percent: int = setting(
        "BRIDGE_ALERT_COHORT_FILL_PERCENT",
        _percent,
        default="90",
        doc="Alert when an upcoming cohort's active seats reach this share of its capacity.",
    )
    digest_hour: int | None = setting(
        "BRIDGE_ALERT_DIGEST_HOUR",
        _hour,
        default="off",
        doc="Send a daily digest of open incidents at this UTC hour (0 to 23); `off`: none.",
    )

    def __repr__(self) -> str:
        # Groups end up in logs and tracebacks too: never show a secret (the password, the URL).
        shown = []
        for member in dataclasses.fields(self):
            value = getattr(self, member.name)
            if value is not None and member.metadata[DECLARED]["secret"]:
                value = "****"
            shown.append(f"{member.name}={value!r}")
        return f"AlertSettings({', '.join(shown)})"

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels alerts go to: ``email`` and/or ``chat``."""
        email = ("email",) if self.email_to and self.smtp_host else ()
        return email + (("chat",) if self.chat_webhook_url else ())
