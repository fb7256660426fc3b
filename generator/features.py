"""Feature toggles and their combinations, derived from copier.yml (the one source of truth).

A *feature* is a yes/no question the user is asked: a question of `type: bool` (or a shorthand
question whose default is a bool) that is not hidden with `when: false`. Computed flags such as
`needs_redis` carry `when: false` and are therefore never features.

A *combination* maps every feature, in copier.yml order, to on/off. Its stable id lists the
enabled features in copier.yml order joined by "+", or is "base" when none is enabled.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COPIER_YML_NAMES = ("copier.yml", "copier.yaml")
BASE_ID = "base"
ID_SEPARATOR = "+"

Combination = dict[str, bool]
Questions = dict[str, dict[str, Any]]


class FeatureError(ValueError):
    """An unknown feature name or an invalid combination id."""


class TemplateNotFoundError(FileNotFoundError):
    """No copier.yml where a template was expected."""


def default_template_dir() -> Path:
    """The template this package belongs to: the repository root that holds copier.yml."""
    root = REPO_ROOT
    find_copier_yml(root)
    return root


def find_copier_yml(template_dir: Path) -> Path:
    """Return the path of the template's copier.yml (or copier.yaml)."""
    for name in COPIER_YML_NAMES:
        candidate = template_dir / name
        if candidate.is_file():
            return candidate
    raise TemplateNotFoundError(f"no copier.yml in {template_dir}")


class _CopierYamlLoader(yaml.SafeLoader):
    """Safe loader that tolerates copier's `!include` tag (included files are not followed)."""


def _ignore_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> None:
    return None


_CopierYamlLoader.add_multi_constructor("!", _ignore_tag)


def load_questions(copier_yml: Path) -> Questions:
    """Questions of a copier.yml in file order, shorthand `name: default` normalised to a dict.

    Keys starting with "_" are settings, not questions. Several YAML documents are merged the way
    copier merges them (later documents win).
    """
    merged: dict[str, Any] = {}
    with copier_yml.open(encoding="utf-8") as stream:
        for document in yaml.load_all(stream, Loader=_CopierYamlLoader):
            if document is None:
                continue
            if not isinstance(document, dict):
                raise ValueError(f"{copier_yml}: expected a mapping at the top level")
            merged.update(document)
    questions: Questions = {}
    for key, value in merged.items():
        if not isinstance(key, str) or key.startswith("_"):
            continue
        questions[key] = dict(value) if isinstance(value, dict) else {"default": value}
    return questions


def _is_hidden(details: Mapping[str, Any]) -> bool:
    when = details.get("when", True)
    if isinstance(when, str):
        return when.strip().lower() == "false"
    return when is False


def _is_bool(details: Mapping[str, Any]) -> bool:
    kind = details.get("type")
    if kind is None:
        return isinstance(details.get("default"), bool)
    return bool(kind == "bool")


def feature_names(questions: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """The feature questions: asked `bool` questions, in copier.yml order."""
    return tuple(
        name for name, details in questions.items() if _is_bool(details) and not _is_hidden(details)
    )


def template_features(template_dir: Path | None = None) -> tuple[str, ...]:
    """Features of a local template directory (default: this repository)."""
    root = default_template_dir() if template_dir is None else template_dir
    return feature_names(load_questions(find_copier_yml(root)))


def make_combination(features: Sequence[str], enabled: Iterable[str]) -> Combination:
    """The combination of `features` with exactly `enabled` switched on."""
    chosen = set(enabled)
    unknown = sorted(chosen.difference(features))
    if unknown:
        known = ", ".join(features) or "none"
        raise FeatureError(f"unknown feature {', '.join(map(repr, unknown))} (known: {known})")
    return {name: name in chosen for name in features}


def combination_id(combination: Mapping[str, bool]) -> str:
    """Stable id: enabled features in copier.yml order joined by "+", or "base"."""
    enabled = [name for name, on in combination.items() if on]
    return ID_SEPARATOR.join(enabled) if enabled else BASE_ID


def parse_combination_id(features: Sequence[str], combo_id: str) -> Combination:
    """The combination an id names; features may be listed in any order."""
    text = combo_id.strip()
    if text == BASE_ID:
        return make_combination(features, ())
    parts = [part.strip() for part in text.split(ID_SEPARATOR)]
    if not text or any(not part for part in parts):
        raise FeatureError(f"invalid combination id {combo_id!r}")
    if len(set(parts)) != len(parts):
        raise FeatureError(f"invalid combination id {combo_id!r}: a feature is repeated")
    return make_combination(features, parts)


def all_combinations(features: Sequence[str]) -> list[Combination]:
    """All 2^n combinations: base first, then by number of enabled features, in copier.yml order."""
    return [
        make_combination(features, enabled)
        for size in range(len(features) + 1)
        for enabled in itertools.combinations(features, size)
    ]


def representative_combinations(features: Sequence[str]) -> list[Combination]:
    """A few combinations worth a deep check on every test run: none and all features."""
    combos = [make_combination(features, ()), make_combination(features, features)]
    unique: dict[str, Combination] = {combination_id(combo): combo for combo in combos}
    return list(unique.values())


def value_pairs(combinations: Iterable[Mapping[str, bool]]) -> set[tuple[str, bool, str, bool]]:
    """Every (feature a, value, feature b, value) that some combination shows, a before b."""
    pairs: set[tuple[str, bool, str, bool]] = set()
    for combo in combinations:
        items = list(combo.items())
        for (first, first_on), (second, second_on) in itertools.combinations(items, 2):
            pairs.add((first, first_on, second, second_on))
    return pairs


def covering_combinations(features: Sequence[str]) -> list[Combination]:
    """A sample for when the full matrix does not fit a CI budget.

    It holds all features off, all on, each feature alone, each feature left out of all on, and
    then (greedily) whatever else it takes until every pair of values of every two features
    appears together at least once ("pairwise covering"). Features that break each other, or
    only work together, show up in one of these; the full 2^n matrix runs on the GitHub
    workflow's shards.
    """
    return _with_every_pair(
        features,
        [
            make_combination(features, ()),
            make_combination(features, features),
            *(make_combination(features, (name,)) for name in features),
            *(make_combination(features, set(features) - {name}) for name in features),
        ],
    )


def pairwise_combinations(features: Sequence[str]) -> list[Combination]:
    """The smallest sample the CI machine falls back to: all off, all on, each feature alone.

    With yes/no features these already put every pair of values of every two features
    together (both on: all on; both off: all off; one on: that one alone), so the greedy fill
    adds nothing; it stays as a guard.
    """
    return _with_every_pair(
        features,
        [
            make_combination(features, ()),
            make_combination(features, features),
            *(make_combination(features, (name,)) for name in features),
        ],
    )


def _with_every_pair(features: Sequence[str], wanted: Sequence[Combination]) -> list[Combination]:
    chosen: dict[str, Combination] = {}
    for combo in wanted:
        chosen.setdefault(combination_id(combo), combo)
    every_pair = value_pairs(all_combinations(features))
    candidates = all_combinations(features)
    while missing := every_pair - value_pairs(chosen.values()):
        best = max(candidates, key=lambda combo: len(value_pairs([combo]) & missing))
        chosen[combination_id(best)] = best
    return list(chosen.values())
