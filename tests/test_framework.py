"""The framework file carries NHS England's guidance faithfully, and the loader guards its shape.

The guidance text is parsed here independently of framework.json (see parse_seed) and
every indicator is compared with it.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import re
from pathlib import Path

import pytest

from ecsa.framework import (
    Framework,
    FrameworkError,
    load_framework,
    parse_framework,
)

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORK_FILE = ROOT / "framework.json"
# A byte-for-byte copy of shared/seed/000_5d3365a416599493.txt, kept in the repo so the
# comparison always runs (CI's clone need not sit beside shared/).
SEED_FILE = Path(__file__).resolve().parent / "fixtures" / "guidance.txt"

BOOKMARK = re.compile(r"\[bookmark: [^\]]*\]")
INTRO_RANGE = re.compile(r"^· Section (\d+): (.+?) – areas (\d+)-(\d+)$")
SECTION_HEADING = re.compile(r"^Section (\d+): (.+)$")
INDICATOR_START = re.compile(r"^Area\s*(\d+[a-z]):\s*(.*)$")  # tolerates "Area19c:"
AREAS_OF_PRACTICE_LEAD = "This section includes the following areas of practice:"


def parse_seed(text: str) -> dict:
    """The guidance as {"ranges": {section: (title, first, last)}, "sections": [...]}.

    Each section is {"number", "title", "areas_of_practice", "indicators"}, each
    indicator (id, text, bullets). Bookmarks go, lines are trimmed, and non-breaking
    spaces become ordinary spaces; every other character is kept.
    """
    ranges, sections, indicator = {}, [], None
    for raw in BOOKMARK.sub("", text).replace("\xa0", " ").splitlines():
        line = raw.strip()
        if not line:
            continue
        if m := INTRO_RANGE.match(line):
            ranges[int(m[1])] = (m[2], int(m[3]), int(m[4]))
        elif m := SECTION_HEADING.match(line):
            sections.append({"number": int(m[1]), "title": m[2], "areas_of_practice": [], "indicators": []})
            indicator = None
        elif m := INDICATOR_START.match(line):
            indicator = (m[1], m[2], [])
            sections[-1]["indicators"].append(indicator)
        elif line == AREAS_OF_PRACTICE_LEAD or not sections:
            continue
        elif indicator is None:
            sections[-1]["areas_of_practice"].append(line)
        else:
            indicator[2].append(line)
    return {"ranges": ranges, "sections": sections}


@pytest.fixture(scope="module")
def seed() -> dict:
    return parse_seed(SEED_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def framework() -> Framework:
    return load_framework(FRAMEWORK_FILE)


@pytest.fixture
def data() -> dict:
    return json.loads(FRAMEWORK_FILE.read_text(encoding="utf-8"))


# --- Faithful to the guidance -------------------------------------------------------


def test_guidance_parser_finds_all_86_indicators_in_23_areas(seed):
    ids = [ind[0] for s in seed["sections"] for ind in s["indicators"]]
    assert len(ids) == 86 and len(set(ids)) == 86
    assert sorted({int(i[:-1]) for i in ids}) == list(range(1, 24))
    assert ids[-1] == "23a"


def test_framework_carries_every_indicator_word_for_word(framework, seed):
    expected = [(i, text, bullets) for s in seed["sections"] for i, text, bullets in s["indicators"]]
    actual = [(ind.id, ind.text, list(ind.bullets)) for ind in framework.indicators()]
    assert len(actual) == 86
    for want, got in zip(expected, actual):
        assert got == want
    assert actual == expected


def test_framework_has_five_sections_and_twenty_three_areas(framework):
    assert [s.number for s in framework.sections] == [1, 2, 3, 4, 5]
    assert [a.number for s in framework.sections for a in s.areas] == list(range(1, 24))


def test_each_section_covers_the_areas_listed_in_the_guidance_intro(framework, seed):
    assert sorted(seed["ranges"]) == [1, 2, 3, 4, 5]
    for section in framework.sections:
        title, first, last = seed["ranges"][section.number]
        assert section.title == title
        assert [a.number for a in section.areas] == list(range(first, last + 1))
        assert all(ind.section == section.number for ind in framework.indicators([section.number]))


def test_sections_keep_the_guidance_headings_and_areas_of_practice(framework, seed):
    for section, guidance in zip(framework.sections, seed["sections"], strict=True):
        assert (section.number, section.title) == (guidance["number"], guidance["title"])
        assert list(section.areas_of_practice) == guidance["areas_of_practice"]


def test_areas_are_titled_by_their_area_of_practice(framework):
    titles = {a.number: a.title for s in framework.sections for a in s.areas}
    aop = {s.number: s.areas_of_practice for s in framework.sections}
    # Sections 1, 2 and 5 list one area of practice per area, in order.
    for number, first in ((1, 1), (2, 5), (5, 19)):
        assert [titles[first + i] for i in range(len(aop[number]))] == list(aop[number])
    # Section 3 lists 4 for 5 areas (10 and 11 share the first); section 4 lists 5 for 4.
    assert [titles[n] for n in range(10, 15)] == [aop[3][0], aop[3][0], *aop[3][1:]]
    assert [titles[n] for n in range(15, 19)] == [
        aop[4][0], "quality assurance and governance", aop[4][3], aop[4][4]]


def test_only_lead_sentences_carry_bullet_lists(framework):
    with_bullets = {ind.id: len(ind.bullets) for ind in framework.indicators() if ind.bullets}
    assert with_bullets == {"1a": 5, "1b": 2, "1e": 2}
    assert framework.indicator("1a").text.endswith("strategy that:")
    assert framework.indicator("1e").bullets[0].startswith("how it is working with people who don't")


def test_run_together_area19c_is_read_as_indicator_19c(framework):
    ind = framework.indicator("19c")
    assert (ind.area, ind.section) == (19, 5)
    assert ind.text.startswith("The provider can demonstrate that people using services")
    assert [i.id for i in framework.area(19).indicators] == ["19a", "19b", "19c", "19d"]


def test_framework_text_has_no_word_artefacts_and_keeps_curly_apostrophes(framework):
    everything = [t for i in framework.indicators() for t in (i.text, *i.bullets)]
    for text in everything:
        assert "bookmark" not in text and "\xa0" not in text and text == text.strip()
    assert "it’s proactively" in framework.indicator("1f").text
    assert "organisation’s approach" in framework.indicator("2c").text
    assert framework.indicator("23a").text.endswith("experience of care feedback.")


def test_framework_file_is_readable_utf8_json():
    raw = FRAMEWORK_FILE.read_bytes()
    text = raw.decode("utf-8")
    assert "’" in text and "\\u2019" not in text  # written with ensure_ascii off
    assert text.startswith('{\n  "id": ')  # pretty-printed
    assert json.loads(text)["id"] == "nhse-experience-of-care-improvement-self-assessment"


def test_default_rating_scale_is_five_maturity_levels(framework, data):
    assert sorted(framework.rating_values()) == [1, 2, 3, 4, 5]
    assert [lv.label for lv in framework.rating_levels] == [
        "Not started", "Emerging", "Developing", "Established", "Embedded/Leading"]
    assert all(lv.description and "\n" not in lv.description for lv in framework.rating_levels)
    assert framework.rating_label(3) == "Developing"
    assert framework.rating_label(6) is None
    assert data["rating_scale"]["note"] == "This tool's default maturity scale; the guidance defines none."


# --- The loaded framework ----------------------------------------------------------


def test_framework_fingerprint_is_sha256_of_the_exact_file_bytes(framework):
    assert framework.sha256 == hashlib.sha256(FRAMEWORK_FILE.read_bytes()).hexdigest()
    assert framework.reference() == {
        "id": "nhse-experience-of-care-improvement-self-assessment",
        "version": "1.0",
        "sha256": framework.sha256,
    }


def test_any_change_to_the_file_changes_its_fingerprint(tmp_path, framework):
    copy_file = tmp_path / "framework.json"
    copy_file.write_bytes(FRAMEWORK_FILE.read_bytes() + b"\n")
    assert load_framework(copy_file).sha256 != framework.sha256


def test_scoped_indicators_are_only_those_of_the_chosen_sections(framework):
    scoped = framework.indicators(scope=[2])
    assert [i.id for i in scoped] == [i.id for a in framework.section(2).areas for i in a.indicators]
    assert {i.section for i in scoped} == {2} and len(scoped) == 18
    assert (scoped[0].id, scoped[-1].id) == ("5a", "9c")
    assert [i.id for i in framework.indicators(scope={5, 1})][:2] == ["1a", "1b"]
    assert framework.indicators(scope=[]) == []
    assert len(framework.indicators()) == 86


def test_lookups_return_none_for_unknown_entries(framework):
    assert framework.indicator("99z") is None
    assert framework.indicator(None) is None
    assert framework.section(6) is None
    assert framework.section(4).title == "Analysing feedback"


def test_organisation_can_adapt_id_version_and_scale(data):
    data.update(id="trust-local", version="2024.2", source="Our adaptation")
    data["rating_scale"] = {"levels": [{"value": 0, "label": "No"}, {"value": 1, "label": "Yes"}]}
    fw = parse_framework(data, "abc")
    assert fw.reference() == {"id": "trust-local", "version": "2024.2", "sha256": "abc"}
    assert fw.rating_values() == {0, 1} and fw.rating_label(0) == "No"


def test_framework_module_does_not_need_flask():
    tree = ast.parse((ROOT / "ecsa" / "framework.py").read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in imported if m.split(".")[0].lower() in {"flask", "ecsa"}}


# --- Validation names the bad entry --------------------------------------------------


def _indicators(d, s=0, a=0):
    return d["sections"][s]["areas"][a]["indicators"]


BROKEN = {
    "duplicate indicator id": (
        lambda d: _indicators(d).append(dict(_indicators(d)[0])),
        "sections[0].areas[0].indicators[7].id", "appears more than once"),
    "indicator id not number-and-letter": (
        lambda d: _indicators(d, 1, 2)[3].update(id="7D"),
        "sections[1].areas[2].indicators[3].id", "area number and a letter"),
    "indicator id from another area": (
        lambda d: _indicators(d, 1, 4)[2].update(id="10x"),
        "sections[1].areas[4].indicators[2].id", "numbered for its area 9"),
    "indicator without text": (
        lambda d: _indicators(d, 2, 1)[0].pop("text"),
        "sections[2].areas[1].indicators[0].text", "is missing"),
    "indicator with blank text": (
        lambda d: _indicators(d, 4, 0)[2].update(text="  "),
        "sections[4].areas[0].indicators[2].text", "non-empty string"),
    "bullet that is not text": (
        lambda d: _indicators(d)[1]["bullets"].append(3),
        "sections[0].areas[0].indicators[1].bullets[2]", "non-empty string"),
    "duplicate area number": (
        lambda d: d["sections"][1]["areas"][1].update(number=5),
        "sections[1].areas[1].number", "appears more than once"),
    "section numbers out of order": (
        lambda d: d["sections"][3].update(number=2),
        "sections[3].number", "greater than"),
    "section without areas": (
        lambda d: d["sections"][0].update(areas=[]),
        "sections[0].areas", "non-empty list"),
    "missing version": (lambda d: d.pop("version"), "version", "is missing"),
    "framework not an object": (lambda d: [d], "$", "must be an object"),
    "a single rating level": (
        lambda d: d["rating_scale"].update(levels=d["rating_scale"]["levels"][:1]),
        "rating_scale.levels", "2 to 10 levels"),
    "too many rating levels": (
        lambda d: d["rating_scale"].update(levels=[{"value": v, "label": str(v)} for v in range(11)]),
        "rating_scale.levels", "2 to 10 levels"),
    "duplicate rating value": (
        lambda d: d["rating_scale"]["levels"][3].update(value=2),
        "rating_scale.levels[3].value", "appears more than once"),
    "rating value not an integer": (
        lambda d: d["rating_scale"]["levels"][1].update(value="2"),
        "rating_scale.levels[1].value", "integer"),
    "rating level without label": (
        lambda d: d["rating_scale"]["levels"][4].update(label=""),
        "rating_scale.levels[4].label", "non-empty string"),
    "missing rating scale": (lambda d: d.pop("rating_scale"), "rating_scale", "is missing"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_framework_is_refused_naming_the_bad_entry(data, case):
    mutate, path, problem = BROKEN[case]
    broken = copy.deepcopy(data)
    replaced = mutate(broken)
    if isinstance(replaced, list):
        broken = replaced
    with pytest.raises(FrameworkError) as err:
        parse_framework(broken, "0" * 64)
    assert str(err.value).startswith(f"{path}: ")
    assert problem in str(err.value)
    assert err.value.path == path


@pytest.mark.parametrize(
    "content", [b'{"id": "x",', b"\xff\xfe not text", b""], ids=["truncated", "binary", "empty"]
)
def test_file_that_is_not_json_is_refused_naming_the_file(tmp_path, content):
    bad = tmp_path / "framework.json"
    bad.write_bytes(content)
    with pytest.raises(FrameworkError) as err:
        load_framework(bad)
    assert str(err.value).startswith(f"{bad}: ")
    assert isinstance(err.value, ValueError)


def test_missing_file_is_refused_naming_the_file(tmp_path):
    with pytest.raises(FrameworkError, match=re.escape(str(tmp_path / "nope.json"))):
        load_framework(tmp_path / "nope.json")


def test_broken_file_on_disk_is_refused_naming_the_bad_entry(tmp_path, data):
    _indicators(data, 0, 1)[0]["id"] = "2 a"
    bad = tmp_path / "framework.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(FrameworkError, match=r'^sections\[0\]\.areas\[1\]\.indicators\[0\]\.id: "2 a"'):
        load_framework(bad)
