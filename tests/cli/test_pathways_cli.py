"""Pathways from the command line: `bridge pathways`, `bridge credentials issue-record`, the
pathway lines of `bridge learner`, `bridge report`, `bridge catalog --check` and `export`, and
records issued from a CSV import and revoked with `bridge credentials revoke`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.support.credentials import EXAMPLE_CATALOGUE, PUBLIC_URL, buy, verify_vc_jwt, write_key
from tests.support.paths import ROOT
from tests.support.records import clr_schema_errors

PATHWAY = "data-viz-practitioner"
CSV_BOTH = (
    "kind,learner,sku,occurred_at,key\n"
    "project_accepted,ann@example.com,PROJ-DATAVIZ,2026-11-10,lms-1\n"
    "assessment_passed,ann@example.com,ASSESS-DV,2026-11-30,lms-2\n"
)


@pytest.fixture
def bridge_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """`bridge` runs on the test database, configured to issue credentials."""
    key = write_key(tmp_path / "signing.pem")
    return {
        "DATABASE_URL": database_url,
        "BRIDGE_PUBLIC_URL": PUBLIC_URL,
        "BRIDGE_ISSUER_NAME": "Dana Datawright",
        "BRIDGE_CATALOG_FILE": str(EXAMPLE_CATALOGUE),
        "BRIDGE_CREDENTIAL_KEY_FILE": str(key),
    }


def imported(bridge, tmp_path: Path, text: str) -> None:  # type: ignore[no-untyped-def]
    csv = tmp_path / "events.csv"
    csv.write_text(text, encoding="utf-8")
    result = bridge("events", "import", str(csv))
    assert result.exit_code == 0, result.output


def catalogue_with(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE_CATALOGUE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "catalog.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.both_databases
def test_a_csv_import_completes_the_pathway_and_every_view_shows_it(  # type: ignore[no-untyped-def]
    bridge, engine, tmp_path
):
    """Both steps imported: the record is listed with ann's credentials, and `pathways`,
    `learner` and `report` count her as completed, 20 days after her first step."""
    buy(engine, "PROJ-DATAVIZ", order_id=701)
    buy(engine, "ASSESS-DV", order_id=702)
    imported(bridge, tmp_path, CSV_BOTH)
    listed = json.loads(
        bridge("credentials", "list", "--learner", "ann@example.com", "--json").stdout
    )
    assert [(row["kind"], row["sku"]) for row in listed] == [
        ("achievement", "PROJ-DATAVIZ"),
        ("achievement", "ASSESS-DV"),
        ("record", f"pathway:{PATHWAY}"),
    ]
    shown = json.loads(bridge("credentials", "show", listed[2]["id"], "--json").stdout)
    assert shown["signature"] == "valid" and shown["kind"] == "record"
    assert shown["record"]["partial"] is False and len(shown["record"]["credentials"]) == 2
    assert clr_schema_errors(shown["credential"]) == []
    (overview,) = json.loads(bridge("pathways", "--json").stdout)
    assert overview["started"] == 1 and overview["completed"] == 1
    assert overview["at_step"] == {"PROJ-DATAVIZ": 1, "ASSESS-DV": 1}
    assert overview["median_days_to_complete"] == 20.0
    (one,) = json.loads(bridge("pathways", PATHWAY, "--json").stdout)
    assert [(row["learner"], row["completed"]) for row in one["learners"]] == [
        ("ann@example.com", True)
    ]
    text = bridge("pathways").output
    assert "Data-viz practitioner pathway (data-viz-practitioner): 1 started, 1 completed" in text
    learner = json.loads(bridge("learner", "ann@example.com", "--json").stdout)
    (state,) = learner["pathways"]
    assert state["completed"] and state["completed_at"] == "2026-11-30T00:00:00Z"
    assert "pathways:" in bridge("learner", "ann@example.com").output
    report = json.loads(bridge("report", "--json").stdout)
    assert report["pathways"][0]["completed"] == 1
    table = bridge("report").output
    assert "Pathways (learners by their live credentials, all time)" in table
    csv = bridge("report", "--format", "csv").output
    assert f"pathways,{PATHWAY},completed,1" in csv.splitlines()


@pytest.mark.both_databases
def test_a_partial_record_on_request_and_what_to_buy_next(  # type: ignore[no-untyped-def]
    bridge, engine, tmp_path
):
    """One step done: the record waits for the pathway, --partial issues one now, and the
    learner's progress names the step left and the offer for it (held, so: complete it)."""
    buy(engine, "PROJ-DATAVIZ", order_id=711)
    buy(engine, "ASSESS-DV", order_id=712)
    imported(bridge, tmp_path, CSV_BOTH.rsplit("\n", 2)[0] + "\n")
    refused = bridge("credentials", "issue-record", "ann@example.com", PATHWAY)
    assert refused.exit_code == 1
    assert refused.output.startswith("error: ann@example.com has done 1 of the 2 steps")
    assert "--partial" in refused.output and len(refused.output.splitlines()) == 1
    issued = bridge(
        "credentials", "issue-record", "ann@example.com", PATHWAY, "--partial", "--json"
    )
    assert issued.exit_code == 0, issued.output
    data = json.loads(issued.stdout)
    assert data["partial"] is True and data["issued_now"] is True
    again = bridge("credentials", "issue-record", "ann@example.com", PATHWAY, "--partial")
    assert again.output.startswith("already held: partial record of data-viz-practitioner")
    progress = json.loads(bridge("pathways", "--learner", "ann@example.com", "--json").stdout)
    (state,) = progress["pathways"]
    assert [step["done"] for step in state["steps"]] == [True, False]
    assert state["next"] == [
        {"step": "ASSESS-DV", "sku": "ASSESS-DV", "title": "Data-viz assessment", "held": True}
    ]
    text = bridge("pathways", "--learner", "ann@example.com").output
    assert "next: complete Data-viz assessment (ASSESS-DV)" in text
    unknown = bridge("credentials", "issue-record", "ann@example.com", "data-viz")
    assert unknown.exit_code == 1 and "no pathway 'data-viz'" in unknown.output


@pytest.mark.both_databases
def test_revoke_says_which_records_went_with_the_credential(  # type: ignore[no-untyped-def]
    bridge, engine, tmp_path
):
    """Revoking the project credential revokes the record carrying it; with one step of two
    left the pathway no longer holds, so no record is issued again."""
    buy(engine, "PROJ-DATAVIZ", order_id=721)
    buy(engine, "ASSESS-DV", order_id=722)
    imported(bridge, tmp_path, CSV_BOTH)
    listed = json.loads(bridge("credentials", "list", "--json").stdout)
    project = next(row for row in listed if row["sku"] == "PROJ-DATAVIZ")
    (record,) = [row for row in listed if row["kind"] == "record"]
    done = bridge("credentials", "revoke", project["id"], "--reason", "plagiarism")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        f"revoked {project['id']}; the status list is re-signed",
        f"revoked the learner record {record['id']}, which carried it",
    ]
    statuses = {
        row["id"]: row["status"]
        for row in json.loads(bridge("credentials", "list", "--json").stdout)
    }
    assert statuses[record["id"]] == "revoked" and statuses[project["id"]] == "revoked"
    (state,) = json.loads(bridge("pathways", "--learner", "ann@example.com", "--json").stdout)[
        "pathways"
    ]
    assert state["done"] == 1 and not state["completed"]


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('steps = ["PROJ-DATAVIZ", "ASSESS-DV"]', 'steps = ["PROJ-DATAVIZ", "NOPE"]', "steps[1]"),
        ('steps = ["PROJ-DATAVIZ", "ASSESS-DV"]', 'steps = ["MENTOR-1H"]', "issues no credential"),
        (
            'precedes = [["PROJ-DATAVIZ", "ASSESS-DV"]]',
            'precedes = [["PROJ-DATAVIZ", "X"]]',
            "precedes[0]",
        ),
        ("# required = 2                         #", "required = 3  #", "from 1 to 2"),
    ],
)
def test_catalog_check_names_what_is_wrong_with_a_pathway(  # type: ignore[no-untyped-def]
    bridge, tmp_path, old, new, words
):
    path = catalogue_with(tmp_path, old, new)
    result = bridge("catalog", "--check", BRIDGE_CATALOG_FILE=str(path))
    assert result.exit_code != 0
    assert "pathways.data-viz-practitioner" in result.output and words in result.output


def test_a_competency_can_be_a_step_and_the_export_lists_the_pathway(  # type: ignore[no-untyped-def]
    bridge, tmp_path
):
    """A competency tag is a step (any credential evidencing it counts); the JSON export
    follows its schema and links the pathway's achievement; Markdown names it."""
    path = catalogue_with(
        tmp_path,
        'steps = ["PROJ-DATAVIZ", "ASSESS-DV"]',
        'steps = ["PROJ-DATAVIZ", "data-visualisation"]',
    )
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            'precedes = [["PROJ-DATAVIZ", "ASSESS-DV"]]', "precedes = []"
        ),
        encoding="utf-8",
    )
    checked = bridge("catalog", "--check", BRIDGE_CATALOG_FILE=str(path))
    assert "pathways" not in checked.output  # (no products synced is its only problem)
    manifest = json.loads(
        bridge("catalog", "export", "--json", BRIDGE_CATALOG_FILE=str(path)).stdout
    )
    schema = json.loads((ROOT / "schemas" / "competency-catalogue.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate(manifest)
    (pathway,) = manifest["pathways"]
    assert pathway["achievement"] == f"{PUBLIC_URL}/pathways/{PATHWAY}"
    assert pathway["steps"][1] == {
        "ref": "data-visualisation",
        "kind": "competency",
        "title": "Data visualisation",
        "offers": ["ASSESS-DV", "PROJ-DATAVIZ"],
    }
    markdown = bridge("catalog", "export", BRIDGE_CATALOG_FILE=str(path)).output
    assert "## Pathway: Data-viz practitioner pathway" in markdown


def test_the_record_verifies_from_its_jwt_like_a_badge(  # type: ignore[no-untyped-def]
    bridge, engine, database_url, tmp_path
):
    """The record's VC-JWT verifies with jwcrypto against the published JWKS."""
    from bridge.settings import Settings
    from webhooks import create_app

    buy(engine, "PROJ-DATAVIZ", order_id=731)
    buy(engine, "ASSESS-DV", order_id=732)
    imported(bridge, tmp_path, CSV_BOTH)
    (record,) = [
        row
        for row in json.loads(bridge("credentials", "list", "--json").stdout)
        if row["kind"] == "record"
    ]
    settings = Settings().replace(
        database={"url": database_url},
        web={"public_url": PUBLIC_URL},
        catalogue={"file": EXAMPLE_CATALOGUE},
        credentials={"key_file": tmp_path / "signing.pem"},
    )
    client = create_app(settings, engine, handlers={}, background=False).test_client()
    token = client.get(f"/credentials/{record['id']}.jwt").get_data(as_text=True)
    payload = verify_vc_jwt(token, client.get("/issuer/jwks.json").get_json())
    assert payload["type"] == ["VerifiableCredential", "ClrCredential"]
