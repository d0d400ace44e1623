"""The documentation stays true to the code and to itself.

- Every field of `shared.settings.Settings` has a row in a settings table of
  docs/configuration.md (or README.md): its variable `BENCH_<FIELD>`, its default as the code has
  it, and its meaning; every variable such a table names is a real setting.
- Every relative link in the repository's Markdown (README.md, docs/, examples/, scripts/, deploy/)
  points to a file that exists, and every `#anchor` into a Markdown file matches one of its
  headings, slugged as GitHub does.
- The README's table of contents lists each of its sections and every page of docs/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
SETTINGS_DOCS = (CONFIGURATION, README)
"""Where a setting may be documented: a table whose header is `| variable | default | meaning |`."""
MARKDOWN_FOLDERS = ("docs", "examples", "scripts", "deploy")

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


# --- Markdown, read as GitHub renders it --------------------------------------------------------


def shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks."""
    lines, fence = [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if match := FENCE.match(line):
            marker = match.group(1)
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
            continue
        if fence is None:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text in lower case, punctuation other than
    '-' and '_' dropped, each space a '-'."""
    text = INLINE_LINK.sub(lambda m: m.group(1), heading)  # a link in a heading renders as its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    return "".join(ch for ch in text if ch.isalnum() or ch in "-_ ").replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors a Markdown file has: one per heading (repeats get -1, -2, ... as on GitHub),
    and explicit `<a id=...>` ones."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose_lines(path):
        found.update(HTML_ANCHOR.findall(line))
        if match := HEADING.match(line):
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def headings(path: Path, level: int) -> list[str]:
    return [m.group(2) for _, line in prose_lines(path) if (m := HEADING.match(line)) and len(m.group(1)) == level]


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{shown(self.source)}:{self.line}: ({self.target})"


def links(path: Path) -> list[Link]:
    """Every link target in the file's prose (code blocks and code spans are not links)."""
    found = []
    for number, line in prose_lines(path):
        text = CODE_SPAN.sub("", line)
        targets = [m.group(2) for m in INLINE_LINK.finditer(text)]
        if match := REFERENCE_DEFINITION.match(text):
            targets.append(match.group(1))
        found += [Link(path, number, target) for target in targets]
    return found


def markdown_files() -> list[Path]:
    files = [README]
    for folder in MARKDOWN_FOLDERS:
        files += sorted((ROOT / folder).rglob("*.md"))
    return files


def relative_links() -> list[Link]:
    return [link for path in markdown_files() for link in links(path) if not SCHEME.match(link.target)]


# --- the tests on links -------------------------------------------------------------------------


def test_the_markdown_files_are_found_and_have_links() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in markdown_files()}
    assert {"README.md", "docs/configuration.md", "docs/spec.md", "docs/performance.md"} <= names
    assert len(relative_links()) > 50


@pytest.mark.parametrize("link", relative_links(), ids=str)
def test_relative_link_points_to_an_existing_file(link: Link) -> None:
    path_part, _, anchor = link.target.partition("#")
    assert not path_part.startswith("/"), f"{link}: use a path relative to the file, not to the site root"
    target = (link.source.parent / path_part).resolve() if path_part else link.source
    assert target.is_relative_to(ROOT), f"{link}: points outside the repository"
    assert target.exists(), f"{link}: {target.relative_to(ROOT)} does not exist"
    if anchor and target.suffix == ".md":
        assert anchor in anchors(target), (
            f"{link}: {target.relative_to(ROOT)} has no heading with the anchor #{anchor}; "
            f"it has: {', '.join(sorted(anchors(target)))}"
        )


def test_slugs_follow_github() -> None:
    assert slug("The distributed shape: four services over Kafka, reports in MongoDB") == (
        "the-distributed-shape-four-services-over-kafka-reports-in-mongodb"
    )
    assert slug("HTTP API (gateway; OpenAPI docs at `/docs`)") == "http-api-gateway-openapi-docs-at-docs"
    assert slug("API keys, credentials and quotas in production") == "api-keys-credentials-and-quotas-in-production"
    assert slug("Who and why: every benchmark records its trigger") == "who-and-why-every-benchmark-records-its-trigger"
    assert slug("snake_case and kebab-case [see](x.md)") == "snake_case-and-kebab-case-see"


def test_anchors_skip_code_blocks_and_number_repeated_headings(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n```bash\n# not a heading\n```\n\n## Settings\n\n## Settings\n", encoding="utf-8")
    assert anchors(page) == {"title", "settings", "settings-1"}


def test_links_in_code_are_not_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('[a](a.md) `[b](b.md)`\n```\n[c](c.md)\n```\n[d]: d.md\n![e](e.png "title")\n', encoding="utf-8")
    assert [link.target for link in links(page)] == ["a.md", "d.md", "e.png"]


# --- the README's table of contents --------------------------------------------------------------


def contents_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Contents\n(.*?)^## ", text, re.DOTALL | re.MULTILINE)
    assert match, "README.md has no '## Contents' section"
    return match.group(1)


def test_readme_contents_lists_every_section() -> None:
    listed = {link.partition("#")[2] for link in re.findall(r"\]\((#[^)]+)\)", contents_section())}
    missing = [heading for heading in headings(README, 2) if heading != "Contents" and slug(heading) not in listed]
    assert not missing, f"README.md's Contents does not list: {missing}"


def test_readme_contents_links_every_page_of_docs() -> None:
    listed = set(re.findall(r"\]\(docs/([^)#]+\.md)\)", contents_section()))
    pages = {path.name for path in DOCS.glob("*.md")}
    assert pages <= listed, f"README.md's Contents does not link docs/{', docs/'.join(sorted(pages - listed))}"


def test_readme_keeps_the_two_set_up_commands_near_the_top() -> None:
    top = "\n".join(README.read_text(encoding="utf-8").splitlines()[:40])
    assert "scripts/quickstart.sh" in top and "scripts/test.sh" in top


# --- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    source: Path
    variable: str
    default: str
    meaning: str


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def settings_rows() -> list[Row]:
    """Rows of the tables headed `| variable | default | meaning |` whose first cell is one variable."""
    rows = []
    for path in SETTINGS_DOCS:
        header: list[str] | None = None
        for _, line in prose_lines(path):
            if not line.lstrip().startswith("|"):
                header = None
                continue
            if header is None:
                header = cells(line)
                continue
            row = cells(line)
            if header == ["variable", "default", "meaning"] and (match := re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", row[0])):
                rows.append(Row(path, match.group(1), row[1], row[2]))
    return rows


def env_name(name: str, field: FieldInfo) -> str:
    if isinstance(field.validation_alias, str):
        return field.validation_alias.upper()
    return f"{Settings.model_config.get('env_prefix', '')}{name}".upper()


def expected_defaults(field: FieldInfo) -> tuple[str, ...] | None:
    """How a default cell may start for this field's default; None: not checked (a per-user path)."""
    value = field.get_default(call_default_factory=True)
    if isinstance(value, Path):
        return None
    if value is None or isinstance(value, SecretStr):
        return ("unset",)
    if isinstance(value, bool):
        return (f"`{str(value).lower()}`",)
    if isinstance(value, int | float):
        number = int(value) if float(value).is_integer() else value
        return (f"`{number}`",)
    if value == "" or value == []:
        return ("empty",)
    if isinstance(value, str):
        return (f"`{value}`",)
    return (f"`{json.dumps(value)}`",)


SETTINGS = {env_name(name, field): field for name, field in Settings.model_fields.items()}


def test_settings_tables_are_found() -> None:
    assert len(settings_rows()) >= 40


@pytest.mark.parametrize("variable", sorted(SETTINGS))
def test_every_setting_is_documented_with_its_default(variable: str) -> None:
    rows = [row for row in settings_rows() if row.variable == variable]
    assert rows, (
        f"{variable} (a field of shared.settings.Settings) is not documented: add a row "
        f"`| `{variable}` | default | meaning |` to docs/configuration.md"
    )
    expected = expected_defaults(SETTINGS[variable])
    for row in rows:
        assert row.meaning, f"{shown(row.source)}: {variable} has no meaning"
        if expected is not None:
            assert row.default.startswith(expected), (
                f"{shown(row.source)} gives {variable} the default {row.default!r}; the code's is {' or '.join(expected)}"
            )


def test_every_documented_setting_exists() -> None:
    stale = sorted({row.variable for row in settings_rows()} - set(SETTINGS))
    assert not stale, f"documented as settings but not fields of shared.settings.Settings: {stale}"
