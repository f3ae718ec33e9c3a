"""`bridge credentials`: issue, list, show and revoke Open Badges 3.0 credentials and CLR 2.0
records; rotate the key. `bridge pathways`: progress on the catalogue's pathways.

Registered on the ``bridge`` group by bridge.cli.main; shared helpers come from bridge.cli.context.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option
from bridge.cli.output import table, wrap
from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.credentials import CredentialStatus
from bridge.services.audit import Via, operator_of, record_action
from bridge.services.credentials import (
    EVIDENCE,
    CredentialNotFound,
    CredentialRefused,
    complete_pathways,
    credential_summary,
    find_credential,
    issue_credential,
    issue_record,
    issuing_factory,
    learner_progress,
    list_credentials,
    manual_source_key,
    pathway_overview,
    record_view,
    require_public_url,
    revoke_with_records,
    rotate_key,
    verify_token,
)
from bridge.services.learners import require_learner
from bridge.store.db import unit_of_work
from bridge.store.models import utcnow


class CredentialCommandError(PermanentError):
    """A credential command was given something it cannot use."""


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj


def catalogue_loader(app: AppContext) -> Callable[[], Catalogue]:
    """The current catalogue (as applied, merged with synced products), read when first needed."""
    from bridge.cli.catalog import file_catalogue
    from bridge.services.catalogue import load_catalogue

    return lambda: load_catalogue(app.engine, file_catalogue(app.settings, app.engine)[0])


@click.group("credentials", invoke_without_command=True)
@json_option
@click.pass_context
def credentials(ctx: click.Context, as_json: bool) -> None:
    """Open Badges 3.0 credentials (verifiable badges).

    For passed assessments and accepted projects: an assessment_passed or project_accepted
    event (POST /api/v1/events, `bridge events import`) issues one; so does `bridge
    credentials issue`. Each is a VC-JWT signed with the
    key in BRIDGE_CREDENTIAL_KEY_FILE, published at BRIDGE_PUBLIC_URL/credentials/<id>.
    Without a command: the list (`bridge credentials list`).
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_command, sku=None, learner_ref=None, as_json=as_json)


@credentials.command("issue")
@click.argument("email", metavar="LEARNER")
@click.argument("sku")
@click.option(
    "--evidence", metavar="URL", multiple=True, help="A URL showing the work (repeat for several)."
)
@json_option
@click.pass_context
def issue_command(
    ctx: click.Context, email: str, sku: str, evidence: tuple[str, ...], as_json: bool
) -> None:
    """Issue a credential by hand.

    Issues LEARNER's (an e-mail, current or former, or a customer id) credential for the
    assessment or project SKU. The learner must hold access to SKU (they bought it) and its
    catalogue entry must name a competency. If they already hold a live credential for SKU,
    that one is shown instead. The learner gets a customer note with the link on the order
    that sold the SKU.
    """
    for url in evidence:
        if not EVIDENCE.fullmatch(url):
            raise CredentialCommandError(f"--evidence {url[:60]!r} is not an http(s) URL")
    app = _app(ctx)
    engine = app.ready_engine()
    setup = issuing_factory(app.settings, catalogue_loader(app))()
    with unit_of_work(engine) as session:
        learner = require_learner(session, email)
        try:
            result = issue_credential(
                session,
                setup,
                learner,
                sku,
                evidence=evidence,
                now=utcnow(),
                source_key=manual_source_key(session, learner, sku),
            )
            records = complete_pathways(session, setup, learner) if result.created else []
        except CredentialRefused as exc:
            raise CredentialCommandError(str(exc)) from None
        session.commit()
    data = {
        **credential_summary(result.credential, setup.public_url),
        "learner": learner.email,
        "sku": sku,
        "issued_now": result.created,
        "records": [credential_summary(r.credential, setup.public_url) for r in records],
    }

    def render(data: dict[str, Any]) -> None:
        verb = "issued" if data["issued_now"] else "already held"
        click.echo(f"{verb}: {data['learner']} {data['sku']} {data['url']}")
        for record in data["records"]:
            click.echo(f"pathway completed: learner record {record['url']}")

    emit(data, as_json, render)


@credentials.command("list")
@click.option("--sku", help="Only this micro-SKU's credentials.")
@click.option(
    "--learner",
    "learner_ref",
    metavar="LEARNER",
    help="Only this learner's (an e-mail or customer id).",
)
@json_option
@click.pass_context
def list_command(
    ctx: click.Context, sku: str | None, learner_ref: str | None, as_json: bool
) -> None:
    """Issued credentials and their status.

    Each with its id, learner, SKU, issue date, status (and revocation reason) and URL.
    """
    app = _app(ctx)
    public_url = require_public_url(app.settings)
    with unit_of_work(app.ready_engine()) as session:
        learner_id = None
        if learner_ref:
            learner_id = require_learner(session, learner_ref).id
        rows = list_credentials(session, public_url, sku=sku, learner_id=learner_id)

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("no credentials issued yet")
            return
        cells = [
            [row["id"], row["learner"], row["sku"], row["issued_at"][:10], row["status"]]
            for row in rows
        ]
        for line in table(["id", "learner", "sku", "issued", "status"], cells, shrink=[1]):
            click.echo(line)
        for row in rows:
            if row["reason"]:
                click.echo(f"{row['id']} revoked: {row['reason']}")
        click.echo(
            f"each at {rows[0]['url'].rsplit('/', 1)[0]}/ID; `bridge credentials show "
            "ID` decodes one"
        )

    emit(rows, as_json, render)


@credentials.command("show")
@click.argument("credential_id", metavar="ID")
@json_option
@click.pass_context
def show_command(ctx: click.Context, credential_id: str, as_json: bool) -> None:
    """One credential, decoded.

    The credential ID (its UUID or URL) as signed, its status and whether its signature holds.
    """
    app = _app(ctx)
    public_url = require_public_url(app.settings)
    with unit_of_work(app.ready_engine()) as session:
        row = find_credential(session, credential_id)
        if row is None:
            raise CredentialNotFound(
                f"no credential {credential_id!r}; `bridge credentials list` shows them"
            )
        verified = verify_token(session, row.jwt, public_url) is not None
    data = {
        "id": row.uuid,
        "status": CredentialStatus.REVOKED if row.revoked_at else CredentialStatus.ACTIVE,
        "signature": "valid" if verified else "invalid",
        "kind": row.kind,
        "credential": row.document,
        "jwt": row.jwt,
    }
    if row.kind == "record":
        data["record"] = record_view(row)
    emit(data, as_json, lambda data: click.echo(json.dumps(data, indent=2)))


@credentials.command("revoke")
@click.argument("credential_id", metavar="ID")
@click.option("--reason", required=True, help="Why (kept in the bridge; not published).")
@json_option
@click.pass_context
def revoke_command(ctx: click.Context, credential_id: str, reason: str, as_json: bool) -> None:
    """Revoke a credential.

    Sets the bit of credential ID (its UUID or URL) in the status list and re-signs the list.
    The reason stays in the bridge. The learner records (CLR) carrying the credential are
    revoked with it, and each pathway that still holds without it gets a new record.
    """
    app = _app(ctx)
    require_public_url(app.settings)
    setup = issuing_factory(app.settings, catalogue_loader(app))()
    with unit_of_work(app.ready_engine()) as session:
        try:
            done = revoke_with_records(session, setup, credential_id, reason)
        except CredentialRefused as exc:
            raise CredentialCommandError(str(exc)) from None
        if done.changed:
            record_action(
                session,
                operator=operator_of(None, app.settings.console.operator),
                via=Via.CLI,
                action="credential.revoke",
                subject=f"credential:{done.credential.uuid}",
                reason=reason,
            )
        session.commit()
    row = done.credential
    data = {
        "id": row.uuid,
        "revoked_now": done.changed,
        "status_index": row.status_index,
        "revoked_at": row.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ") if row.revoked_at else None,
        "records_revoked": list(done.records_revoked),
        "records_issued": list(done.records_issued),
    }

    def render(data: dict[str, Any]) -> None:
        if data["revoked_now"]:
            click.echo(f"revoked {data['id']}; the status list is re-signed")
        else:
            click.echo(f"{data['id']} was already revoked on {data['revoked_at']}")
        for record in data["records_revoked"]:
            click.echo(f"revoked the learner record {record}, which carried it")
        for record in data["records_issued"]:
            click.echo(f"issued the learner record {record} without it (the pathway still holds)")

    emit(data, as_json, render)


@credentials.command("rotate-key")
@json_option
@click.pass_context
def rotate_key_command(ctx: click.Context, as_json: bool) -> None:
    """Replace the signing key.

    A fresh key in BRIDGE_CREDENTIAL_KEY_FILE; every old public key stays in the JWKS, so
    credentials signed before keep verifying.
    """
    app = _app(ctx)
    require_public_url(app.settings)
    with unit_of_work(app.ready_engine()) as session:
        fresh = rotate_key(session, app.settings)
        session.commit()
    data = {"key_file": str(app.settings.credentials.key_file), "thumbprint": fresh.thumbprint}
    emit(
        data,
        as_json,
        lambda data: click.echo(
            f"new signing key {data['thumbprint']} in {data['key_file']}; the old public key stays "
            "in the JWKS"
        ),
    )


@credentials.command("issue-record")
@click.argument("email", metavar="LEARNER")
@click.argument("pathway")
@click.option(
    "--partial",
    is_flag=True,
    help="A record of a pathway in progress: the credentials earned so far (partial: true).",
)
@click.option(
    "--embedded-proof",
    is_flag=True,
    help="Also sign the record itself with an eddsa-rdfc-2022 proof (under the VC-JWT).",
)
@json_option
@click.pass_context
def issue_record_command(
    ctx: click.Context,
    email: str,
    pathway: str,
    partial: bool,
    embedded_proof: bool,
    as_json: bool,
) -> None:
    """Issue a learner record (CLR 2.0) of a pathway.

    LEARNER (an e-mail or customer id) gets a ClrCredential for PATHWAY (a code under
    [pathways] in the catalogue) carrying each credential of it with its own embedded proof.
    A completed pathway gets one by itself; this issues it again (replacing it by id, with a
    newer validFrom, when what it carries changed), or with --partial a record of a pathway
    in progress.
    """
    app = _app(ctx)
    setup = issuing_factory(app.settings, catalogue_loader(app))()
    with unit_of_work(app.ready_engine()) as session:
        learner = require_learner(session, email)
        try:
            result = issue_record(
                session,
                setup,
                learner,
                pathway,
                partial=partial,
                embedded_proof=embedded_proof,
                now=utcnow(),
            )
        except CredentialRefused as exc:
            raise CredentialCommandError(str(exc)) from None
        session.commit()
    data = {
        **credential_summary(result.credential, setup.public_url),
        "learner": learner.email,
        "issued_now": result.created,
        "replaced": result.replaced,
        **record_view(result.credential),
    }

    def render(data: dict[str, Any]) -> None:
        verb = (
            "issued"
            if data["issued_now"]
            else ("replaced (same id, newer validFrom)" if data["replaced"] else "already held")
        )
        kind = "partial record" if data["partial"] else "record"
        click.echo(f"{verb}: {kind} of {data['pathway']} for {data['learner']} {data['url']}")
        for inner in data["credentials"]:
            click.echo(f"  carries {inner['name']} {inner['id']}")

    emit(data, as_json, render)


def learner_pathways(app: AppContext, learner_id: int) -> list[dict[str, Any]]:
    """A learner's progress on every pathway (empty when the catalogue has none or fails)."""
    from bridge.rules.catalogue.catalog import CatalogueError

    try:
        catalogue = catalogue_loader(app)()
    except CatalogueError:
        return []
    if not catalogue.pathways:
        return []
    with unit_of_work(app.ready_engine(), read_only=True) as session:
        states = learner_progress(session, catalogue, learner_id)
    return [state.as_dict() for state in states]


def render_pathways(pathways: list[dict[str, Any]], indent: str = "  ") -> None:
    """Progress lines, one pathway each, with the steps left and what to buy for them."""
    for state in pathways:
        done = state["done"]
        status = "completed" if state["completed"] else f"{done} of {state['required']} steps"
        click.echo(f"{indent}{state['title']} ({state['pathway']}): {status}")
        for step in state["steps"]:
            mark = "x" if step["done"] else " "
            when = f" {step['awarded_at'][:10]}" if step["awarded_at"] else ""
            click.echo(f"{indent}  [{mark}] {step['title']} ({step['step']}){when}")
        for offer in state["next"]:
            verb = "complete" if offer["held"] else "buy"
            click.echo(f"{indent}  next: {verb} {offer['title']} ({offer['sku']})")


@click.command("pathways")
@click.argument("code", required=False)
@click.option(
    "--learner",
    "learner_ref",
    metavar="LEARNER",
    help="One learner's progress (an e-mail or customer id).",
)
@json_option
@click.pass_context
def pathways_command(
    ctx: click.Context, code: str | None, learner_ref: str | None, as_json: bool
) -> None:
    """Progress on the catalogue's pathways (skill stacks).

    Without CODE: each pathway with how many learners started it, reached each step and
    completed it, and the median days from the first step's credential to the completing one.
    With CODE: that pathway and every learner on it. With --learner: that learner's steps done
    (with their credentials), steps left and what to buy next.
    """
    app = _app(ctx)
    catalogue = catalogue_loader(app)()
    with unit_of_work(app.ready_engine()) as session:
        try:
            if learner_ref:
                found = require_learner(session, learner_ref)
                assert found.id is not None
                states = learner_progress(session, catalogue, found.id, code)
                data: Any = {"learner": found.email, "pathways": [s.as_dict() for s in states]}
            else:
                data = pathway_overview(session, catalogue, code)
        except CredentialRefused as exc:
            raise CredentialCommandError(str(exc)) from None

    def render_learner(data: dict[str, Any]) -> None:
        click.echo(f"{data['learner']}:")
        render_pathways(data["pathways"])

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("the catalogue has no pathways; add [pathways.<code>] to it")
            return
        for row in rows:
            median = row["median_days_to_complete"]
            click.echo(
                f"{row['title']} ({row['pathway']}): {row['started']} started, "
                f"{row['completed']} completed"
                + (f", median {median} days to complete" if median is not None else "")
            )
            for step, count in row["at_step"].items():
                click.echo(f"  {step}: {count} done")
            for learner in row.get("learners", []):
                status = (
                    "completed"
                    if learner["completed"]
                    else f"{learner['done']} of {learner['required']}"
                )
                click.echo(f"  {learner['learner']}: {status}")

    emit(data, as_json, render_learner if learner_ref else render)


def report_pathways(app: AppContext) -> list[dict[str, Any]]:
    """Each pathway's figures for the outcome report (none when the catalogue has none)."""
    from bridge.rules.catalogue.catalog import CatalogueError

    try:
        catalogue = catalogue_loader(app)()
    except CatalogueError:
        return []
    if not catalogue.pathways:
        return []
    with unit_of_work(app.ready_engine(), read_only=True) as session:
        return pathway_overview(session, catalogue)


def pathway_report_table(rows: list[dict[str, Any]]) -> str:
    """The outcome report's pathway section: learners who started, at each step, completed."""
    if not rows:
        return ""
    cells = []
    for row in rows:
        median = row["median_days_to_complete"]
        steps = ", ".join(f"{step} {count}" for step, count in row["at_step"].items())
        cells.append(
            [
                row["pathway"],
                str(row["started"]),
                steps,
                str(row["completed"]),
                "-" if median is None else f"{median}",
            ]
        )
    lines = ["", "Pathways (learners by their live credentials, all time)"]
    lines += table(
        ["pathway", "started", "at each step", "completed", "median days"], cells, shrink=[2]
    )
    return "\n".join(lines)


def pathway_report_csv(rows: list[dict[str, Any]]) -> str:
    """The pathway section as rows of the report's CSV (section, item, metric, value)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        values: list[tuple[str, Any]] = [("started", row["started"])]
        values += [(f"at_step:{step}", count) for step, count in row["at_step"].items()]
        values += [
            ("completed", row["completed"]),
            ("median_days_to_complete", row["median_days_to_complete"]),
        ]
        for metric, value in values:
            writer.writerow(["pathways", row["pathway"], metric, "" if value is None else value])
    return buffer.getvalue()


DEMO_LEARNER = "hana@example.com"
DEMO_EVENTS = (
    ("project_accepted", "PROJ-DATAVIZ", "her portfolio project is accepted"),
    ("assessment_passed", "ASSESS-DV", "she passes the assessment"),
)


def demo_pathway(
    engine: Any, settings: Any, echo: Callable[[str], None], now: Any
) -> dict[str, Any]:
    """`bridge demo`'s skill stack: Hana's two outcome events issue her two credentials, the
    second completes the example pathway and issues her learner record (CLR 2.0)."""
    from bridge.services.catalogue import load_catalogue, read_catalogue_file
    from bridge.services.credentials import record_in_transaction

    catalogue = load_catalogue(engine, read_catalogue_file(settings.catalogue.file))
    factory = issuing_factory(settings, lambda: catalogue)
    code = next(iter(catalogue.pathways), None)
    events = []
    for number, (kind, sku, words) in enumerate(DEMO_EVENTS, start=1):
        body = {"kind": kind, "learner": DEMO_LEARNER, "sku": sku, "occurred_at": now}
        answer = record_in_transaction(engine, body, f"demo-{number}", issuing=factory).body
        events.append({"event": kind, "sku": sku, "credential": answer.get("credential")})
        url = (answer.get("credential") or {}).get("url", "")
        for line in wrap(f"hana: {words}: credential {url}", "    ", hanging="    "):
            echo(line)
    with unit_of_work(engine) as session:
        learner = require_learner(session, DEMO_LEARNER)
        assert learner.id is not None
        states = [s.as_dict() for s in learner_progress(session, catalogue, learner.id)]
        rows = list_credentials(session, factory().public_url, learner_id=learner.id)
    records = [row for row in rows if row["kind"] == "record"]
    for state in states:
        status = "completed" if state["completed"] else f"{state['done']} of {state['required']}"
        echo(f"    pathway {state['title']} ({state['pathway']}): {status}")
    for row in records:
        for line in wrap(f"learner record (CLR 2.0) issued: {row['url']}", "    ", hanging="    "):
            echo(line)
    return {"pathway": code, "events": events, "progress": states, "records": records}
