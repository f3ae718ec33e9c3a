"""Words that agree with their numbers (pure): 1 cohort, 2 cohorts, 1 portfolio review.

The one plural helper of the project: the CLI, the notes and the report all use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

_IRREGULAR = {
    "competency": "competencies",
    "person": "people",
    "entry": "entries",
    "delivery": "deliveries",
    "is": "are",
    "was": "were",
    "has": "have",
}
_VOWELS = ("a", "e", "i", "o", "u")


def plural_form(count: int, singular: str, many: str | None = None) -> str:
    """The noun that agrees with ``count``: cohort / cohorts, competency / competencies.

    A noun of several words ("portfolio review") takes the plural on its last word; ``many``
    overrides the rule for a word it does not know.
    """
    if count == 1 or count == -1:
        return singular
    if many is not None:
        return many
    head, _, last = singular.rpartition(" ")
    if last in _IRREGULAR:
        form = _IRREGULAR[last]
    elif last.endswith("y") and len(last) > 1 and last[-2] not in _VOWELS:
        form = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh")):
        form = last + "es"
    else:
        form = last + "s"
    return f"{head} {form}" if head else form


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``count`` and its noun agreeing: ``plural(1, "learner")`` is "1 learner"."""
    return f"{count} {plural_form(count, singular, many)}"


def singular_of(words: str) -> str:
    """The singular of an English plural label: "portfolio reviews" -> "portfolio review"."""
    for single, many in _IRREGULAR.items():
        if words.endswith(many):
            return words[: -len(many)] + single
    if words.endswith("ies") and len(words) > 3:
        return words[:-3] + "y"
    if words.endswith("s") and not words.endswith("ss"):
        return words[:-1]
    return words


def credit_words(amount: int, credit_type: str) -> str:
    """How a credit type reads after ``amount``: 1 portfolio review, 90 mentor minutes."""
    words = credit_type.replace("_", " ")
    return singular_of(words) if abs(amount) == 1 else words


# Credit types counted in minutes (mentor_minutes): people read them in hours and minutes.
MINUTES = "_minutes"


def duration(minutes: int) -> str:
    """Minutes as people read them: 45 min, 1 h, 3 h 30 min, -1 h 30 min."""
    hours, rest = divmod(abs(minutes), 60)
    parts = [f"{hours} h"] if hours else []
    if rest or not hours:
        parts.append(f"{rest} min")
    return ("-" if minutes < 0 else "") + " ".join(parts)


def amount_text(amount: int, credit_type: str, *, signed: bool = False) -> str:
    """An amount of a credit type in a column of amounts: 3 h 30 min of a type counted in
    minutes, the number otherwise; ``signed`` shows a plus too (+1 h, -30 min, +2)."""
    text = duration(amount) if credit_type.endswith(MINUTES) else str(amount)
    return f"+{text}" if signed and amount > 0 else text


def credit_text(amount: int, credit_type: str, *, signed: bool = False) -> str:
    """An amount of a credit type for people: "1 portfolio review", "1 h 30 min of mentor
    time" (a type counted in minutes reads in hours and minutes; its JSON keeps minutes)."""
    if credit_type.endswith(MINUTES):
        kind = credit_type.removesuffix(MINUTES).replace("_", " ")
        return f"{amount_text(amount, credit_type, signed=signed)} of {kind} time"
    number = f"{amount:+}" if signed else str(amount)
    return f"{number} {credit_words(amount, credit_type)}"


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known word nearest to ``word`` (a typo of it, case aside), or None when none is
    near: ``closest("mentor_minuts", types)`` is "mentor_minutes"."""
    by_lower: dict[str, str] = {}
    for candidate in sorted(set(known)):
        by_lower.setdefault(candidate.lower(), candidate)
    found = difflib.get_close_matches(word.strip().lower(), list(by_lower), n=1)
    return by_lower[found[0]] if found else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """ "did you mean X?" naming the known word nearest to ``word``; "" when none is near.

    The one wording of every "unknown" answer: SKUs, learners, cohort codes, credit types.
    """
    return suggestion(closest(word, known), word)


def suggestion(near: str | None, word: str = "") -> str:
    """ "did you mean X?" for a near match found otherwise (an e-mail compared by its parts)."""
    return f"did you mean {near}?" if near and near != word.strip() else ""
