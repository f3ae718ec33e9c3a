"""Where alerts go: e-mail through SMTP (the standard library's smtplib) and a chat incoming
webhook taking Slack's ``{"text": ...}`` JSON (bridge.shop.chat_webhook)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from bridge.errors import BridgeError
from bridge.settings.alerts import AlertSettings
from bridge.shop.chat_webhook import ChatWebhookError, post_chat_message

TIMEOUT_SECONDS = 10


class ChannelError(BridgeError):
    """A channel did not take the message; the message names the channel, never its secret."""


def send_email(settings: AlertSettings, subject: str, body: str) -> None:
    """One e-mail to every BRIDGE_ALERT_EMAIL_TO address."""
    if not settings.smtp_host:
        raise ChannelError("e-mail: BRIDGE_SMTP_HOST is not set")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="creator-bridge")
    message.set_content(body)
    try:
        if settings.smtp_security == "tls":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=TIMEOUT_SECONDS,
                context=ssl.create_default_context(),
            )
        else:
            server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS)
        with server:
            if settings.smtp_security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                server.login(settings.smtp_username, settings.smtp_password or "")
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        # The exception's text may quote the server, never our password; keep it short.
        raise ChannelError(
            f"e-mail via {settings.smtp_host}:{settings.smtp_port}: {type(exc).__name__}: "
            f"{str(exc)[:200]}"
        ) from None


def send_chat(settings: AlertSettings, text: str) -> None:
    """One message to the chat incoming webhook (its URL is a secret: never in an error)."""
    if not settings.chat_webhook_url:
        raise ChannelError("chat: BRIDGE_ALERT_WEBHOOK_URL is not set")
    try:
        post_chat_message(settings.chat_webhook_url, text, timeout=TIMEOUT_SECONDS)
    except ChatWebhookError as exc:
        raise ChannelError(str(exc)) from None


def deliver(settings: AlertSettings, subject: str, body: str) -> dict[str, str]:
    """Send to every configured channel; channel -> "sent" or why it failed."""
    outcome: dict[str, str] = {}
    for channel in settings.channels:
        try:
            if channel == "email":
                send_email(settings, subject, body)
            else:
                send_chat(settings, f"*{subject}*\n{body}")
            outcome[channel] = "sent"
        except ChannelError as exc:
            outcome[channel] = str(exc)
    return outcome
