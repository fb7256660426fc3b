"""Run a rendered project's own checks: sync, lint, types, migrations and tests.

The engine is a list of small step objects run in order against one project directory; a
`Parallel` group runs its steps at the same time (they must not depend on each other). The first
failing step or group stops the run; the remaining steps are reported as skipped. Every command
runs as `uv run --no-sync <tool>` inside the project with an environment that drops the caller's
virtual environment, so the project's own environment is used even when this CLI itself runs
under `uv run`.

Repeated work is avoided without testing less: Python may write bytecode in the project's
environment (so the many interpreters a check starts import compiled modules), Alembic's four
commands run in one interpreter per database, the bundled JSON schemas are checked in one
process, and a `CheckContext.env` can point the project at a shared mypy cache and a reused
environment (see `generator.matrix`).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
MAX_REDIS_DB = 15

# Inherited variables that would point the project at another environment or other services.
# PYTHONDONTWRITEBYTECODE is dropped too: without bytecode every interpreter a check starts
# (Alembic, the server, pytest and the subprocesses of the project's tests) compiles the app and
# its dependencies again, which roughly doubles their import time.
DROPPED_ENV = (
    "PYTHONDONTWRITEBYTECODE",
    "MYPY_CACHE_DIR",
    "VIRTUAL_ENV",
    "UV_PROJECT_ENVIRONMENT",
    "ENVIRONMENT",
    "DATABASE_URL",
    "REDIS_URL",
    "TEST_DATABASE_URL",
    "TEST_REDIS_URL",
)
TAIL_LINES = 40
# Assertion lines of failed tests kept ahead of the tail (captured logs push them out of it).
ERROR_LINES = 30


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ServicesConfig:
    """Real services for the project's test suite (services mode)."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL

    def test_env(self) -> dict[str, str]:
        return {"TEST_DATABASE_URL": self.database_url, "TEST_REDIS_URL": self.redis_url}

    def with_redis_db(self, offset: int) -> ServicesConfig:
        """The same services with Redis database number `offset` above the configured one.

        Parallel matrix jobs each get their own database number, so keys, queues and flushes of
        one combination never meet another's. Redis has databases 0-15 by default.
        """
        parts = urlsplit(self.redis_url)
        base = int(parts.path.strip("/") or 0)
        number = base + offset
        if not 0 <= number <= MAX_REDIS_DB:
            raise ValueError(
                f"Redis database {number} does not exist (databases 0-{MAX_REDIS_DB}): use a "
                f"lower database number in the Redis URL or fewer parallel jobs"
            )
        return replace(self, redis_url=urlunsplit(parts._replace(path=f"/{number}")))


@dataclass(frozen=True)
class CheckContext:
    """What a step needs to know about the run it belongs to."""

    project: Path
    scratch: Path
    services: ServicesConfig | None = None
    # Extra environment for every project command, e.g. UV_PROJECT_ENVIRONMENT and
    # MYPY_CACHE_DIR of a matrix worker slot.
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        """A throw-away SQLite database for the migration steps."""
        return f"sqlite+aiosqlite:///{self.scratch / 'check.db'}"

    @property
    def venv(self) -> Path:
        """The project's environment: UV_PROJECT_ENVIRONMENT when set, else `.venv`."""
        configured = self.env.get("UV_PROJECT_ENVIRONMENT")
        return Path(configured) if configured else self.project / ".venv"


@dataclass(frozen=True)
class StepResult:
    name: str
    status: Status
    seconds: float = 0.0
    command: str = ""
    output: str = ""
    returncode: int | None = None

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last lines of the step's output."""
        return "\n".join(self.output.rstrip().splitlines()[-lines:])

    def excerpt(self, lines: int = TAIL_LINES) -> str:
        """What explains a failure: the tail, after pytest's `E   ` lines that precede it.

        A failed test's captured log can be hundreds of lines, so its assertion message ends
        up far above the tail; the short summary at the end names the test, not the reason.
        """
        output = self.output.rstrip().splitlines()
        errors = [line for line in output[:-lines] if line.startswith("E   ")][:ERROR_LINES]
        if not errors:
            return self.tail(lines)
        return "\n".join([*errors, "...", *output[-lines:]])


class Step(Protocol):
    """One check. `run` never raises for a failing check: it returns a failed result."""

    @property
    def name(self) -> str: ...

    def run(self, ctx: CheckContext) -> StepResult: ...


EnvFactory = Callable[[CheckContext], Mapping[str, str]]


def _no_env(ctx: CheckContext) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class CommandStep:
    """A command run inside the project; it passes when it exits with status 0."""

    name: str
    argv: tuple[str, ...]
    env: EnvFactory = _no_env
    timeout: float = 1800.0

    def run(self, ctx: CheckContext) -> StepResult:
        command = shlex.join(self.argv)
        started = time.monotonic()
        returncode, output = run_command(
            self.argv,
            cwd=ctx.project,
            env=project_env({**ctx.env, **self.env(ctx)}),
            timeout=self.timeout,
        )
        seconds = time.monotonic() - started
        status = Status.PASSED if returncode == 0 else Status.FAILED
        return StepResult(self.name, status, seconds, command, output, returncode)


def tool(*argv: str) -> tuple[str, ...]:
    """A tool from the project's own environment."""
    return ("uv", "run", "--no-sync", *argv)


def _migration_env(ctx: CheckContext) -> Mapping[str, str]:
    return {"DATABASE_URL": ctx.database_url}


SHUTDOWN_COMPLETE = "Application shutdown complete"


@dataclass(frozen=True)
class ServeStep:
    """Serve the project with `fastapi run` in production mode, probe it, stop it with SIGTERM.

    Passes when /health/live, /health/ready and /metrics answer 200 and the server exits
    cleanly within `shutdown_timeout` seconds of SIGTERM.
    """

    name: str = "serve"
    paths: tuple[str, ...] = ("/health/live", "/health/ready", "/metrics")
    startup_timeout: float = 60.0
    shutdown_timeout: float = 15.0

    def run(self, ctx: CheckContext) -> StepResult:
        port = _free_port()
        # The server itself, not `uv run`: uv reports a signalled child as status 143.
        server = ctx.venv / "bin" / "fastapi"
        argv = (str(server), "run", "--host", "127.0.0.1", "--port", str(port))
        # Production mode proves the generated .env passes the production guard as rendered.
        env = project_env(
            {
                **ctx.env,
                "DATABASE_URL": ctx.database_url,
                "ENVIRONMENT": "production",
                "PYTHONUNBUFFERED": "1",
            }
        )
        started = time.monotonic()
        log_path = ctx.scratch / "serve.log"
        with log_path.open("w") as log_file:
            process = subprocess.Popen(
                list(argv),
                cwd=ctx.project,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=_POSIX,
            )
            try:
                lines = self._probe(port, process)
            finally:
                returncode = self._stop(process)
        log = log_path.read_text(errors="replace")
        ok = len(lines) == len(self.paths) and all(line.endswith(" 200") for line in lines)
        # uvicorn re-raises SIGTERM once its graceful shutdown is done, so -SIGTERM is clean too.
        if returncode not in (0, -signal.SIGTERM) or SHUTDOWN_COMPLETE not in log:
            lines.append(f"no graceful shutdown after SIGTERM (exit status {returncode})")
            ok = False
        output = log + "\n" + "\n".join(lines)
        status = Status.PASSED if ok else Status.FAILED
        seconds = time.monotonic() - started
        return StepResult(self.name, status, seconds, shlex.join(argv), output, returncode)

    def _probe(self, port: int, process: subprocess.Popen[bytes]) -> list[str]:
        deadline = time.monotonic() + self.startup_timeout
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline and process.poll() is None:
            if _http_status(base + self.paths[0]) is not None:
                break
            time.sleep(0.25)
        return [f"GET {path} {_http_status(base + path)}" for path in self.paths]

    def _stop(self, process: subprocess.Popen[bytes]) -> int | None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=self.shutdown_timeout)
        except subprocess.TimeoutExpired:
            if _POSIX:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _embedded_pytest_env(ctx: CheckContext) -> Mapping[str, str]:
    return {"ENVIRONMENT": "test"}


def _services_pytest_env(ctx: CheckContext) -> Mapping[str, str]:
    if ctx.services is None:
        raise ValueError("services mode needs a ServicesConfig")
    return {"ENVIRONMENT": "test", **ctx.services.test_env()}


def linter(name: str, *args: str) -> tuple[str, ...]:
    """A linter from the environment of this CLI (the `lint` group), not from the project."""
    return (str(Path(sys.executable).parent / name), *args)


# semgrep pins click below what check-jsonschema needs, so it cannot share the `lint` group: it
# runs through uvx at the version the rendered Makefile and CI pin (tests/test_semgrep.py).
SEMGREP = "semgrep==1.180.0"
SEMGREP_SCAN = (
    "uvx",
    SEMGREP,
    "scan",
    "--config",
    ".semgrep.yml",
    "--error",
    "--metrics",
    "off",
    "--disable-version-check",
    "--quiet",
    "app",
    "migrations",
)

RUNNERS = Path(__file__).resolve().parent / "runners"

# Files of every rendered project and the bundled check-jsonschema schema each must satisfy.
SCHEMAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "vendor.github-workflows",
        (".github/workflows/ci.yml", ".github/workflows/template-update.yml"),
    ),
    ("vendor.compose-spec", ("compose.yaml",)),
    ("vendor.dependabot", (".github/dependabot.yml",)),
)


@dataclass(frozen=True)
class AlembicStep:
    """`alembic upgrade heads`, `check`, `downgrade base`, `upgrade heads` in one interpreter.

    Always on a throw-away SQLite database; in services mode also on a fresh PostgreSQL database
    of its own (created and dropped by the runner), so parallel combinations never share one.
    """

    name: str = "alembic"
    timeout: float = 900.0

    def argv(self, ctx: CheckContext) -> tuple[str, ...]:
        targets = [ctx.database_url]
        if ctx.services is not None:
            targets.append(f"server:{ctx.services.database_url}")
        return tool("python", str(RUNNERS / "alembic_cycle.py"), *targets)

    def run(self, ctx: CheckContext) -> StepResult:
        return CommandStep(self.name, self.argv(ctx), timeout=self.timeout).run(ctx)


def schemas_step() -> CommandStep:
    """The rendered workflows, compose file and dependabot config against their schemas."""
    pairs = [f"{schema}={','.join(files)}" for schema, files in SCHEMAS]
    return CommandStep("schemas", (sys.executable, str(RUNNERS / "schemas.py"), *pairs))


@dataclass(frozen=True)
class Parallel:
    """Steps that run at the same time; they must not depend on each other's effects."""

    steps: tuple[Step, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)


Plan = Sequence["Step | Parallel"]


def flatten(plan: Plan) -> list[Step]:
    """Every step of a plan, in order."""
    return [
        step for item in plan for step in (item.steps if isinstance(item, Parallel) else (item,))
    ]


PYTEST = ("pytest", "-p", "no:cacheprovider")


def default_plan(*, services: bool = False) -> list[Step | Parallel]:
    """The checks every rendered project must pass: three groups of independent steps.

    1. `uv sync`, and the linters that read the rendered files only (bandit, semgrep, hadolint,
       schemas);
    2. ruff, mypy and the Alembic cycles, which need the environment;
    3. the server probe (on the database the Alembic step left migrated) and the project's
       pytest, embedded and (services mode) against PostgreSQL and Redis, side by side: each
       run creates its own databases.
    """
    tests: list[Step] = [ServeStep(), CommandStep("pytest", tool(*PYTEST), _embedded_pytest_env)]
    if services:
        tests.append(CommandStep("pytest services", tool(*PYTEST), _services_pytest_env))
    return [
        Parallel(
            (
                CommandStep("uv sync", ("uv", "sync", "--all-groups")),
                # What the generated CI's security job and `make security` run.
                CommandStep("bandit", linter("bandit", "-q", "-r", "app", "-ll")),
                CommandStep("semgrep", SEMGREP_SCAN),
                CommandStep("hadolint", linter("hadolint", "Dockerfile")),
                schemas_step(),
            )
        ),
        Parallel(
            (
                CommandStep("ruff check", tool("ruff", "check", ".")),
                CommandStep("ruff format", tool("ruff", "format", "--check", ".")),
                CommandStep("mypy", tool("mypy", ".")),
                AlembicStep(),
            )
        ),
        Parallel(tuple(tests)),
    ]


def default_steps(*, services: bool = False) -> list[Step]:
    """The steps of `default_plan`, in order."""
    return flatten(default_plan(services=services))


@dataclass(frozen=True)
class ProjectReport:
    project: Path
    results: tuple[StepResult, ...]
    mode: str = "embedded"
    # Wall time from start to end; less than `seconds` when steps ran side by side.
    elapsed: float | None = None

    @property
    def wall(self) -> float:
        return self.seconds if self.elapsed is None else self.elapsed

    @property
    def ok(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failed(self) -> StepResult | None:
        """The first failing step, if any."""
        return next((r for r in self.results if r.status is Status.FAILED), None)

    @property
    def seconds(self) -> float:
        return sum(result.seconds for result in self.results)

    def result(self, name: str) -> StepResult | None:
        return next((r for r in self.results if r.name == name), None)


StepCallback = Callable[[str, StepResult | None], None]


def check_project(
    path: Path,
    *,
    services: ServicesConfig | None = None,
    steps: Plan | None = None,
    on_step: StepCallback | None = None,
    env: Mapping[str, str] | None = None,
) -> ProjectReport:
    """Run the checks of the project in `path`; stop at the first failing step or group.

    `services=None` is embedded mode (SQLite, in-memory backends); a `ServicesConfig` runs the
    project's tests against real PostgreSQL and Redis. `steps` may hold `Parallel` groups.
    `on_step(name, None)` is called when a step starts and `on_step(name, result)` when it ends
    (also for skipped steps). `env` is added to the environment of every project command.
    """
    project = path.resolve()
    chosen = default_plan(services=services is not None) if steps is None else list(steps)
    by_step: dict[int, StepResult] = {}
    lock = threading.Lock()

    def report(name: str, result: StepResult | None) -> None:
        if on_step is not None:
            with lock:
                on_step(name, result)

    def run_one(step: Step, ctx: CheckContext) -> StepResult:
        report(step.name, None)
        result = _run_step(step, ctx)
        report(step.name, result)
        return result

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fastapi-template-check-") as scratch:
        ctx = CheckContext(project=project, scratch=Path(scratch), services=services, env=env or {})
        failed = False
        for item in chosen:
            group = item.steps if isinstance(item, Parallel) else (item,)
            if failed:
                for step in group:
                    by_step[id(step)] = StepResult(step.name, Status.SKIPPED)
                    report(step.name, by_step[id(step)])
                continue
            if len(group) == 1:
                results = [run_one(group[0], ctx)]
            else:
                with ThreadPoolExecutor(len(group), thread_name_prefix="step") as pool:
                    results = list(pool.map(lambda step: run_one(step, ctx), group))
            for step, result in zip(group, results, strict=True):
                by_step[id(step)] = result
            failed = not all(result.passed for result in results)
    ordered = tuple(by_step[id(step)] for step in flatten(chosen))
    mode = "embedded" if services is None else "services"
    elapsed = time.monotonic() - started
    return ProjectReport(project=project, results=ordered, mode=mode, elapsed=elapsed)


def _run_step(step: Step, ctx: CheckContext) -> StepResult:
    started = time.monotonic()
    try:
        return step.run(ctx)
    except Exception as error:  # a broken step must not abort the whole report
        seconds = time.monotonic() - started
        message = f"{type(error).__name__}: {error}"
        return StepResult(step.name, Status.FAILED, seconds, output=message)


def skipped_results(steps: Iterable[Step]) -> tuple[StepResult, ...]:
    return tuple(StepResult(step.name, Status.SKIPPED) for step in steps)


def with_prefix(report: ProjectReport, *results: StepResult) -> ProjectReport:
    """The report with extra results (such as a render step) before its own."""
    elapsed = None if report.elapsed is None else report.elapsed + sum(r.seconds for r in results)
    return replace(report, results=(*results, *report.results), elapsed=elapsed)


# Subprocesses -----------------------------------------------------------------------------------


def project_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without its virtualenv and service settings, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key not in DROPPED_ENV}
    env.update(extra or {})
    return env


@dataclass
class _Registry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: set[subprocess.Popen[str]] = field(default_factory=set)


_REGISTRY = _Registry()
_POSIX = sys.platform != "win32"


def _kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    try:
        if _POSIX:
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover
            process.kill()
    except (ProcessLookupError, PermissionError):  # pragma: no cover
        pass


def terminate_running() -> None:
    """Kill every command still running (and its children), e.g. after Ctrl-C."""
    with _REGISTRY.lock:
        processes = list(_REGISTRY.running)
    for process in processes:
        _kill(process)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def run_command(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float | None = None
) -> tuple[int, str]:
    """Run a command in its own process group; return its status and combined output.

    A missing executable gives status 127, a timeout kills the whole group and gives 124.
    """
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=_POSIX,
        )
    except FileNotFoundError:
        return 127, f"command not found: {argv[0]}"
    with _REGISTRY.lock:
        _REGISTRY.running.add(process)
    try:
        try:
            output, _ = process.communicate(timeout=timeout)
            returncode = process.returncode
        except subprocess.TimeoutExpired:
            _kill(process)
            output, _ = process.communicate()
            output += f"\n[timed out after {timeout:.0f}s]"
            returncode = 124
    except BaseException:
        _kill(process)
        raise
    finally:
        with _REGISTRY.lock:
            _REGISTRY.running.discard(process)
    return returncode, _ANSI.sub("", output)
