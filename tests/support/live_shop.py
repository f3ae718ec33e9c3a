"""A shop with history, faked at the HTTP level: orders to sync, and the notes and coupons sent.

It keeps every note posted to an order and every coupon created, answers GET of an order's
notes and GET coupons?code= with them, and refuses a second coupon with a code it has (inside
the batch answer, as WooCommerce 11 does: woocommerce_rest_coupon_code_already_exists), so a
test can count what customers would have been e-mailed and what a rebuild added.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses
from sqlalchemy import Engine
from sqlmodel import col, select

from bridge.services.ledger import balances
from bridge.store.db import unit_of_work
from bridge.store.models import Learner, Seat
from tests.support.paths import load_json
from tests.support.sync import API, HttpShop

COHORT = "COHORT-DV-2027-01"
LEARNERS = ("ana", "ben", "cleo", "dev", "eli", "fay")


class LiveShop(HttpShop):
    """HttpShop's orders, plus the notes and coupons a real shop would keep."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.coupons: dict[str, dict[str, Any]] = {}
        self.posted_notes = 0  # POST orders/<id>/notes answered 201
        self.created_coupons = 0
        self.next_id = 900
        rsps.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(API)}/orders/(\d+)/notes"),
            callback=self._list_notes,
        )
        rsps.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(API)}/coupons(\?.*)?$"),
            callback=self._find_coupon,
        )
        super().__init__(rsps)

    def customer_notes(self) -> list[str]:
        return [n["note"] for notes in self.notes.values() for n in notes if n["customer_note"]]

    def all_notes(self) -> list[str]:
        return [n["note"] for notes in self.notes.values() for n in notes]

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _list_notes(self, request: Any) -> tuple[int, dict[str, str], str]:
        order_id = int(re.search(r"/orders/(\d+)/notes", request.url).group(1))  # type: ignore[union-attr]
        return self._answer(200, list(reversed(self.notes.get(order_id, []))))

    def _find_coupon(self, request: Any) -> tuple[int, dict[str, str], str]:
        code = parse_qs(urlsplit(request.url).query).get("code", [""])[-1].lower()
        found = [c for c in self.coupons.values() if c["code"] == code]
        return self._answer(200, found)

    def _write(self, request: Any) -> tuple[int, dict[str, str], str]:
        path = urlsplit(request.url).path.removeprefix(urlsplit(API).path + "/")
        body = json.loads(request.body) if request.body else {}
        match = re.fullmatch(r"orders/(\d+)/notes", path)
        if request.method == "POST" and match:
            self.writes.append((request.method, path))
            note: dict[str, Any] = load_json("woocommerce/order_note_create_response_v3.json")  # type: ignore[assignment]
            note.update(
                id=self._new_id(), note=body["note"], customer_note=bool(body.get("customer_note"))
            )
            self.notes.setdefault(int(match.group(1)), []).append(note)
            self.posted_notes += 1
            return self._answer(201, note)
        if request.method == "POST" and path.endswith("/batch"):
            self.writes.append((request.method, path))
            answer: dict[str, list[Any]] = {}
            for item in body.get("update", []):
                answer.setdefault("update", []).append(item)
            for item in body.get("create", []):
                answer.setdefault("create", []).append(self._create(path, item))
            return self._answer(200, answer)
        return super()._write(request)

    def _create(self, path: str, item: dict[str, Any]) -> dict[str, Any]:
        code = str(item.get("code") or "").lower()
        if path == "coupons/batch" and code in self.coupons:
            return {
                "id": 0,
                "error": {
                    "code": "woocommerce_rest_coupon_code_already_exists",
                    "message": "The coupon code already exists",
                    "data": {"status": 400},
                },
            }
        created = {**item, "id": self._new_id(), "code": code}
        if path == "coupons/batch":
            self.coupons[code] = created
            self.created_coupons += 1
        return created


def history(shop: HttpShop, start: datetime, *, cohort_buyers: int = 5) -> None:
    """A year-old shop: cohort seats bought by more learners than it has, packs, a project.

    Orders one hour apart from ``start``; the cohort has 3 seats, so the later buyers queue.
    """
    moment = start
    order_id = 500
    for index in range(cohort_buyers):
        name = LEARNERS[index % len(LEARNERS)]
        shop.place(
            order_id, [(COHORT, 1)], moment, email=f"{name}@example.com", customer_id=7000 + index
        )
        order_id += 1
        moment += timedelta(hours=1)
    for index, lines in enumerate(
        ([("PROJ-DATAVIZ", 1)], [("MENTOR-PACK-3H", 2)], [("ASSESS-DV", 1), ("MENTOR-1H", 1)])
    ):
        name = LEARNERS[index]
        shop.place(order_id, lines, moment, email=f"{name}@example.com", customer_id=7000 + index)
        order_id += 1
        moment += timedelta(hours=1)
    # A guest's order: known by e-mail alone.
    shop.place(order_id, [("MENTOR-1H", 1)], moment, email="guest@example.com", customer_id=0)


def holdings(engine: Engine) -> dict[str, Any]:
    """What every learner holds, by e-mail (not local ids): balances and seats in cohort order."""
    with unit_of_work(engine) as session:
        learners = session.exec(select(Learner).order_by(col(Learner.email))).all()
        held = {learner.email: balances(session, learner.id) for learner in learners}  # type: ignore[arg-type]
        seats = session.exec(select(Seat).order_by(col(Seat.id))).all()
        by_id = {learner.id: learner.email for learner in learners}
        seat_rows = [(by_id[s.learner_id], s.order_id, s.status) for s in seats]
    return {"balances": held, "seats": seat_rows}
