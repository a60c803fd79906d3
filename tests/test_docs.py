"""The README and docs/ stay true to the repository: links resolve, the README stays a front door,
and every `brewlake <command>` they show is a command `brewlake --help` lists. No Spark."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_MAX_LINES = 220

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
# `brewlake sql …`, `brewlake bronze|silver|gold`: a command word after the program name.
_COMMAND = re.compile(r"(?<![\w./-])brewlake ((?:[a-z][a-z-]*)(?:\|[a-z][a-z-]*)*)")


def _rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _prose(text: str) -> str:
    """The page without fenced blocks and code spans: where links and headings live."""
    return _CODE_SPAN.sub(" ", _FENCE.sub("", text))


def _code(text: str) -> list[str]:
    """Fenced blocks and code spans: where commands are shown."""
    blocks = [m.group(0) for m in _FENCE.finditer(text)]
    spans = [m.group(2) for m in _CODE_SPAN.finditer(_FENCE.sub("", text))]
    return blocks + spans


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = text.replace("`", "").strip().lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for match in _HEADING.finditer(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = _slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(page: Path) -> list[str]:
    prose = _prose(page.read_text(encoding="utf-8"))
    return [m.group(1) for m in _LINK.finditer(prose)] + _REFERENCE.findall(prose)


def _is_external(target: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target))


def test_the_docs_folder_has_its_pages():
    names = {page.name for page in DOCS}
    expected = {"bronze.md", "silver.md", "gold.md", "airflow.md", "operations.md", "docker.md"}
    expected |= {"benchmarks.md", "development.md", "configuration.md"}
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_relative_link_points_to_a_file_that_exists(page: Path):
    broken = []
    for target in links(page):
        if _is_external(target):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target} (no {resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {_rel(resolved)})")
    assert not broken, f"{_rel(page)}: broken links: {broken}"


def test_the_readme_links_every_docs_page():
    linked = {
        (README.parent / t.partition("#")[0]).resolve()
        for t in links(README)
        if not _is_external(t)
    }
    missing = [_rel(page) for page in DOCS if page.resolve() not in linked]
    assert not missing, f"README.md links no {missing}"


def test_the_readme_is_a_front_door():
    text = README.read_text(encoding="utf-8")
    lines = text.count("\n") + (not text.endswith("\n"))
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/"
    assert "make test" in text  # CI and the hooks give it as the test command


def test_no_notes_folder():
    assert not (ROOT / "notes").exists(), "notes belong on the issues; durable docs in docs/"


def _brewlake() -> list[str]:
    for candidate in (Path(sys.executable).with_name("brewlake"), ROOT / ".venv/bin/brewlake"):
        if candidate.is_file():
            return [str(candidate)]
    pytest.fail("no brewlake console script beside the interpreter or in .venv/bin: make setup")


@pytest.fixture(scope="module")
def commands() -> set[str]:
    out = subprocess.run(
        [*_brewlake(), "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    listing = out.split("Commands:", 1)[1]
    names = {m.group(1) for m in re.finditer(r"^  (\S+)\s", listing, re.M)}
    assert {"bronze", "silver", "gold", "sql"} <= names, out
    return names


def commands_in(text: str) -> set[str]:
    """The command words of every `brewlake <command>` in the code of a page."""
    found = set()
    for code in _code(text):
        for match in _COMMAND.finditer(code):
            found.update(match.group(1).split("|"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_brewlake_command_shown_is_a_real_command(page: Path, commands: set[str]):
    unknown = sorted(commands_in(page.read_text(encoding="utf-8")) - commands)
    assert not unknown, f"{_rel(page)} shows brewlake commands that do not exist: {unknown}"


def test_the_command_pattern_finds_what_it_should():
    text = (
        'Run `brewlake bronze|silver|gold` or `brewlake sql "SELECT 1"`; not brewlake prose,\n'
        "not `brewlake.ops.alerts`, `brewlake-defaults.conf`, `brewlake: error:`.\n"
        "```bash\ndocker compose exec airflow-scheduler brewlake status\n```\n"
    )
    assert commands_in(text) == {"bronze", "silver", "gold", "sql", "status"}
