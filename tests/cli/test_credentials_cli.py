"""`bridge credentials` and the credential paths of `bridge events import`, `bridge init` and
`bridge catalog export`: one `error:` line on failures, JSON on request."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli.main import main
from tests.support.credentials import (
    EXAMPLE_CATALOGUE,
    PUBLIC_URL,
    buy,
    is_recipient,
    revoked_in,
    verify_vc_jwt,
    write_key,
)
from tests.support.redemptions import sqlite_only
from webhooks import create_app


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


def web(engine, database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    from bridge.settings import Settings

    settings = Settings().replace(
        database={"url": database_url},
        web={"public_url": PUBLIC_URL},
        catalogue={"file": EXAMPLE_CATALOGUE},
        credentials={"key_file": tmp_path / "signing.pem"},
    )
    return create_app(settings, engine, handlers={}, background=False).test_client()


@pytest.mark.both_databases
def test_issue_by_hand_then_list_and_revoke(bridge, engine, database_url, tmp_path):
    """`issue` with evidence, `list --json`, `revoke --reason`: the status list follows."""
    buy(engine, "ASSESS-DV", order_id=801)
    issued = bridge(
        "credentials",
        "issue",
        "ann@example.com",
        "ASSESS-DV",
        "--evidence",
        "https://github.com/ann/dataviz",
        "--json",
    )
    assert issued.exit_code == 0, issued.output
    data = json.loads(issued.stdout)
    assert data["issued_now"] is True and data["sku"] == "ASSESS-DV"
    again = bridge("credentials", "issue", "ann@example.com", "ASSESS-DV")
    assert again.exit_code == 0 and again.output.startswith("already held:")
    listed = json.loads(bridge("credentials", "list", "--json").stdout)
    assert [
        (row["id"], row["learner"], row["sku"], row["status"], row["url"]) for row in listed
    ] == [(data["id"], "ann@example.com", "ASSESS-DV", "active", data["url"])]
    assert listed[0]["order_id"] == 801
    client = web(engine, database_url, tmp_path)
    jwks = client.get("/issuer/jwks.json").get_json()
    payload = verify_vc_jwt(
        client.get(f"/credentials/{data['id']}.jwt").get_data(as_text=True), jwks
    )
    assert is_recipient(payload, "ann@example.com")
    assert payload["evidence"][0]["id"] == "https://github.com/ann/dataviz"
    revoked = bridge("credentials", "revoke", data["url"], "--reason", "issued by mistake")
    assert revoked.exit_code == 0, revoked.output
    assert "re-signed" in revoked.output
    status = client.get("/credentials/status/1").get_data(as_text=True)
    assert revoked_in(status, jwks, payload)
    table = bridge("credentials", "list").output.splitlines()
    assert table[0].split() == ["id", "learner", "sku", "issued", "status"]
    assert table[1].split() == [
        data["id"],
        "ann@example.com",
        "ASSESS-DV",
        data["issued_at"][:10],
        "revoked",
    ]
    assert table[2] == f"{data['id']} revoked: issued by mistake"
    twice = bridge("credentials", "revoke", data["id"], "--reason", "again")
    assert twice.exit_code == 0 and "already revoked" in twice.output
    reissued = json.loads(
        bridge("credentials", "issue", "ann@example.com", "ASSESS-DV", "--json").stdout
    )
    assert reissued["issued_now"] is True and reissued["id"] != data["id"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ("credentials", "issue", "nobody@example.com", "ASSESS-DV"),
            "no learner 'nobody@example.com' (by e-mail or customer id)",
        ),
        (
            ("credentials", "issue", "ann@example.com", "ASSES-DV"),
            "no micro-SKU 'ASSES-DV' is in the catalogue; did you mean ASSESS-DV?",
        ),
        (("credentials", "issue", "ann@example.com", "PROJ-DATAVIZ"), "holds no access"),
        (("credentials", "issue", "ann@example.com", "MENTOR-1H"), "credentials are for"),
        (
            ("credentials", "issue", "ann@example.com", "ASSESS-DV", "--evidence", "javascript:x"),
            "not an http(s) URL",
        ),
        (("credentials", "revoke", "not-an-id", "--reason", "x"), "no credential 'not-an-id'"),
        (("credentials", "show", "9f8ae0ad-3a62-51ac-9580-a1d535d86453"), "no credential"),
        (("credentials", "revoke", "x", "--reason", "  "), "a revocation needs a reason"),
    ],
)
@sqlite_only
def test_failures_are_one_error_line(bridge, engine, args, words):
    """Unknown learner or id, no access, a SKU that certifies nothing, a bad URL."""
    buy(engine, "ASSESS-DV")
    result = bridge(*args)
    assert result.exit_code == 1
    assert result.output.count("error:") == 1 and words in result.output, result.output
    assert "Traceback" not in result.output


@sqlite_only
def test_without_a_public_url_the_commands_say_which_setting(bridge, engine):
    """Issuing names BRIDGE_PUBLIC_URL instead of failing somewhere deeper."""
    buy(engine, "ASSESS-DV")
    result = bridge("credentials", "issue", "ann@example.com", "ASSESS-DV", BRIDGE_PUBLIC_URL="")
    assert result.exit_code == 1 and "error: BRIDGE_PUBLIC_URL is not set" in result.output


@pytest.mark.both_databases
def test_an_imported_assessment_passed_line_issues_the_credential(bridge, engine, tmp_path):
    """The CSV path issues like the API; importing the file again issues nothing more."""
    buy(engine, "ASSESS-DV")
    csv = tmp_path / "events.csv"
    csv.write_text(
        "kind,learner,sku,occurred_at,key,evidence\n"
        "assessment_passed,ann@example.com,ASSESS-DV,2026-11-30,lms-7,"
        "https://github.com/ann/dataviz\n",
        encoding="utf-8",
    )
    first = bridge("events", "import", str(csv))
    assert first.exit_code == 0, first.output
    again = bridge("events", "import", str(csv))
    assert "0 events; 1 already recorded" in again.output
    listed = json.loads(bridge("credentials", "list", "--json").stdout)
    assert len(listed) == 1 and listed[0]["event_key"] == "lms-7"
    # The import says which credential it issued; the second, having issued none, says nothing.
    assert first.stdout.splitlines() == [
        "recorded 1 event; 0 already recorded",
        "issued 1 credential:",
        f"  line 2: ann@example.com ASSESS-DV {listed[0]['url']}",
    ]
    assert "issued" not in again.stdout
    shown = json.loads(bridge("credentials", "show", listed[0]["id"], "--json").stdout)
    assert shown["signature"] == "valid"
    assert shown["credential"]["evidence"][0]["id"] == "https://github.com/ann/dataviz"


@sqlite_only
def test_an_import_line_that_cannot_issue_is_named_and_nothing_is_written(bridge, engine, tmp_path):
    """A learner without access is a bad line like any other: all lines or none."""
    buy(engine, "ASSESS-DV")
    csv = tmp_path / "events.csv"
    csv.write_text(
        "kind,learner,sku,occurred_at\n"
        "assessment_passed,ann@example.com,ASSESS-DV,2026-11-30\n"
        "project_accepted,ann@example.com,PROJ-DATAVIZ,2026-11-30\n",
        encoding="utf-8",
    )
    result = bridge("events", "import", str(csv))
    assert result.exit_code == 1
    assert "line 3: learner: ann@example.com holds no access to PROJ-DATAVIZ" in result.output
    assert json.loads(bridge("credentials", "list", "--json").stdout) == []


def test_init_generates_the_signing_key_once_readable_by_its_owner_only(workdir):
    """`bridge init` writes the key with mode 0600 and keeps it on a second run."""
    env = {"DATABASE_URL": f"sqlite:///{workdir / 'bridge.db'}"}
    first = CliRunner().invoke(main, ["init"], env=env)
    assert first.exit_code == 0, first.output
    key = workdir / "credential-signing-key.pem"
    assert "credential signing key generated" in first.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pem = key.read_bytes()
    second = CliRunner().invoke(main, ["init"], env=env)
    assert "credential signing key kept" in second.output and key.read_bytes() == pem
    key.chmod(0o644)
    listed = CliRunner().invoke(
        main, ["credentials", "rotate-key"], env={**env, "BRIDGE_PUBLIC_URL": PUBLIC_URL}
    )
    assert listed.exit_code == 1 and "chmod 600" in listed.output


@sqlite_only
def test_rotating_a_key_from_the_setting_is_refused_with_what_to_do(bridge):
    """A key given in BRIDGE_CREDENTIAL_SIGNING_KEY is rotated by changing the setting."""
    pem = (Path("signing.pem").read_text()).replace("\n", "\\n")
    result = bridge("credentials", "rotate-key", BRIDGE_CREDENTIAL_SIGNING_KEY=pem)
    assert result.exit_code == 1
    assert "put a new key there" in result.output
    assert "PRIVATE KEY" not in result.output


@sqlite_only
def test_the_competency_catalogue_links_each_competency_to_its_achievements(bridge, tmp_path):
    """`catalog export` lists the achievements of data-visualisation: the assessment and the
    project, at their published URLs."""
    result = bridge("catalog", "export", "--format", "json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    competency = manifest["competencies"][0]
    assert competency["achievements"] == [
        {
            "sku": "PROJ-DATAVIZ",
            "title": "Data-viz portfolio project",
            "url": f"{PUBLIC_URL}/achievements/PROJ-DATAVIZ",
        },
        {
            "sku": "ASSESS-DV",
            "title": "Data-viz practitioner",
            "url": f"{PUBLIC_URL}/achievements/ASSESS-DV",
        },
    ]
    markdown = bridge("catalog", "export", "--format", "md").output
    assert f"[Data-viz practitioner]({PUBLIC_URL}/achievements/ASSESS-DV)" in markdown


@sqlite_only
def test_doctor_checks_the_public_url_and_the_signing_key(bridge, engine, tmp_path):
    """Doctor passes a private key, fails one others can read, and fails when credentials
    cannot be issued for want of BRIDGE_PUBLIC_URL."""
    rows = {row["check"]: row for row in json.loads(bridge("doctor", "--json").stdout)}
    assert rows["credentials"]["ok"] is True
    assert "PROJ-DATAVIZ, ASSESS-DV" in rows["credentials"]["detail"] or (
        "ASSESS-DV, PROJ-DATAVIZ" in rows["credentials"]["detail"]
    )
    off = {
        row["check"]: row
        for row in json.loads(bridge("doctor", "--json", BRIDGE_PUBLIC_URL="").stdout)
    }
    assert off["credentials"]["ok"] is False
    assert "BRIDGE_PUBLIC_URL" in off["credentials"]["detail"] + off["credentials"]["fix"]
    (tmp_path / "signing.pem").chmod(0o640)
    bad = {row["check"]: row for row in json.loads(bridge("doctor", "--json").stdout)}
    assert bad["credentials"]["ok"] is False
    assert "chmod 600" in bad["credentials"]["detail"]
