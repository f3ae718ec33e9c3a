"""A chat incoming webhook (Slack's, or one that takes Slack's ``{"text": ...}``): the alerts'
one HTTP call outside the shop, kept here with the bridge's other HTTP clients."""

from __future__ import annotations

import requests


class ChatWebhookError(Exception):
    """The webhook could not be reached or refused the message; the text never holds its URL
    (the URL is the secret)."""


def post_chat_message(url: str, text: str, *, timeout: float) -> None:
    """POST ``{"text": text}``; ChatWebhookError unless it answers 2xx."""
    try:
        response = requests.post(url, json={"text": text}, timeout=timeout)
    except requests.RequestException as exc:
        raise ChatWebhookError(f"chat webhook: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise ChatWebhookError(f"chat webhook answered HTTP {response.status_code}")
