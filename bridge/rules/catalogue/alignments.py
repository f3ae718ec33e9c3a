"""A competency's alignments to public frameworks (ESCO skills, O*NET-SOC occupations, CASE
items, Credential Engine competencies, or any framework by URL and code), read from the
catalogue file and written as Open Badges 3.0 ``alignment`` entries.

In the file, under a competency::

    alignments = [
      { framework = "esco", url = "http://data.europa.eu/esco/skill/<uuid>", name = "..." },
      { framework = "onet", code = "15-2051.00" },
      { framework = "https://example.org/framework", code = "DV-1", name = "...", url = "..." },
    ]

``targetType`` follows OB 3.0's AlignmentTargetType: CFItem for a CASE framework item,
ceasn:Competency for a competency Credential Engine publishes (CTDL-ASN); ESCO and O*NET are
neither, so they take the extension values ext:ESCOSkill and ext:ONetSOCOccupation (the spec
allows ``ext:`` values). ``type`` overrides it for a framework given by URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# OB 3.0 AlignmentTargetType (the enumeration and its extension pattern).
TARGET_TYPES = (
    "ceasn:Competency",
    "ceterms:Credential",
    "CFItem",
    "CFRubric",
    "CFRubricCriterion",
    "CFRubricCriterionLevel",
    "CTDL",
)
EXTENSION_TYPE = re.compile(r"ext:[A-Za-z0-9.\-_]+")
ESCO_SKILL = re.compile(
    r"http://data\.europa\.eu/esco/skill/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
ONET_SOC = re.compile(r"\d{2}-\d{4}\.\d{2}")
ONET_LINK = "https://www.onetonline.org/link/summary/"
HTTP_URL = re.compile(r"https?://[^\s<>\"']{1,480}")
KEYS = {"framework", "url", "code", "name", "description", "type"}
# Named frameworks: (targetFramework, targetType).
FRAMEWORKS = {
    "esco": ("ESCO", "ext:ESCOSkill"),
    "onet": ("O*NET-SOC", "ext:ONetSOCOccupation"),
    "case": ("CASE", "CFItem"),
    "ctdl": ("Credential Engine", "ceasn:Competency"),
}


class AlignmentError(ValueError):
    """An alignment the file cannot hold; ``field`` names the key at fault."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(reason)


@dataclass(frozen=True)
class FrameworkAlignment:
    """One competency's place in a public framework."""

    framework: str  # targetFramework as shown: ESCO, O*NET-SOC, CASE, or the framework's URL
    url: str  # targetUrl
    name: str  # targetName
    target_type: str  # targetType (OB 3.0 AlignmentTargetType)
    code: str = ""  # targetCode
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        """As the competency catalogue export writes it."""
        data: dict[str, Any] = {
            "framework": self.framework,
            "type": self.target_type,
            "name": self.name,
            "url": self.url,
        }
        if self.code:
            data["code"] = self.code
        if self.description:
            data["description"] = self.description
        return data


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise AlignmentError(f"{where}.{key}", "must be text")
    return value.strip()


def read_alignment(entry: Any, where: str) -> FrameworkAlignment:
    """One alignment table from the file, checked; AlignmentError names what is wrong."""
    if not isinstance(entry, Mapping):
        raise AlignmentError(where, 'must be a table such as { framework = "esco", url = ... }')
    unknown = sorted(set(entry) - KEYS)
    if unknown:
        raise AlignmentError(f"{where}.{unknown[0]}", f"unknown key (known: {sorted(KEYS)})")
    framework = _text(entry, "framework", where)
    url, code, name = (_text(entry, key, where) for key in ("url", "code", "name"))
    description = _text(entry, "description", where)
    given_type = _text(entry, "type", where)
    if given_type and given_type not in TARGET_TYPES and not EXTENSION_TYPE.fullmatch(given_type):
        raise AlignmentError(
            f"{where}.type", f"must be one of {', '.join(TARGET_TYPES)} or ext:<Name>"
        )
    if framework == "esco":
        if not ESCO_SKILL.fullmatch(url):
            raise AlignmentError(
                f"{where}.url", "an ESCO skill URI: http://data.europa.eu/esco/skill/<uuid>"
            )
        if not name:
            raise AlignmentError(f"{where}.name", "the ESCO skill's preferred label is required")
        code = code or url.rsplit("/", 1)[1]
    elif framework == "onet":
        if not ONET_SOC.fullmatch(code):
            raise AlignmentError(f"{where}.code", "an O*NET-SOC code such as 15-2051.00")
        url = url or ONET_LINK + code
        name = name or f"O*NET-SOC {code}"
    elif framework in FRAMEWORKS:
        if not name:
            raise AlignmentError(f"{where}.name", "is required")
    elif HTTP_URL.fullmatch(framework):
        if not code and not url:
            raise AlignmentError(where, "a framework given by URL needs a code or a url")
        url = url or f"{framework.rstrip('/')}#{code}"
        name = name or code
    else:
        raise AlignmentError(
            f"{where}.framework", f"one of {', '.join(FRAMEWORKS)} or the framework's URL"
        )
    if not HTTP_URL.fullmatch(url):
        raise AlignmentError(f"{where}.url", "must be an http(s) URL")
    label, target_type = FRAMEWORKS.get(framework, (framework, "ext:Framework"))
    return FrameworkAlignment(
        framework=label,
        url=url,
        name=name,
        target_type=given_type or target_type,
        code=code,
        description=description,
    )


def read_alignments(value: Any, where: str) -> tuple[FrameworkAlignment, ...]:
    """A competency's ``alignments`` array (absent: none)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise AlignmentError(where, "must be an array of tables")
    return tuple(read_alignment(entry, f"{where}[{index}]") for index, entry in enumerate(value))
