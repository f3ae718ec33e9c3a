"""A stored row's id and a model's table, as the type checker sees them (issue 27, item 4)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import SQLModel

from bridge.store.bulk import table_of
from bridge.store.db import unit_of_work
from bridge.store.ids import NotStored, id_of
from bridge.store.models import Learner, LedgerEntry


def test_a_stored_row_gives_its_id_as_an_int(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        learner = Learner(email="ada@example.com")
        session.add(learner)
        session.flush()
        assert isinstance(learner.id, int)
        assert id_of(learner) == learner.id


def test_an_unsaved_row_refuses_to_give_an_id_instead_of_passing_none_on(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        learner = Learner(email="ada@example.com")
        session.add(learner)  # pending: no INSERT yet, so no id
        with pytest.raises(NotStored, match="Learner has no id yet"):
            id_of(learner)


def test_a_model_names_the_table_it_is_mapped_to() -> None:
    assert table_of(Learner) is SQLModel.metadata.tables["learner"]
    assert table_of(LedgerEntry).c.source_key.unique
