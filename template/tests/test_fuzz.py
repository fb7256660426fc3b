"""Property-based API fuzzing: schemathesis against the app in-process, no server.

Every operation gets generated valid requests (they must succeed or fail as documented) and
invalid ones (they must be rejected with a 4xx). All of schemathesis' default checks apply,
plus one of ours: no body ever shows a stack trace, SQL, a driver name or a secret.
FUZZ_PROFILE chooses how many examples (tests/fuzzing.py): quick and reproducible by default,
`deep` (1000 random examples per operation and mode) for `make fuzz` and nightly runs.
"""

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.core.config import Settings
from app.main import create_app
from tests.conftest import credentials, make_settings
from tests.fuzzing import EXAMPLES_PROPERTY, PROFILE, selected_profile

LEAK = re.compile(
    r"Traceback|File \"|sqlalchemy|asyncpg|aiosqlite|sqlite3|psycopg|"
    # The word in prose ("password is hunter2"), not a field name such as "new_password".
    r"\bSELECT\b|\bINSERT\b|\bUPDATE\b|(?<![\w\"])(?:password|secret)(?![\w\"])",
    re.IGNORECASE,
)
# Operations marked with this OpenAPI extension refuse some schema-valid input by a rule the
# schema cannot state (a list of common passwords, say); positive data may then be refused.
REFUSES_SOME_VALID_INPUT = "x-refuses-some-valid-input"
# Operations listed from the app's routes alone (no database needed to build the schema).
# Negative data needs something to be wrong: operations without inputs get positive data only.
CASES = [
    (method.upper(), path, mode)
    for path, item in create_app(make_settings()).openapi()["paths"].items()
    for method, operation in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or "parameters" in operation or "requestBody" in operation
]


@schemathesis.check
def no_internal_details(ctx: Any, response: Any, case: Any) -> bool | None:
    # A problem's `instance` echoes the path the client asked for, which may name a route
    # about passwords (/api/auth/password-reset): what the client sent leaks nothing.
    text = (response.text or "").replace(urlsplit(response.request.url).path, "")
    if LEAK.search(text):
        raise AssertionError(f"The response leaks internal details: {response.text[:300]}")
    return None


def _parameter_names(operation: Any) -> set[str]:
    return {parameter.name for parameter in operation.iter_parameters()}


@pytest.fixture(scope="module")
def api_schema(settings: Settings) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))


@pytest.fixture
async def headers(settings: Settings) -> dict[str, str]:
    """An administrator's credentials where the API needs them: every operation is reachable."""
    return await credentials(settings, "admin")


@pytest.mark.parametrize(
    ("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode.value}" for m, p, mode in CASES]
)
def test_operation(
    api_schema: Any,
    headers: dict[str, str],
    record_property: Any,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = api_schema[path][method]
    # A cursor is opaque: only one the API issued is valid, so a schema-valid random string is
    # rightly refused; tests/items cover real cursors.
    unstated_rule = REFUSES_SOME_VALID_INPUT in operation.definition.raw
    cursor = "cursor" in _parameter_names(operation)
    excluded = [positive_data_acceptance] if cursor or unstated_rule else []

    examples = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @PROFILE.settings()
    def fuzz(case: Any) -> None:
        nonlocal examples
        examples += 1
        if mode is GenerationMode.POSITIVE and case.headers and "idempotency-key" in case.headers:
            # Generated keys repeat across examples with other bodies, which the API rightly
            # refuses (422); a valid request is one with a key of its own.
            case.headers["idempotency-key"] = uuid.uuid4().hex
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    try:
        fuzz()
    finally:
        record_property(EXAMPLES_PROPERTY, (f"{method} {path}", examples))


def test_profiles_are_chosen_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUZZ_PROFILE", "deep")
    assert selected_profile().examples >= 1000
    assert not selected_profile().derandomize
    monkeypatch.delenv("FUZZ_PROFILE")
    assert selected_profile().name == "quick"
    monkeypatch.setenv("FUZZ_PROFILE", "thorough")
    with pytest.raises(pytest.UsageError, match="quick, deep"):
        selected_profile()
