"""How long the matrix will take, from per-step figures measured on the CI machine.

The figures are CPU seconds per combination, measured on 2026-11-22 on the 2-core CI machine
(`fastapi-template matrix --services --only ...` with the shared caches warm; see the closing
note of issue 9 and `reports/matrix.md`). Wall time is CPU time over the cores at the
utilisation the parallel steps and `--jobs` reach in practice. The project's test suite grows
with every feature, so its figure is scaled by the number of features: 1x with the two features
measured, 1.5x with all six (the assumption the budget was planned with).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Render, uv sync (reused environment), bandit, semgrep (~3 s), hadolint, schemas, ruff, mypy
# (warm slot cache), the Alembic cycles on SQLite and PostgreSQL, and the server probe.
CHECKS_CPU = 23.0
# One run of the project's pytest (embedded or services), measured with two features: 30-55 s
# depending on the combination and on how loaded the machine was; the upper half is used.
PYTEST_CPU = 50.0
MEASURED_FEATURES = 2
# With all six features merged the project's suite has 4.5x the tests of the two-feature one
# (768 against 170) and the all-features embedded run took 465 s wall on the loaded machine:
# 6 features: 1 + 4 * 0.625 = 3.5x, deliberately pessimistic for samples of smaller projects.
GROWTH_PER_FEATURE = 0.625
# One `copier update` transition: copy + commit the start render, update, compare; plus its
# share of the renders (each combination is rendered once).
TRANSITION_CPU = 2.4
# How much of the cores the matrix keeps busy (steps wait on databases, sockets, sleeps).
UTILISATION = 0.85


@dataclass(frozen=True)
class Estimate:
    combinations: int
    transitions: int
    seconds_matrix: float
    seconds_transitions: float

    @property
    def seconds(self) -> float:
        return self.seconds_matrix + self.seconds_transitions


def cores() -> int:
    return max(1, os.cpu_count() or 1)


def pytest_growth(features: int) -> float:
    return 1.0 + GROWTH_PER_FEATURE * max(0, features - MEASURED_FEATURES)


def combination_cpu(features: int, *, services: bool) -> float:
    runs = 2 if services else 1
    return CHECKS_CPU + runs * PYTEST_CPU * pytest_growth(features)


def estimate(*, combinations: int, features: int, services: bool, transitions: int = 0) -> Estimate:
    """Wall seconds for `combinations` deep checks and `transitions` toggles on this machine."""
    capacity = cores() * UTILISATION
    matrix_cpu = combinations * combination_cpu(features, services=services)
    return Estimate(
        combinations=combinations,
        transitions=transitions,
        seconds_matrix=matrix_cpu / capacity,
        seconds_transitions=transitions * TRANSITION_CPU / capacity,
    )


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"
