"""Framework alignments of competencies (bridge.rules.catalogue.alignments): ESCO skills, O*NET-SOC
occupations, CASE and Credential Engine items and frameworks by URL, each with the OB 3.0
targetType; every bad shape named by its key. And the OB API's paging rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.rules.catalogue.alignments import AlignmentError, read_alignments
from bridge.rules.wallets import Page, PagingError, link_header, parse_paging

ESCO = "http://data.europa.eu/esco/skill/1605025e-a179-421f-8f35-5b07d182a6b2"


def test_each_framework_gets_its_target_type_name_and_url() -> None:
    esco, onet, case, own = read_alignments(
        [
            {"framework": "esco", "url": ESCO, "name": "present data visually"},
            {"framework": "onet", "code": "15-2051.00"},
            {"framework": "case", "url": "https://case.example.org/uri/abc", "name": "Charts"},
            {"framework": "https://fw.example.org/skills", "code": "DV-1", "type": "CTDL"},
        ],
        "competencies.dv.alignments",
    )
    assert (esco.framework, esco.target_type, esco.code) == (
        "ESCO",
        "ext:ESCOSkill",
        "1605025e-a179-421f-8f35-5b07d182a6b2",
    )
    assert onet.as_dict() == {
        "framework": "O*NET-SOC",
        "type": "ext:ONetSOCOccupation",
        "name": "O*NET-SOC 15-2051.00",
        "url": "https://www.onetonline.org/link/summary/15-2051.00",
        "code": "15-2051.00",
    }
    assert case.target_type == "CFItem"
    assert (own.url, own.name, own.target_type) == (
        "https://fw.example.org/skills#DV-1",
        "DV-1",
        "CTDL",
    )


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"framework": "esco", "url": "https://esco.example/skill/1", "name": "x"}, "[0].url"),
        ({"framework": "esco", "url": ESCO}, "[0].name"),
        ({"framework": "onet", "code": "152051"}, "[0].code"),
        ({"framework": "onet", "code": "15-2051.00", "type": "Competency"}, "[0].type"),
        ({"framework": "wikipedia", "code": "x"}, "[0].framework"),
        ({"framework": "https://fw.example.org"}, "[0]"),
        ({"framework": "onet", "code": "15-2051.00", "level": 3}, "[0].level"),
        ("esco", "[0]"),
    ],
)
def test_a_bad_alignment_is_named_by_its_key(entry: object, field: str) -> None:
    with pytest.raises(AlignmentError) as caught:
        read_alignments([entry], "competencies.dv.alignments")
    assert caught.value.field == "competencies.dv.alignments" + field


def test_paging_links_first_last_next_prev() -> None:
    url = "https://bridge.example.com/ims/ob/v3p0/credentials"
    first = parse_paging({"limit": "1"})
    assert link_header(url, first, 2) == (
        f'<{url}?limit=1&offset=1>; rel="next", <{url}?limit=1&offset=1>; rel="last", '
        f'<{url}?limit=1&offset=0>; rel="first"'
    )
    last = Page(limit=2, offset=4, since=datetime(2026, 1, 1, tzinfo=UTC))
    assert link_header(url, last, 5) == (
        f'<{url}?limit=2&offset=4&since=2026-01-01T00:00:00Z>; rel="last", '
        f'<{url}?limit=2&offset=0&since=2026-01-01T00:00:00Z>; rel="first", '
        f'<{url}?limit=2&offset=2&since=2026-01-01T00:00:00Z>; rel="prev"'
    )
    assert parse_paging({"limit": "1000"}).limit == 100
    for bad in ({"limit": "0"}, {"offset": "-1"}, {"limit": "x"}, {"since": "yesterday"}):
        with pytest.raises(PagingError):
            parse_paging(bad)
