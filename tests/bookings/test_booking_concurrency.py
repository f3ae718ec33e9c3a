"""Twenty bookings of one learner at once: each sees the balance the one before left."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from bridge.services.bookings import BookingPolicy, process_booking_delivery
from bridge.store.db import make_engine
from tests.support.bookings import (
    LENA,
    bookings_by_key,
    calcom_variant,
    calendly_variant,
    invitee_uri,
    link_token,
)
from tests.support.redemptions import balance_of, fund


def test_twenty_concurrent_bookings_give_an_exact_balance(engine, database_url):
    """300 minutes, twenty 20-minute bookings through her link at once: fifteen debited, five
    unfunded, 0 left."""
    fund(engine, LENA, customer_id=3187)
    token = link_token(engine, LENA)
    deliveries = []
    for number in range(20):
        if number % 2:
            body = calendly_variant(
                "calendly_invitee_created", invitee=invitee_uri(number), minutes=20, token=token
            )
            deliveries.append(("calendly", json.loads(body)))
        else:
            body = calcom_variant(
                "calcom_booking_created", uid=f"concurrent-{number}", length=20, token=token
            )
            deliveries.append(("calcom", json.loads(body)))
    engines = [make_engine(database_url) for _ in range(4)]

    def deliver(index: int) -> str:
        source, envelope = deliveries[index]
        return process_booking_delivery(
            engines[index % 4], source, envelope, lambda: BookingPolicy()
        )

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(deliver, range(20)))
    finally:
        for each in engines:
            each.dispose()
    assert len(results) == 20
    statuses = sorted(b.status for b in bookings_by_key(engine).values())
    assert statuses == ["debited"] * 15 + ["unfunded"] * 5
    assert balance_of(engine, LENA) == 0
