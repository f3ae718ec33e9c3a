"""Lena, the learner the booking samples are about, with mentor minutes to book."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.support.bookings import LENA, LENA_ID
from tests.support.redemptions import fund


@pytest.fixture
def lena(engine: Engine) -> str:
    """Lena bought a 5-hour pack: 300 mentor minutes, no complimentary call."""
    fund(engine, LENA, customer_id=LENA_ID)
    return LENA
