"""Questions and validators of copier.yml, and the template's safety settings.

Security catalogue §10: X02 (validators block injection), X04 (secret entropy source),
X01/X11/X12 (no unsafe features, minimum copier version, no symlinks).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import copier
import pytest
from packaging.version import Version

from tests.conftest import REPO_ROOT, TEMPLATE_DIR
from tests.malicious import (
    BAD_ANSWERS,
    BAD_PYTHON_VERSIONS,
    CHOICE_MESSAGE,
    VALIDATOR_MESSAGES,
    BadAnswer,
)
from tests.support import copier_config, questions

VALID = {"project_name": "Acme Orders"}


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path below `root` with its content (None for directories)."""
    return {
        path.relative_to(root).as_posix(): None if path.is_dir() else path.read_bytes()
        for path in root.rglob("*")
    }


def _assert_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: dict[str, Any], prefix: str
) -> ValueError:
    """Run a real copy with `data`; it must fail with `prefix` and write nothing anywhere."""
    outer = tmp_path / "sandbox" / "outer"
    outer.mkdir(parents=True)
    (outer / "sibling.txt").write_text("untouched\n")
    destination = outer / "project"
    # Relative paths (and a `touch pwned` that ever ran) would land inside the snapshot.
    monkeypatch.chdir(outer)
    before = _snapshot(tmp_path)

    with pytest.raises(ValueError, match=f"^{re.escape(prefix)}") as caught:
        copier.run_copy(
            str(REPO_ROOT), destination, data=data, defaults=True, quiet=True, unsafe=False
        )

    assert not destination.exists() or not any(destination.iterdir())
    assert _snapshot(tmp_path) == before, "copier wrote files although an answer was rejected"
    for escaped in (outer / "x", outer.parent / "x", tmp_path / "x", outer / "pwned"):
        assert not escaped.exists(), escaped
    return caught.value


@pytest.mark.parametrize(
    "bad", BAD_ANSWERS, ids=[f"{bad.question}={bad.value!r}"[:60] for bad in BAD_ANSWERS]
)
def test_validator_rejects_malformed_and_malicious_answers(
    bad: BadAnswer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"Validation error for question '{bad.question}': "
    error = _assert_rejected(tmp_path, monkeypatch, {**VALID, bad.question: bad.value}, prefix)

    assert any(message in str(error) for message in bad.messages), str(error)


@pytest.mark.parametrize("version", BAD_PYTHON_VERSIONS, ids=repr)
def test_unknown_python_version_is_rejected(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _assert_rejected(tmp_path, monkeypatch, {**VALID, "python_version": version}, CHOICE_MESSAGE)


def test_project_name_is_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _assert_rejected(tmp_path, monkeypatch, {}, 'Question "project_name" is required')


def test_enough_distinct_malicious_strings() -> None:
    distinct = {bad.value for bad in BAD_ANSWERS} | set(BAD_PYTHON_VERSIONS)
    assert len(distinct) >= 20
    assert {bad.question for bad in BAD_ANSWERS} == set(VALIDATOR_MESSAGES)


@pytest.mark.parametrize("question", sorted(VALIDATOR_MESSAGES))
def test_expected_messages_are_the_ones_in_copier_yml(question: str) -> None:
    validator = questions()[question]["validator"]
    for message in VALIDATOR_MESSAGES[question]:
        assert message in validator, f"{question}: message changed in copier.yml: {message!r}"


def _answers(tmp_path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Answers copier settles on for `data`, without writing anything (pretend mode)."""
    destination = tmp_path / "project"
    worker = copier.run_copy(
        str(REPO_ROOT),
        destination,
        data=data,
        defaults=True,
        quiet=True,
        unsafe=False,
        pretend=True,
    )
    assert not destination.exists()
    return dict(worker.answers.combined)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme Orders", "acme-orders"),
        ("My API v2", "my-api-v2"),
        ("Order Service", "order-service"),
        ("billing", "billing"),
        ("Foo.Bar (beta)", "foo-bar-beta"),
        ("Data_Pipeline 2", "data-pipeline-2"),
        ("Shop & Cart: v1.0!", "shop-cart-v1-0"),
        ("A" * 64, "a" * 64),
    ],
)
def test_default_slug_is_derived_from_the_name(name: str, slug: str, tmp_path: Path) -> None:
    assert _answers(tmp_path, {"project_name": name})["project_slug"] == slug


@pytest.mark.parametrize(
    "data",
    [
        {"project_slug": "orders"},
        {"project_slug": "orders-v2"},
        {"description": ""},
        {"description": "Orders, invoices & refunds: 100% async (v2)."},
        {"author_name": "Jane Doe-Smith, Platform Team"},
        {"author_email": "first.last+tag@mail.example.co.uk"},
        {"author_email": "a_b-c%d@x-y.io"},
        {"python_version": "3.11"},
        {"python_version": "3.12"},
        {"python_version": "3.13"},
    ],
    ids=repr,
)
def test_normal_answers_are_accepted(data: dict[str, Any], tmp_path: Path) -> None:
    answers = _answers(tmp_path, {**VALID, **data})

    for key, value in data.items():
        assert answers[key] == value


def test_defaults_are_valid(tmp_path: Path) -> None:
    answers = _answers(tmp_path, VALID)

    assert answers["project_slug"] == "acme-orders"
    assert answers["python_version"] == "3.11"


# Template safety settings ----------------------------------------------------------------


def _secret_questions() -> dict[str, dict[str, Any]]:
    return {name: q for name, q in questions().items() if q.get("secret")}


def test_secrets_exist() -> None:
    assert {"secret_key", "postgres_password"} <= set(_secret_questions())


@pytest.mark.parametrize("name", sorted(_secret_questions()))
def test_secret_entropy_source(name: str) -> None:
    """X04: 256 bits from copier's CSPRNG; never `random`, a seed or the 10**33 idiom."""
    question = _secret_questions()[name]
    default = str(question.get("default", ""))
    compact = re.sub(r"\s+", "", default)

    assert "(2**256)|ans_random" in compact, default
    assert re.search(r"\|hash\('sha(256|384|512)'\)", compact), default
    assert not re.search(r"(?<!ans_)random", compact), default
    assert "seed" not in compact, default
    assert not re.search(r"\d{10,}|10\*\*\d", compact), default
    assert question.get("when") is False, f"{name}: secrets are never asked nor stored"


def test_no_unsafe_template_features() -> None:
    """X01/X12: nothing that needs --trust, no external data."""
    config = copier_config()
    for key in ("_tasks", "_migrations", "_jinja_extensions", "_external_data"):
        assert key not in config, key


def test_min_copier_version_has_the_security_fixes() -> None:
    """X11: 9.17.2 is the last copier release with security fixes at the time of writing."""
    assert Version(str(copier_config()["_min_copier_version"])) >= Version("9.17.2")


def test_copier_settings_we_rely_on() -> None:
    config = copier_config()
    assert config["_subdirectory"] == "template"
    assert config["_envops"]["undefined"] == "jinja2.StrictUndefined"
    assert ".env" in config["_skip_if_exists"]
    # A non-default answers file breaks a bare `copier update`.
    assert config.get("_answers_file", ".copier-answers.yml") == ".copier-answers.yml"


def test_no_symlinks_in_template() -> None:
    """X12: a symlink could point outside the destination."""
    links = [
        os.path.join(directory, entry)
        for directory, dirs, files in os.walk(TEMPLATE_DIR)
        for entry in (*dirs, *files)
        if os.path.islink(os.path.join(directory, entry))
    ]
    assert links == []
