"""Competencies aligned to public frameworks (issue 32): an ESCO skill and an O*NET-SOC code in
the catalogue file are checked by `bridge catalog --check`, published by `bridge catalog export`
and carried, with their OB 3.0 targetType, in the signed credential (verified with jwcrypto and
the official OB 3.0 schema, no code of the bridge)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from bridge.cli.main import main
from bridge.services.catalogue import read_catalogue_file
from bridge.services.credentials import import_csv, issuing_factory
from bridge.store.db import unit_of_work
from bridge.store.models import Credential
from tests.support.credentials import buy, credential_settings, schema_errors, verify_vc_jwt
from tests.support.paths import EXAMPLE_CATALOGUE, ROOT
from tests.support.sample_shop import BINDINGS
from webhooks import create_app

SCHEMA = ROOT / "schemas" / "competency-catalogue.schema.json"
ESCO = "http://data.europa.eu/esco/skill/1605025e-a179-421f-8f35-5b07d182a6b2"
ALIGNED = f"""alignments = [
  {{ framework = "esco", url = "{ESCO}", name = "present data visually" }},
  {{ framework = "onet", code = "15-2051.00" }},
]
"""
ANCHOR = 'description = "Turning data into charts and dashboards that people read correctly."\n'


@pytest.fixture
def workdir(workdir: Path, database_url: str) -> Path:
    text = EXAMPLE_CATALOGUE.read_text(encoding="utf-8")
    assert ANCHOR in text
    (workdir / "catalog.toml").write_text(text.replace(ANCHOR, ANCHOR + ALIGNED))
    (workdir / "test.env").write_text(
        f"DATABASE_URL={database_url}\nBRIDGE_CATALOG_FILE=catalog.toml\n"
    )
    return workdir


def bridge(*args: str) -> Result:
    return CliRunner().invoke(main, ["--env-file", "test.env", *args], terminal_width=100)


def test_check_refuses_a_bad_alignment_and_the_export_publishes_good_ones(workdir: Path) -> None:
    path = workdir / "catalog.toml"
    good = path.read_text()
    path.write_text(good.replace('code = "15-2051.00"', 'code = "data scientists"'))
    checked = bridge("catalog", "--check")
    assert checked.exit_code == 1
    assert checked.output.strip().splitlines() == [
        "error: catalog.toml: competencies.data-visualisation.alignments[1].code: an O*NET-SOC "
        "code such as 15-2051.00"
    ]
    path.write_text(good)
    result = bridge("catalog", "export", "--format", "json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    jsonschema.Draft202012Validator(
        json.loads(SCHEMA.read_text()),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    ).validate(manifest)
    (competency,) = manifest["competencies"]
    assert competency["alignments"] == [
        {
            "framework": "ESCO",
            "type": "ext:ESCOSkill",
            "name": "present data visually",
            "url": ESCO,
            "code": "1605025e-a179-421f-8f35-5b07d182a6b2",
        },
        {
            "framework": "O*NET-SOC",
            "type": "ext:ONetSOCOccupation",
            "name": "O*NET-SOC 15-2051.00",
            "url": "https://www.onetonline.org/link/summary/15-2051.00",
            "code": "15-2051.00",
        },
    ]


@pytest.mark.both_databases
def test_the_signed_credential_carries_the_esco_alignment(
    workdir: Path, engine, database_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    catalogue = dataclasses.replace(
        read_catalogue_file(workdir / "catalog.toml"), bindings=BINDINGS
    )
    settings = credential_settings(database_url, tmp_path)
    buy(engine, "ASSESS-DV", order_id=901)
    result = import_csv(
        engine,
        "kind,learner,sku,occurred_at\nassessment_passed,ann@example.com,ASSESS-DV,2026-11-30\n",
        "UTC",
        issuing=issuing_factory(settings, lambda: catalogue),
    )
    assert result.committed, result
    with unit_of_work(engine) as session:
        (token,) = session.exec(
            Credential.__table__.select().with_only_columns(Credential.__table__.c.jwt)  # type: ignore[attr-defined]
        ).all()
    web = create_app(settings, engine, handlers={}, background=False).test_client()
    payload = verify_vc_jwt(token[0], web.get("/issuer/jwks.json").get_json())
    assert schema_errors(payload) == []
    alignment = payload["credentialSubject"]["achievement"]["alignment"]
    esco = [entry for entry in alignment if entry.get("targetFramework") == "ESCO"]
    assert esco == [
        {
            "type": ["Alignment"],
            "targetName": "present data visually",
            "targetUrl": ESCO,
            "targetFramework": "ESCO",
            "targetCode": "1605025e-a179-421f-8f35-5b07d182a6b2",
            "targetType": "ext:ESCOSkill",
        }
    ]
    assert any(entry.get("targetType") == "ext:ONetSOCOccupation" for entry in alignment)
