"""MkDocs hooks for the documentation site (mkdocs.yml: `hooks:`), and the facts they use.

- The nav in mkdocs.yml lists every page, including the page of each feature. A feature page
  whose file does not exist (a feature that has not landed yet) is dropped from the nav, so
  `mkdocs build --strict` passes while it is absent and shows it as soon as it is there.
- `<!-- feature-questions -->` in a page becomes a table of the feature questions, read from
  copier.yml, each linked to its page: a new feature shows up without editing the page.
- `<!-- feature-settings: NAME -->` in a feature page becomes the settings table(s) of that
  feature's block in the generated README (template/README.md.jinja), so the site and the
  README show one table; the generated project's tests/test_readme.py keeps that complete.
- A `<!-- report: PATH -->` ... `<!-- /report -->` block is replaced by the markdown report
  at PATH (relative to the repository root) when that file exists; otherwise the block's
  own text stays, and says how to produce the report.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from generator.features import REPO_ROOT, feature_names, find_copier_yml, load_questions

DOCS_DIR = REPO_ROOT / "docs"
GENERATED_README = REPO_ROOT / "template" / "README.md.jinja"
ENV_EXAMPLE = REPO_ROOT / "template" / ".env.example.jinja"
OPTIONAL_PAGES = "features/"
FEATURE_QUESTIONS_MARKER = "<!-- feature-questions -->"
REPORT_BLOCK = re.compile(
    r"<!-- report: (?P<path>[\w./-]+) -->\n(?P<fallback>.*?)<!-- /report -->\n?", re.DOTALL
)
FEATURE_SETTINGS_MARKER = re.compile(r"<!-- feature-settings: (\w+) -->")
# A flat `{%- if name %} ... {%- endif %}` block of a seam file (tests/test_jinja_budget.py).
SEAM_BLOCK = re.compile(r"\{%-?\s*if\s+(\w+)\s*-?%\}(.*?)\{%-?\s*endif\s*-?%\}", re.DOTALL)
_SETTINGS_TABLE = re.compile(r"^\| *Variable *\|.*\n(?:\|.*\n?)+", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^(#{1,5}) ")


def feature_page(feature: str) -> str:
    """The page of a feature, relative to docs/: `multi_tenancy` -> features/multi-tenancy.md."""
    return f"features/{feature.replace('_', '-')}.md"


def questions() -> dict[str, dict[str, Any]]:
    return load_questions(find_copier_yml(REPO_ROOT))


def features() -> tuple[str, ...]:
    return feature_names(questions())


# The nav ---------------------------------------------------------------------------------


def present_nav(nav: Any, docs_dir: Path) -> Any:
    """The nav without feature pages that do not exist yet; sections left empty go too.

    Only `features/` pages are optional: any other missing page stays, and the strict build
    fails on it.
    """
    if isinstance(nav, list):
        kept = [present_nav(entry, docs_dir) for entry in nav]
        return [entry for entry in kept if entry not in (None, [], {})]
    if isinstance(nav, dict):
        kept_dict = {title: present_nav(value, docs_dir) for title, value in nav.items()}
        return {title: value for title, value in kept_dict.items() if value not in (None, [])}
    if isinstance(nav, str) and nav.startswith(OPTIONAL_PAGES) and nav.endswith(".md"):
        return nav if (docs_dir / nav).is_file() else None
    return nav


def nav_pages(nav: Any) -> list[str]:
    """Every page path a nav names, in order."""
    if isinstance(nav, list):
        return [page for entry in nav for page in nav_pages(entry)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    if isinstance(nav, str) and nav.endswith(".md"):
        return [nav]
    return []


# Generated content -----------------------------------------------------------------------


def _one_line(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def feature_questions_table(page_dir: str, docs_dir: Path) -> str:
    """Markdown table of the feature questions; links are relative to the page's directory."""
    up = "../" * len(Path(page_dir).parts) if page_dir else ""
    lines = ["| question | default | what it adds |", "|---|---|---|"]
    all_questions = questions()
    for name in features():
        question = all_questions[name]
        page = feature_page(name)
        label = f"[`{name}`]({up}{page})" if (docs_dir / page).is_file() else f"`{name}`"
        default = str(question.get("default", False)).lower()
        lines.append(f"| {label} | `{default}` | {_one_line(question.get('help', ''))} |")
    return "\n".join(lines)


def seam_blocks(path: Path, name: str) -> list[str]:
    """The text of every flat block for `name` in a seam file."""
    text = path.read_text(encoding="utf-8")
    return [body for block_name, body in SEAM_BLOCK.findall(text) if block_name == name]


def feature_settings_tables(feature: str) -> str:
    """The settings tables of a feature's blocks in the generated README."""
    tables = [
        table.strip()
        for block in seam_blocks(GENERATED_README, feature)
        for table in _SETTINGS_TABLE.findall(block)
    ]
    if not tables:
        raise ValueError(f"no `| Variable |` table in the {feature!r} blocks of README.md.jinja")
    return "\n\n".join(tables)


def demote_headings(markdown: str) -> str:
    """Every heading one level down (outside code fences), so an included report nests."""
    lines = []
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and _HEADING.match(line):
            line = "#" + line
        lines.append(line)
    return "\n".join(lines) + "\n"


def include_reports(markdown: str, root: Path = REPO_ROOT) -> str:
    """Replace each report block by its report when the file exists."""

    def replace(match: re.Match[str]) -> str:
        path = root / match.group("path")
        if not path.is_file():
            return match.group("fallback")
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M")
        note = f"*Included from `{match.group('path')}`, written {written} UTC.*\n\n"
        return note + demote_headings(path.read_text(encoding="utf-8"))

    return REPORT_BLOCK.sub(replace, markdown)


# MkDocs hooks ----------------------------------------------------------------------------


def on_config(config: Any) -> Any:
    config["nav"] = present_nav(config["nav"], Path(config["docs_dir"]))
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if FEATURE_QUESTIONS_MARKER in markdown:
        parent = Path(page.file.src_uri).parent.as_posix()
        page_dir = "" if parent == "." else parent
        table = feature_questions_table(page_dir, Path(config["docs_dir"]))
        markdown = markdown.replace(FEATURE_QUESTIONS_MARKER, table)
    markdown = FEATURE_SETTINGS_MARKER.sub(
        lambda match: feature_settings_tables(match.group(1)), markdown
    )
    return include_reports(markdown)
