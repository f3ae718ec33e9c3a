"""Pathway rules (pure): which steps a learner's credentials fulfil, when the pathway completes,
what to buy next, the figures per pathway, and the catalogue checks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from bridge.rules.catalogue.catalog import CatalogueError
from bridge.rules.catalogue.catalog_file import parse_catalogue
from bridge.rules.catalogue.pathways import Earned, pathway_stats, progress
from tests.support.credentials import EXAMPLE_CATALOGUE

DAY = datetime(2026, 11, 1, tzinfo=UTC)
CODE = "data-viz-practitioner"


def catalogue(old: str = "", new: str = ""):  # type: ignore[no-untyped-def]
    text = EXAMPLE_CATALOGUE.read_text(encoding="utf-8")
    if old:
        assert old in text
        text = text.replace(old, new)
    return parse_catalogue(text)


def earned(sku: str, day: int, name: str | None = None) -> Earned:
    return Earned(sku, name or f"cred-{sku}-{day}", DAY + timedelta(days=day))


def test_all_steps_complete_the_pathway_at_the_last_award() -> None:
    cat = catalogue()
    state = progress(cat.pathways[CODE], cat, [earned("ASSESS-DV", 9), earned("PROJ-DATAVIZ", 2)])
    assert state.completed and state.started_at == DAY + timedelta(days=2)
    assert state.completed_at == DAY + timedelta(days=9)
    assert state.credentials() == ("cred-PROJ-DATAVIZ-2", "cred-ASSESS-DV-9")
    assert state.next == ()


def test_one_credential_fulfils_one_step_even_when_two_steps_could_take_it() -> None:
    """Steps PROJ-DATAVIZ and the competency data-visualisation: the project credential goes to
    its own step first, so the competency step waits for another credential."""
    cat = catalogue()
    step = dataclasses.replace(
        cat.pathways[CODE].steps[1], ref="data-visualisation", kind="competency"
    )
    pathway = dataclasses.replace(
        cat.pathways[CODE], steps=(cat.pathways[CODE].steps[0], step), precedes=()
    )
    alone = progress(pathway, cat, [earned("PROJ-DATAVIZ", 1)])
    assert [step.done for step in alone.steps] == [True, False] and not alone.completed
    both = progress(pathway, cat, [earned("PROJ-DATAVIZ", 1), earned("ASSESS-DV", 3)])
    assert both.completed and both.steps[1].sku == "ASSESS-DV"


def test_n_of_m_completes_at_the_nth_award() -> None:
    cat = catalogue("# required = 2                         #", "required = 1  #")
    state = progress(cat.pathways[CODE], cat, [earned("ASSESS-DV", 4)])
    assert state.completed and state.completed_at == DAY + timedelta(days=4)


def test_what_to_buy_next_follows_the_order_and_says_what_is_held() -> None:
    cat = catalogue()
    nothing = progress(cat.pathways[CODE], cat, [], held={"ASSESS-DV"})
    assert [(s.sku, s.held) for s in nothing.next] == [
        ("PROJ-DATAVIZ", False),  # it precedes the assessment, so it comes first
        ("ASSESS-DV", True),
    ]


def test_the_figures_count_started_each_step_completed_and_the_median() -> None:
    cat = catalogue()
    pathway = cat.pathways[CODE]
    learners = [
        [earned("PROJ-DATAVIZ", 0), earned("ASSESS-DV", 10)],
        [earned("PROJ-DATAVIZ", 0), earned("ASSESS-DV", 20)],
        [earned("PROJ-DATAVIZ", 5)],
        [],
    ]
    stats = pathway_stats(pathway, [progress(pathway, cat, e) for e in learners])
    assert stats["started"] == 3 and stats["completed"] == 2
    assert stats["at_step"] == {"PROJ-DATAVIZ": 3, "ASSESS-DV": 2}
    assert stats["median_days_to_complete"] == 15.0


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('steps = ["PROJ-DATAVIZ", "ASSESS-DV"]', "steps = []", "steps"),
        (
            'steps = ["PROJ-DATAVIZ", "ASSESS-DV"]',
            'steps = ["PROJ-DATAVIZ", "PROJ-DATAVIZ"]',
            "steps[1]",
        ),
        (
            'precedes = [["PROJ-DATAVIZ", "ASSESS-DV"]]',
            'precedes = [["PROJ-DATAVIZ", "ASSESS-DV"], ["ASSESS-DV", "PROJ-DATAVIZ"]]',
            "precedes",
        ),
        (
            'competencies = ["data-visualisation"]\n# required',
            'competencies = ["nope"]\n# required',
            "competencies[0]",
        ),
        ('title = "Data-viz practitioner pathway"', 'colour = "blue"', "colour"),
    ],
)
def test_the_catalogue_names_the_bad_key_of_a_pathway(old: str, new: str, key: str) -> None:
    with pytest.raises(CatalogueError) as raised:
        catalogue(old, new)
    assert raised.value.key == f"pathways.{CODE}.{key}"
