"""Request bodies read within the size limit, chunked ones included (413, never a cut body)."""

from __future__ import annotations

from typing import Any

from flask import g, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from bridge.rules.inbound.payloads import BodyRefused, parse_json_body
from bridge.services.bookings import InvalidRequest

_CHUNK = 64 * 1024


def read_body(limit: int) -> bytes:
    """The whole body, or 413 when it is larger than ``limit`` bytes.

    A declared Content-Length over the limit is refused before reading. A chunked body has no
    length: it is read from the server's terminated stream up to one byte past the limit,
    so an oversized one is refused instead of being cut to the limit and judged as if whole.
    """
    if "bridge_body" in g:
        return g.bridge_body
    g.bridge_body = _read(limit)
    return g.bridge_body


def _read(limit: int) -> bytes:
    if request.content_length is not None:
        if request.content_length > limit:
            raise RequestEntityTooLarge(f"body larger than {limit} bytes")
        return request.get_data(cache=True, parse_form_data=False)
    if not request.environ.get("wsgi.input_terminated"):
        return b""
    stream = request.environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        part = stream.read(min(_CHUNK, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise RequestEntityTooLarge(f"body larger than {limit} bytes")
    return b"".join(parts)


def json_body(limit: int) -> Any:
    """The request's JSON body for the API: 415 for another media type, 400 if not strict JSON
    or if a string holds what no column can store (NUL, a lone surrogate)."""
    mimetype = request.mimetype
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(f"send Content-Type: application/json, not {mimetype[:60]}")
    try:
        return parse_json_body(read_body(limit), storable=True)
    except BodyRefused as exc:
        raise InvalidRequest("body", str(exc).removeprefix("body ")) from None
