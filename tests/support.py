"""Helpers for the template tests: copier.yml as data, the combinations, rendered files."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from generator.features import (
    Combination,
    all_combinations,
    combination_id,
    feature_names,
    load_questions,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
COPIER_YML = REPO_ROOT / "copier.yml"


@functools.cache
def copier_config() -> Mapping[str, Any]:
    """copier.yml as plain data (settings and questions)."""
    data = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "copier.yml must be a mapping"
    return data


def questions() -> dict[str, dict[str, Any]]:
    """The questions of copier.yml, shorthand forms normalised to dicts."""
    return load_questions(COPIER_YML)


def features() -> tuple[str, ...]:
    """The yes/no feature questions (bool questions that are asked)."""
    return feature_names(questions())


def combinations() -> list[Combination]:
    """Every feature combination, as the generator enumerates it (just `{}` without features)."""
    return all_combinations(features())


def combo_id(combination: Combination) -> str:
    return combination_id(combination)


def iter_files(root: Path) -> Iterator[Path]:
    """Every regular file below `root`, skipping a .git directory."""
    for path in sorted(root.rglob("*")):
        if ".git" in path.relative_to(root).parts:
            continue
        if path.is_file() and not path.is_symlink():
            yield path


def text_files(root: Path) -> Iterator[tuple[Path, str]]:
    """(path, text) of every UTF-8 text file below `root` (binary files are skipped)."""
    for path in iter_files(root):
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            yield path, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def parse_env(path: Path) -> dict[str, str]:
    """Variables of a dotenv file: `KEY=value` lines, optional quotes, # comments skipped."""
    variables: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENV_LINE.match(stripped)
        assert match, f"{path.name}:{number}: not a KEY=value line: {line!r}"
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        variables[key] = value
    return variables
