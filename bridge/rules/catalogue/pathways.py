"""Pathways (pure): skill stacks read from the catalogue file, and a learner's progress on one.

A pathway (``[pathways.<code>]``) names its steps (offer SKUs whose credential counts, or
competency tags that any credential-issuing offer evidencing them fulfils), how many of them
complete it (``required``, all by default), which step comes before which where the order
matters (``precedes``), and the achievement it leads to (title, description, criteria, the
competencies it aligns to). Progress is computed from the learner's live credentials only.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.rules.catalogue.catalog import (
    SLUG,
    Catalogue,
    CatalogueError,
    Competency,
    Offer,
    Pathway,
    PathwayStep,
)

# Offer kinds whose accepted outcome issues a credential (bridge.rules.credentials).
CREDENTIAL_KINDS = ("assessment", "project")
_KEYS = {"title", "description", "criteria", "steps", "required", "precedes", "competencies"}


def pathways_from_data(
    data: Any,
    offers: Mapping[str, Offer],
    competencies: Mapping[str, Competency],
    source: str,
) -> dict[str, Pathway]:
    """The ``[pathways]`` table, checked against the file's offers and competencies."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise CatalogueError(source, "pathways", "must be a table of [pathways.<code>]")
    return {
        code: _pathway(code, table, offers, competencies, source) for code, table in data.items()
    }


def _pathway(
    code: str,
    table: Any,
    offers: Mapping[str, Offer],
    competencies: Mapping[str, Competency],
    source: str,
) -> Pathway:
    where = f"pathways.{code}"

    def fail(key: str, reason: str) -> CatalogueError:
        return CatalogueError(source, f"{where}.{key}" if key else where, reason)

    if not SLUG.match(code) or len(code) > 64:
        raise fail("", "a pathway code is lower-case words joined by hyphens (64 at most)")
    if not isinstance(table, Mapping):
        raise fail("", "must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (expected {', '.join(sorted(_KEYS))})")

    def text(key: str, *, required: bool = False) -> str:
        value = table.get(key, "")
        if not isinstance(value, str) or (required and not value.strip()):
            raise fail(key, "required text" if required else "must be text")
        return " ".join(value.split()) if key == "title" else value.strip()

    def strings(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, "must be a list of strings")
        return tuple(value)

    steps = []
    for index, ref in enumerate(strings("steps")):
        steps.append(
            _step(ref, offers, competencies, lambda reason, i=index: fail(f"steps[{i}]", reason))
        )
    if not steps:
        raise fail("steps", "a pathway has at least one step: offer SKUs or competency tags")
    refs = [step.ref for step in steps]
    for index, ref in enumerate(refs):
        if ref in refs[:index]:
            raise fail(f"steps[{index}]", f"{ref!r} is listed twice")
    required = table.get("required", len(steps))
    if isinstance(required, bool) or not isinstance(required, int):
        raise fail("required", "a whole number of steps")
    if not 1 <= required <= len(steps):
        raise fail("required", f"from 1 to {len(steps)} (the number of steps)")
    precedes = []
    raw = table.get("precedes", [])
    if not isinstance(raw, list):
        raise fail("precedes", 'a list of [before, after] pairs, e.g. [["PROJ-A", "ASSESS-A"]]')
    for index, pair in enumerate(raw):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(ref, str) and ref in refs for ref in pair)
            or pair[0] == pair[1]
        ):
            raise fail(f"precedes[{index}]", "a pair [before, after] of two different steps")
        precedes.append((pair[0], pair[1]))
    _check_no_order_loop(precedes, lambda reason: fail("precedes", reason))
    aligned = strings("competencies")
    for index, tag in enumerate(aligned):
        if tag not in competencies:
            raise fail(f"competencies[{index}]", f"{tag!r} is not under [competencies]")
    return Pathway(
        code=code,
        title=text("title", required=True),
        steps=tuple(steps),
        required=required,
        description=text("description"),
        criteria=text("criteria"),
        precedes=tuple(precedes),
        competencies=aligned,
    )


def _step(
    ref: str,
    offers: Mapping[str, Offer],
    competencies: Mapping[str, Competency],
    fail: Any,
) -> PathwayStep:
    offer = offers.get(ref)
    if offer is not None and ref in competencies:
        raise fail(f"{ref!r} is both an offer SKU and a competency tag; rename one")
    if offer is not None:
        if offer.kind not in CREDENTIAL_KINDS or not offer.competencies:
            raise fail(
                f"{ref} issues no credential: a step is an assessment or project offer "
                "naming a competency, or a competency tag"
            )
        return PathwayStep(ref, "offer")
    if ref in competencies:
        if not any(o.kind in CREDENTIAL_KINDS and ref in o.competencies for o in offers.values()):
            raise fail(f"no assessment or project offer evidences the competency {ref!r}")
        return PathwayStep(ref, "competency")
    raise fail(f"{ref!r} is neither an offer under [offers] nor a tag under [competencies]")


def _check_no_order_loop(pairs: Sequence[tuple[str, str]], fail: Any) -> None:
    after: dict[str, set[str]] = {}
    for before, later in pairs:
        after.setdefault(before, set()).add(later)

    def visit(ref: str, path: tuple[str, ...]) -> None:
        if ref in path:
            raise fail("the order loops: " + " -> ".join((*path, ref)))
        for later in sorted(after.get(ref, ())):
            visit(later, (*path, ref))

    for ref in sorted(after):
        visit(ref, ())


def pathway_aligned_tags(pathway: Pathway, catalogue: Catalogue) -> tuple[str, ...]:
    """The competencies the pathway's achievement aligns to: its own list, else its steps'."""
    if pathway.competencies:
        return pathway.competencies
    tags: dict[str, None] = {}
    for step in pathway.steps:
        if step.kind == "competency":
            tags[step.ref] = None
        else:
            tags.update(dict.fromkeys(catalogue.offers[step.ref].competencies))
    return tuple(tags)


def step_title(step: PathwayStep, catalogue: Catalogue) -> str:
    if step.kind == "offer":
        offer = catalogue.offers.get(step.ref)
        return (offer.title if offer else "") or step.ref
    known = catalogue.competencies.get(step.ref)
    return known.title if known and known.title else step.ref


def step_offers(step: PathwayStep, catalogue: Catalogue) -> tuple[str, ...]:
    """The offers whose credential fulfils the step (what a learner could buy for it)."""
    if step.kind == "offer":
        return (step.ref,)
    return tuple(
        sku
        for sku, offer in sorted(catalogue.offers.items())
        if offer.kind in CREDENTIAL_KINDS and step.ref in offer.competencies
    )


def default_criteria(pathway: Pathway, catalogue: Catalogue) -> str:
    """The criteria narrative when the file gives none: which steps, how many, in which order."""
    titles = [f"{step_title(step, catalogue)} ({step.ref})" for step in pathway.steps]
    count = "all of" if pathway.required == len(pathway.steps) else f"{pathway.required} of"
    text = f"Earn the credentials of {count}: " + "; ".join(titles) + "."
    if pathway.precedes:
        order = "; ".join(f"{before} before {after}" for before, after in pathway.precedes)
        text += f" In this order: {order}."
    return text


@dataclass(frozen=True)
class Earned:
    """A live credential the learner holds: for which SKU, its id, when it was awarded."""

    sku: str
    credential: str  # the credential's UUID
    awarded_at: datetime


@dataclass(frozen=True)
class StepProgress:
    ref: str
    kind: str
    title: str
    credential: str | None = None
    sku: str | None = None  # the offer whose credential fulfilled it
    awarded_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.credential is not None


@dataclass(frozen=True)
class Suggestion:
    """An offer that would fulfil a step left, and whether the learner holds it already."""

    step: str
    sku: str
    title: str
    held: bool


@dataclass(frozen=True)
class Progress:
    """One learner on one pathway."""

    pathway: str
    title: str
    required: int
    steps: tuple[StepProgress, ...]
    next: tuple[Suggestion, ...]

    @property
    def done(self) -> tuple[StepProgress, ...]:
        return tuple(step for step in self.steps if step.done)

    @property
    def started(self) -> bool:
        return bool(self.done)

    @property
    def completed(self) -> bool:
        return len(self.done) >= self.required

    @property
    def started_at(self) -> datetime | None:
        times = sorted(step.awarded_at for step in self.done if step.awarded_at)
        return times[0] if times else None

    @property
    def completed_at(self) -> datetime | None:
        """When the ``required``-th step was awarded, if that many are done."""
        times = sorted(step.awarded_at for step in self.done if step.awarded_at)
        return times[self.required - 1] if len(times) >= self.required else None

    def credentials(self) -> tuple[str, ...]:
        """The credentials that count toward the pathway, in step order."""
        return tuple(step.credential for step in self.steps if step.credential)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pathway": self.pathway,
            "title": self.title,
            "required": self.required,
            "done": len(self.done),
            "completed": self.completed,
            "started_at": _iso(self.started_at),
            "completed_at": _iso(self.completed_at),
            "steps": [
                {
                    "step": step.ref,
                    "kind": step.kind,
                    "title": step.title,
                    "done": step.done,
                    "credential": step.credential,
                    "sku": step.sku,
                    "awarded_at": _iso(step.awarded_at),
                }
                for step in self.steps
            ],
            "next": [
                {"step": s.step, "sku": s.sku, "title": s.title, "held": s.held} for s in self.next
            ],
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def progress(
    pathway: Pathway,
    catalogue: Catalogue,
    earned: Iterable[Earned],
    held: Iterable[str] = (),
) -> Progress:
    """Which steps the learner's live credentials fulfil (each credential at most one step,
    offer steps first, earliest credential first), and what would fulfil the steps left."""
    pool = sorted(earned, key=lambda e: (e.awarded_at, e.credential))
    used: set[str] = set()
    found: dict[str, Earned] = {}
    for kind in ("offer", "competency"):
        for step in pathway.steps:
            if step.kind != kind:
                continue
            offers = set(step_offers(step, catalogue))
            match = next((e for e in pool if e.sku in offers and e.credential not in used), None)
            if match is not None:
                used.add(match.credential)
                found[step.ref] = match
    steps = tuple(
        StepProgress(
            ref=step.ref,
            kind=step.kind,
            title=step_title(step, catalogue),
            credential=found[step.ref].credential if step.ref in found else None,
            sku=found[step.ref].sku if step.ref in found else None,
            awarded_at=found[step.ref].awarded_at if step.ref in found else None,
        )
        for step in pathway.steps
    )
    return Progress(
        pathway=pathway.code,
        title=pathway.title,
        required=pathway.required,
        steps=steps,
        next=_suggestions(pathway, catalogue, set(found), set(held)),
    )


def _suggestions(
    pathway: Pathway, catalogue: Catalogue, done: set[str], held: set[str]
) -> tuple[Suggestion, ...]:
    """Offers for the steps left, steps whose predecessors are done first, held offers first."""
    if len(done) >= pathway.required:
        return ()
    waiting = {after for before, after in pathway.precedes if before not in done}
    left = [step for step in pathway.steps if step.ref not in done]
    ordered = [s for s in left if s.ref not in waiting] + [s for s in left if s.ref in waiting]
    found = []
    for step in ordered:
        skus = sorted(step_offers(step, catalogue), key=lambda sku: (sku not in held, sku))
        for sku in skus:
            offer = catalogue.offers[sku]
            found.append(Suggestion(step.ref, sku, offer.title or sku, sku in held))
    return tuple(found)


def pathway_stats(pathway: Pathway, progresses: Sequence[Progress]) -> dict[str, Any]:
    """How many learners started, reached each step, completed; the median time from the
    first counted credential to the completing one."""
    started = [p for p in progresses if p.started]
    completed = [p for p in started if p.completed]
    days = [
        (p.completed_at - p.started_at) / timedelta(days=1)
        for p in completed
        if p.completed_at and p.started_at
    ]
    median = statistics.median(days) if days else None
    return {
        "pathway": pathway.code,
        "title": pathway.title,
        "steps": len(pathway.steps),
        "required": pathway.required,
        "started": len(started),
        "at_step": {
            step.ref: sum(1 for p in started if any(s.ref == step.ref and s.done for s in p.steps))
            for step in pathway.steps
        },
        "completed": len(completed),
        "median_days_to_complete": round(median, 1) if median is not None else None,
    }


def manifest_pathways(
    catalogue: Catalogue, urls: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The pathways as the competency catalogue export lists them (``urls``: code -> the
    achievement URL, when credentials are published)."""
    entries = []
    for code, pathway in catalogue.pathways.items():
        entry: dict[str, Any] = {
            "id": code,
            "title": pathway.title,
            "description": pathway.description,
            "required": pathway.required,
            "steps": [
                {
                    "ref": step.ref,
                    "kind": step.kind,
                    "title": step_title(step, catalogue),
                    "offers": list(step_offers(step, catalogue)),
                }
                for step in pathway.steps
            ],
            "precedes": [list(pair) for pair in pathway.precedes],
            "competencies": list(pathway_aligned_tags(pathway, catalogue)),
            "criteria": pathway.criteria or default_criteria(pathway, catalogue),
        }
        if urls is not None and code in urls:
            entry["achievement"] = urls[code]
        entries.append(entry)
    return entries


def pathways_markdown(manifest: Mapping[str, Any]) -> list[str]:
    """The manifest's pathways as Markdown lines, for the one-page competency catalogue."""
    lines: list[str] = []
    for pathway in manifest.get("pathways") or []:
        lines += [f"## Pathway: {pathway['title']}", ""]
        if pathway["description"]:
            lines += [pathway["description"], ""]
        if pathway.get("achievement"):
            lines += [f"Credential: [{pathway['title']}]({pathway['achievement']})", ""]
        lines += [pathway["criteria"], ""]
        for number, step in enumerate(pathway["steps"], 1):
            lines.append(f"{number}. {step['title']} ({step['ref']})")
        lines.append("")
    return lines


def pathways_html(manifest: Mapping[str, Any]) -> list[str]:
    """The manifest's pathways as HTML sections, for the one-page competency catalogue."""
    esc = html.escape
    body: list[str] = []
    for pathway in manifest.get("pathways") or []:
        body.append(f'<section id="pathway-{esc(pathway["id"])}">')
        body.append(f"<h2>Pathway: {esc(pathway['title'])}</h2>")
        if pathway["description"]:
            body.append(f"<p>{esc(pathway['description'])}</p>")
        if pathway.get("achievement"):
            url = esc(pathway["achievement"])
            body.append(f'<p>Credential: <a href="{url}">{esc(pathway["title"])}</a></p>')
        body.append(f"<p>{esc(pathway['criteria'])}</p>")
        body.append("<ol>")
        for step in pathway["steps"]:
            body.append(f"<li>{esc(step['title'])} ({esc(step['ref'])})</li>")
        body.append("</ol>")
        body.append("</section>")
    return body
