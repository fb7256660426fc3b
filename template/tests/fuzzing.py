"""Fuzzing profiles, and the count of examples the run reports (tests/conftest.py).

FUZZ_PROFILE=quick (the default) gives every operation 20 examples per generation mode with a
fixed seed, so CI is quick and reproducible; FUZZ_PROFILE=deep (`make fuzz`, nightly) gives
1000 random ones. After the tests pytest prints `fuzz: N examples over M operations (profile
P)`: Hypothesis stops early when an operation's inputs run out, so N is what really ran.
"""

import os
from dataclasses import dataclass
from typing import cast

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# The name of the test report property (pytest's `record_property`) that carries the count.
EXAMPLES_PROPERTY = "fuzz_examples"


@dataclass(frozen=True)
class FuzzProfile:
    name: str
    examples: int  # per operation and generation mode
    derandomize: bool

    def settings(self) -> hypothesis_settings:
        return hypothesis_settings(
            max_examples=self.examples,
            deadline=None,
            database=None,
            derandomize=self.derandomize,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )


PROFILES = {
    "quick": FuzzProfile("quick", examples=20, derandomize=True),
    "deep": FuzzProfile("deep", examples=1000, derandomize=False),
}


def selected_profile() -> FuzzProfile:
    name = os.environ.get("FUZZ_PROFILE") or "quick"
    if name not in PROFILES:
        raise pytest.UsageError(f"FUZZ_PROFILE={name!r}: choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


PROFILE = selected_profile()


def summary_line(reports: list[pytest.TestReport]) -> str | None:
    """The run's fuzz summary from the test reports, or None when no fuzz test ran."""
    counts: dict[str, int] = {}
    for report in reports:
        for name, value in report.user_properties:
            if name == EXAMPLES_PROPERTY:
                operation, examples = cast(tuple[str, int], value)
                counts[operation] = counts.get(operation, 0) + examples
    if not counts:
        return None
    total = sum(counts.values())
    return f"fuzz: {total} examples over {len(counts)} operations (profile {PROFILE.name})"
