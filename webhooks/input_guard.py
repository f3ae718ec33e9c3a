"""Input no column can hold is refused at the edge: 400 for NUL and lone surrogates, 404 for ids
beyond an id column's range. Never a 5xx from the driver, never a row written.

JSON bodies are checked where they are parsed (``parse_json_body(..., storable=True)``); this
module covers what every request has: the path, the query string and form fields.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map, ValidationError

from bridge.rules.inbound.payloads import unstorable
from bridge.store.ids import MAX_ROW_ID

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class UnstorableInput(BadRequest):
    """A path, query or form value holds a NUL or a lone surrogate; ``field`` names it."""

    def __init__(self, field: str, where: str, what: str) -> None:
        self.field = field
        super().__init__(f"{field}: the {where} holds {what}, which the bridge does not accept")


class RowIdConverter(IntegerConverter):
    """``<int:...>``: every one in this app is a row id, so past INTEGER's 2^31-1 it names no
    row (PostgreSQL would refuse to compare, SQLite to bind a number past 2^63): no match."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,  # noqa: A002
        max: int | None = MAX_ROW_ID,
        signed: bool = False,
    ) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)

    def to_python(self, value: str) -> Any:
        if len(value) > len(str(MAX_ROW_ID)):
            raise ValidationError()  # int() of thousands of digits costs and may refuse
        return super().to_python(value)


def init_app(app: Flask, raw_body_blueprints: Collection[str]) -> None:
    """Bound ``<int:...>`` ids and refuse unstorable text before any view runs.

    Call before any route is added: a rule takes its converter when it is added. The
    blueprints named in ``raw_body_blueprints`` verify their raw bodies (webhook receivers):
    their form bodies are never parsed here.
    """
    app.url_map.converters["int"] = RowIdConverter

    def refuse_unstorable_text() -> None:
        problem = _unstorable_part(check_form=request.blueprint not in raw_body_blueprints)
        if problem is not None:
            raise UnstorableInput(*problem)

    app.before_request(refuse_unstorable_text)


def _unstorable_part(*, check_form: bool) -> tuple[str, str, str] | None:
    """(field, which part, what) for the first value of the request holding unstorable text.

    The field is the route's name for a part of the path (``learner``), the parameter's name
    in the query or form, or ``path`` for an address that matches no route.
    """
    what = unstorable(request.path)
    if what is not None:
        named = [
            name
            for name, value in (request.view_args or {}).items()
            if isinstance(value, str) and unstorable(value)
        ]
        return (named[0] if named else "path"), "path", what
    sources = [("query string", request.args)]
    if check_form and request.method == "POST" and request.mimetype in FORM_TYPES:
        sources.append(("form", request.form))
    for part, values in sources:
        for name, value in values.items(multi=True):
            what = unstorable(name) or unstorable(value)
            if what is not None:
                return (part if unstorable(name) else name[:64]), part, what
    return None
