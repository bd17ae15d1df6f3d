"""The self-assessment framework: sections, areas, indicators and the rating scale.

It lives in a JSON file (framework.json at the repository root) that an organisation may
adapt (its own id, version, rating scale or indicators), so this module validates the
file's structure, never its content. Every error starts with the JSON path of the bad
entry, e.g. 'sections[2].areas[0].indicators[3].id: "9x" must be numbered for its area 10'.
"""

# The bundled framework.json is NHS England's guidance text, word for word with its
# typography (curly apostrophes); Word bookmarks are dropped, "Area19c" is read as 19c and
# non-breaking spaces inside sentences are written as ordinary spaces.
#
# Area titles come from each section's "areas of practice" list (kept verbatim). Sections
# 1, 2 and 5 list one entry per area, in order. Sections 3 and 4 do not, so there titles
# follow the indicators' content: section 3 lists 4 entries for areas 10-14, so areas 10
# and 11 (both on seeking feedback from many sources) share the first; section 4 lists 5
# for areas 15-18, so area 16 (quality measures, board reporting) is titled "quality
# assurance and governance". Section 5 keeps the in-order pairing, though area 21
# (improvement methodology) reads more like "quality improvement" than "service change".

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "framework.json"
INDICATOR_ID = re.compile(r"^[0-9]+[a-z]$")
MIN_LEVELS, MAX_LEVELS = 2, 10


class FrameworkError(ValueError):
    """A framework file that cannot be used; the message starts with the bad entry's path."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path


@dataclass(frozen=True)
class RatingLevel:
    value: int
    label: str
    description: str


@dataclass(frozen=True)
class Indicator:
    id: str
    text: str
    bullets: tuple[str, ...]
    area: int
    section: int


@dataclass(frozen=True)
class Area:
    number: int
    title: str
    section: int
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class Section:
    number: int
    title: str
    areas_of_practice: tuple[str, ...]
    areas: tuple[Area, ...]


@dataclass(frozen=True)
class Framework:
    id: str
    version: str
    title: str
    sha256: str
    sections: tuple[Section, ...]
    rating_levels: tuple[RatingLevel, ...]
    source: str = ""
    rating_scale_name: str = ""

    @cached_property
    def _by_id(self) -> dict[str, Indicator]:
        """Indicators keyed by id."""
        return {i.id: i for i in self.indicators()}

    def indicator(self, indicator_id: str) -> Indicator | None:
        """The indicator with this id, or None."""
        return self._by_id.get(indicator_id) if isinstance(indicator_id, str) else None

    def indicators(self, scope: Iterable[int] | None = None) -> list[Indicator]:
        """Indicators in framework order, only those of the given section numbers if scope is given."""
        wanted = None if scope is None else set(scope)
        sections = [s for s in self.sections if wanted is None or s.number in wanted]
        return [ind for s in sections for area in s.areas for ind in area.indicators]

    def section(self, number: int) -> Section | None:
        """The section with this number, or None."""
        return next((s for s in self.sections if s.number == number), None)

    def area(self, number: int) -> Area | None:
        """The area with this number, or None."""
        return next((a for s in self.sections for a in s.areas if a.number == number), None)

    def rating_label(self, value: int) -> str | None:
        """The label of the rating level with this value, or None."""
        if isinstance(value, bool):
            return None
        return next((lv.label for lv in self.rating_levels if lv.value == value), None)

    def rating_values(self) -> set[int]:
        """The values a rating may take."""
        return {lv.value for lv in self.rating_levels}

    def reference(self) -> dict[str, str]:
        """What a saved assessment records to pin the framework it was made against."""
        return {"id": self.id, "version": self.version, "sha256": self.sha256}


def load_framework(path: str | Path = DEFAULT_PATH) -> Framework:
    """Read, fingerprint, parse and validate a framework file."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise FrameworkError(name, f"cannot be read ({exc.strerror or exc})") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FrameworkError(name, f"is not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise FrameworkError(name, f"is not valid JSON ({exc.msg} at {where})") from exc
    return parse_framework(data, hashlib.sha256(raw).hexdigest())


def parse_framework(data: dict, sha256: str) -> Framework:
    """Validate parsed framework JSON and build the Framework."""
    _obj(data, "$")
    scale = _obj(_key(data, "rating_scale", ""), "rating_scale")
    return Framework(
        id=_text(data, "id", ""),
        version=_text(data, "version", ""),
        title=_text(data, "title", ""),
        sha256=sha256,
        sections=_sections(_list(data, "sections", "")),
        rating_levels=_levels(_list(scale, "levels", "rating_scale.")),
        source=_text(data, "source", "", optional=True),
        rating_scale_name=_text(scale, "name", "rating_scale.", optional=True),
    )


def _sections(items: list) -> tuple[Section, ...]:
    """Sections with unique, ascending numbers; area numbers and indicator ids unique throughout."""
    sections, seen_areas, seen_ids, last = [], set(), set(), 0
    for s, item in enumerate(items):
        path = f"sections[{s}]"
        _obj(item, path)
        number = _int(item, "number", path + ".")
        if number <= last:
            problem = f"{number} must be greater than the previous section's {last}"
            raise FrameworkError(f"{path}.number", problem)
        last = number
        title = _text(item, "title", path + ".")
        aop = tuple(_str_list(item, "areas_of_practice", path + "."))
        areas = _list(item, "areas", path + ".")
        areas = tuple(
            _area(a, f"{path}.areas[{i}]", number, seen_areas, seen_ids) for i, a in enumerate(areas)
        )
        sections.append(Section(number, title, aop, areas))
    return tuple(sections)


def _area(item: Any, path: str, section: int, seen_areas: set, seen_ids: set) -> Area:
    """One area, with its indicators."""
    _obj(item, path)
    number = _int(item, "number", path + ".")
    if number in seen_areas:
        raise FrameworkError(f"{path}.number", f"area {number} appears more than once")
    seen_areas.add(number)
    title = _text(item, "title", path + ".")
    items = _list(item, "indicators", path + ".")
    indicators = tuple(
        _indicator(x, f"{path}.indicators[{i}]", number, section, seen_ids) for i, x in enumerate(items)
    )
    return Area(number, title, section, indicators)


def _indicator(item: Any, path: str, area: int, section: int, seen_ids: set) -> Indicator:
    """One indicator: an id like "12c" numbered for its area, its statement and any bullets."""
    _obj(item, path)
    ident = _text(item, "id", path + ".")
    if not INDICATOR_ID.match(ident):
        raise FrameworkError(f"{path}.id", f'"{ident}" must be an area number and a letter, like "1a"')
    if int(ident[:-1]) != area:
        raise FrameworkError(f"{path}.id", f'"{ident}" must be numbered for its area {area}')
    if ident in seen_ids:
        raise FrameworkError(f"{path}.id", f'"{ident}" appears more than once')
    seen_ids.add(ident)
    text = _text(item, "text", path + ".")
    return Indicator(ident, text, tuple(_str_list(item, "bullets", path + ".")), area, section)


def _levels(items: list) -> tuple[RatingLevel, ...]:
    """Between MIN_LEVELS and MAX_LEVELS rating levels with unique values and labels."""
    path = "rating_scale.levels"
    if not MIN_LEVELS <= len(items) <= MAX_LEVELS:
        raise FrameworkError(path, f"must have {MIN_LEVELS} to {MAX_LEVELS} levels, not {len(items)}")
    levels = []
    for i, item in enumerate(items):
        p = f"{path}[{i}]"
        _obj(item, p)
        level = RatingLevel(
            _int(item, "value", p + ".", positive=False),
            _text(item, "label", p + "."),
            _text(item, "description", p + ".", optional=True, allow_empty=True),
        )
        if level.value in {lv.value for lv in levels}:
            raise FrameworkError(f"{p}.value", f"{level.value} appears more than once")
        if level.label in {lv.label for lv in levels}:
            raise FrameworkError(f"{p}.label", f'"{level.label}" appears more than once')
        levels.append(level)
    return tuple(levels)


def _obj(value: Any, path: str) -> dict:
    """Value, if it is a JSON object."""
    if not isinstance(value, dict):
        raise FrameworkError(path, f"must be an object, not {_kind(value)}")
    return value


def _key(obj: dict, key: str, prefix: str) -> Any:
    """obj[key], which must be present."""
    if key not in obj:
        raise FrameworkError(prefix + key, "is missing")
    return obj[key]


def _text(obj: dict, key: str, prefix: str, optional: bool = False, allow_empty: bool = False) -> str:
    """obj[key] as a string, non-empty unless allowed ("" if optional and absent)."""
    if optional and key not in obj:
        return ""
    value = _key(obj, key, prefix)
    if not isinstance(value, str) or not (allow_empty or value.strip()):
        wanted = "string" if allow_empty else "non-empty string"
        raise FrameworkError(prefix + key, f"must be a {wanted}, not {_kind(value)}")
    return value


def _int(obj: dict, key: str, prefix: str, positive: bool = True) -> int:
    """obj[key] as an integer (positive unless told otherwise)."""
    value = _key(obj, key, prefix)
    if not isinstance(value, int) or isinstance(value, bool) or (positive and value < 1):
        wanted = "positive integer" if positive else "integer"
        raise FrameworkError(prefix + key, f"must be a {wanted}, not {_kind(value)}")
    return value


def _list(obj: dict, key: str, prefix: str) -> list:
    """obj[key] as a non-empty list."""
    value = _key(obj, key, prefix)
    if not isinstance(value, list) or not value:
        raise FrameworkError(prefix + key, f"must be a non-empty list, not {_kind(value)}")
    return value


def _str_list(obj: dict, key: str, prefix: str) -> list[str]:
    """obj[key] as a (possibly empty) list of non-empty strings; [] if absent."""
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise FrameworkError(prefix + key, f"must be a list, not {_kind(value)}")
    for i, entry in enumerate(value):
        if not isinstance(entry, str) or not entry.strip():
            raise FrameworkError(f"{prefix}{key}[{i}]", f"must be a non-empty string, not {_kind(entry)}")
    return value


def _kind(value: Any) -> str:
    """A short description of a JSON value for error messages."""
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return json.dumps(value, ensure_ascii=False, default=repr) if len(str(value)) <= 40 else "a long string"
