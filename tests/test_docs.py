"""The documentation site: it builds strictly, lists every page, and documents every question.

`mkdocs build --strict` fails on a broken link or anchor, on a page missing from the nav and
on a nav entry without a page (feature pages excepted: generator/docs_site.py drops those
until they exist).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import docs_site
from tests.conftest import REPO_ROOT
from tests.support import features, questions

MKDOCS = Path(sys.executable).parent / "mkdocs"
MKDOCS_YML = REPO_ROOT / "mkdocs.yml"
DOCS_DIR = REPO_ROOT / "docs"
QUESTIONS_PAGE = DOCS_DIR / "questions.md"
ENV_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.MULTILINE)


class _MkDocsLoader(yaml.SafeLoader):
    """mkdocs.yml as data; `!!python/name:` and `!ENV` tags are kept as plain strings."""


_MkDocsLoader.add_multi_constructor(
    "tag:yaml.org,2002:python/", lambda loader, suffix, node: str(node.value)
)
_MkDocsLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def mkdocs_config() -> dict[str, Any]:
    data = yaml.load(MKDOCS_YML.read_text(encoding="utf-8"), Loader=_MkDocsLoader)
    assert isinstance(data, dict)
    return data


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    assert MKDOCS.is_file(), "mkdocs comes with the `docs` dependency group (uv sync)"
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "true"},
    )


def test_site_builds_strictly(tmp_path: Path) -> None:
    result = build(MKDOCS_YML, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    for page in DOCS_DIR.rglob("*.md"):
        target = docs / page.relative_to(DOCS_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    with (docs / "index.md").open("a", encoding="utf-8") as index:
        index.write("\nSee [the missing page](no-such-page.md).\n")
    config = tmp_path / "mkdocs.yml"
    text = MKDOCS_YML.read_text(encoding="utf-8")
    text = text.replace("docs_dir: docs", f"docs_dir: {docs}")
    text = text.replace("generator/docs_site.py", str(REPO_ROOT / "generator" / "docs_site.py"))
    config.write_text(text, encoding="utf-8")

    result = build(config, tmp_path / "site")

    assert result.returncode != 0
    assert "no-such-page.md" in result.stdout + result.stderr


def test_every_page_is_in_the_nav() -> None:
    config = mkdocs_config()
    nav = docs_site.nav_pages(config["nav"])
    # Directories under exclude_docs hold reports that pages include; they are not pages.
    patterns = config["exclude_docs"].split()
    excluded = tuple(pattern.lstrip("/") for pattern in patterns)
    pages = {
        relative
        for page in DOCS_DIR.rglob("*.md")
        if not (relative := page.relative_to(DOCS_DIR).as_posix()).startswith(excluded)
    }
    assert sorted(pages - set(nav)) == [], "add these pages to `nav` in mkdocs.yml"
    assert len(nav) == len(set(nav)), "a page is listed twice in the nav"


def test_every_feature_page_has_a_nav_entry() -> None:
    nav = set(docs_site.nav_pages(mkdocs_config()["nav"]))
    missing = [docs_site.feature_page(name) for name in features()]
    assert sorted(set(missing) - nav) == []


def test_every_question_is_documented() -> None:
    """A feature by its page, any other question by a `### name` heading on the questions page."""
    headings = set(re.findall(r"^### `(\w+)`$", QUESTIONS_PAGE.read_text(encoding="utf-8"), re.M))
    undocumented = [
        f"{name} (docs/{docs_site.feature_page(name)})"
        if name in features()
        else f"{name} (a '### `{name}`' section in docs/questions.md)"
        for name in questions()
        if not (
            (DOCS_DIR / docs_site.feature_page(name)).is_file()
            if name in features()
            else name in headings
        )
    ]
    assert undocumented == [], "copier.yml questions without documentation"


def test_every_feature_setting_is_on_its_page() -> None:
    """Each variable of a feature's .env.example block is on its page, or in the README table
    that the page includes with `<!-- feature-settings: name -->`."""
    missing = []
    for name in features():
        page = DOCS_DIR / docs_site.feature_page(name)
        if not page.is_file():
            continue  # test_every_question_is_documented fails on it
        content = page.read_text(encoding="utf-8")
        if f"<!-- feature-settings: {name} -->" in content:
            content += docs_site.feature_settings_tables(name)
        missing += [
            f"{variable} on {page.name}"
            for block in docs_site.seam_blocks(docs_site.ENV_EXAMPLE, name)
            for variable in ENV_LINE.findall(block)
            if f"`{variable}`" not in content
        ]
    assert missing == []


def test_feature_settings_come_from_the_generated_readme() -> None:
    table = docs_site.feature_settings_tables("rate_limiting")
    assert table.startswith("| Variable")
    assert "`RATE_LIMIT_DEFAULT`" in table
    assert "{%" not in table
    with pytest.raises(ValueError, match=re.escape("no `| Variable |` table")):
        docs_site.feature_settings_tables("no_such_feature")


# The hooks ---------------------------------------------------------------------------------


def test_missing_feature_pages_leave_the_nav(tmp_path: Path) -> None:
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "here.md").write_text("# Here\n")
    nav = [
        {"Home": "index.md"},
        {"Features": [{"Here": "features/here.md"}, {"Later": "features/later.md"}]},
        {"Soon": [{"Later": "features/later.md"}]},
    ]
    assert docs_site.present_nav(nav, tmp_path) == [
        {"Home": "index.md"},
        {"Features": [{"Here": "features/here.md"}]},
    ]


def test_a_report_replaces_its_fallback(tmp_path: Path) -> None:
    page = "Intro\n<!-- report: reports/x.md -->\nNot there yet.\n<!-- /report -->\nEnd\n"
    assert docs_site.include_reports(page, tmp_path) == "Intro\nNot there yet.\nEnd\n"

    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "x.md").write_text("# Run\n\n```\n# not a heading\n```\n| a |\n")
    included = docs_site.include_reports(page, tmp_path)

    assert "Not there yet." not in included
    assert "Included from `reports/x.md`" in included
    assert "## Run\n" in included
    assert "\n# not a heading\n" in included
    assert included.endswith("| a |\nEnd\n")


@pytest.mark.parametrize("page", ["performance.md", "matrix.md"])
def test_report_pages_include_their_report(page: str) -> None:
    blocks = docs_site.REPORT_BLOCK.findall((DOCS_DIR / page).read_text(encoding="utf-8"))
    assert len(blocks) == 1
