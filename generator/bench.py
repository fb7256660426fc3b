"""`fastapi-template bench`: the generated service against a hand-written minimal app.

For each project (all features on, and none) the harness renders it, syncs it, creates its own
PostgreSQL database, migrates and seeds it (10k items), then serves the generated app and the
minimal app of `benchmarks/minimal_app.py` side by side with uvicorn (1 worker each, same
environment, same database) and loads them with wrk in interleaved rounds (A B, B A, ...), so
drift on a shared machine hits both alike. Medians over rounds, p99, and the ratio
generated/minimal per scenario go into a markdown report, together with render time, cold
start, RSS and a per-layer profile of the list endpoint (`benchmarks/profile_hot_path.py`).

Scenarios whose feature the template does not have (yet) are reported as n/a, never guessed.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import copier
import typer
import yaml

from generator import checks, features

BENCH_DIR = features.REPO_ROOT / "benchmarks"
POST_LUA = BENCH_DIR / "wrk" / "post.lua"
# Committed under docs/ (issue #11); docs/performance.md includes it when the site is built.
DEFAULT_REPORT = features.REPO_ROOT / "docs" / "reports" / "benchmarks.md"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"
# Limits no single worker reaches (so nothing is refused while the limiter still does its
# work), yet small: the moving-window strategy keeps up to `limit` entries per client, and a
# huge limit would let one benchmark client's list grow far beyond any production list.
NEVER_LIMIT = "10000/second"
# Settings that switch one layer off, for the list endpoint's ablation rows: (feature needed
# or None, what is off, environment).
ABLATIONS: tuple[tuple[str | None, str, dict[str, str]], ...] = (
    (
        "rate_limiting",
        "rate limiter off (RATE_LIMIT_ENABLED=false)",
        {"RATE_LIMIT_ENABLED": "false"},
    ),
    (None, "access lines not written (LOG_LEVEL=WARNING)", {"LOG_LEVEL": "WARNING"}),
    (None, "metrics off (METRICS_ENABLED=false)", {"METRICS_ENABLED": "false"}),
)
LIST_SCENARIO = "list 20 of 10k items"
PAGE_SIZE = 20
WS_SCENARIO = "WebSocket fan-out latency p50/p99 (2 processes via Redis)"
WS_EVENTS_SCENARIO = "WebSocket item events: POST on one process to clients of both"
CELERY_SCENARIO = "Celery end-to-end tasks/s"
CELERY_LATENCY = "Celery end-to-end latency, paced (publish to stored result)"
# The WebSocket servers of the fan-out: every client is the one benchmark user, so the
# per-user connection cap must admit them all; the publisher sends faster than the default
# per-connection message budget (10/s). Raised like the rate limits, for the same reason.
WS_ENV = {
    "WS_MAX_CONNECTIONS_PER_CLIENT": "10000",
    "WS_MESSAGES_PER_SECOND": "100000",
    "WS_MESSAGE_BURST": "100000",
}
NA_ABSENT = "n/a (feature not in this template version)"
NA_OFF = "n/a (feature off in this render)"
LOGIN_PASSWORD = "Bench-Pa55word-for-wrk-2026!"
BENCH_EMAIL = "bench@example.com"
ADMIN_EMAIL = "bench-admin@example.com"
BENCH_TENANT = "bench"
TENANT_HEADER = "X-Tenant-ID"  # the tenancy feature's default TENANCY_HEADER
CREATE_BODY = (
    '{"name": "bench item", "description": "made by wrk", "price": "12.50", "quantity": 3}'
)

# Whose a SQL statement is, by the table (or function) it names (profile_hot_path.py's
# sql_by_kind, "SELECT users"): authentication's tables, and tenancy's (the tenant look-up,
# and the row-level-security setting each transaction starts with).
AUTH_TABLES = (
    "users",
    "auth_revocations",
    "refresh_tokens",
    "auth_login_failures",
    "password_reset_tokens",
)
TENANCY_TABLES = ("tenants", "memberships", "set_config")
# Tenant look-ups are cached (TENANCY_CACHE_TTL_SECONDS): a refresh now and then is no
# per-request round trip.
TENANCY_CACHE_REFRESHES = 0.05

# Targets of issue #11.
TARGET_LIST_RATIO = 1.0
FULL_STACK_RATIO = 0.38  # full-stack-fastapi-template's items list vs the hand-written app
TARGET_VS_FULL_STACK = 3.0
TARGET_RENDER_S = 2.0
TARGET_COLD_START_S = 2.0
TARGET_RSS_MB = 150.0
TARGET_PROBE_P99_MS = 50.0


Popen = subprocess.Popen[bytes]


class BenchError(RuntimeError):
    """The harness cannot go on (a missing tool, a project that does not start)."""


# wrk ----------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    """wrk's durations ("850.00us", "12.5ms", "1.20s", "2.00m") in milliseconds."""
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class WrkResult:
    requests_per_sec: float
    requests: int
    seconds: float
    latency_ms: dict[int, float]  # percentile -> milliseconds (50, 75, 90, 99)
    errors: int  # socket errors plus non-2xx/3xx responses

    @property
    def p50(self) -> float:
        return self.latency_ms[50]

    @property
    def p99(self) -> float:
        return self.latency_ms[99]


def parse_wrk(output: str) -> WrkResult:
    """Parse `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+),", output, re.MULTILINE)
    if not rps or not total:
        raise ValueError("not wrk --latency output:\n" + output[-2000:])
    latency = {
        int(pct): _ms(value)
        for pct, value in re.findall(r"^\s+(50|75|90|99)(?:\.0+)?%\s+(\S+)", output, re.MULTILINE)
    }
    if 99 not in latency or 50 not in latency:
        raise ValueError("wrk output without a latency distribution (run it with --latency)")
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors:
        errors += sum(int(value) for value in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    return WrkResult(
        requests_per_sec=float(rps.group(1)),
        requests=int(total.group(1)),
        seconds=_ms(total.group(2)) / 1000,
        latency_ms=latency,
        errors=errors,
    )


def ensure_wrk(install: bool = True) -> str:
    """The wrk executable; installs the Debian package when it is missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if install and apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        status = subprocess.run([apt, "install", "-y", "wrk"], env=env, capture_output=True)
        if status.returncode != 0:
            subprocess.run([apt, "update"], env=env, capture_output=True)
            subprocess.run([apt, "install", "-y", "wrk"], env=env, capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise BenchError("wrk is not installed (Debian/Ubuntu: apt-get install wrk)")


@dataclass(frozen=True)
class Load:
    """One wrk invocation's settings."""

    duration: float
    connections: int
    threads: int
    timeout: float = 10.0


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    content_type: str = "application/json"
    idempotency: bool = False


def wrk_command(wrk: str, request: Request, load: Load) -> tuple[list[str], dict[str, str]]:
    argv = [
        wrk,
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{load.duration:g}s",
        f"--timeout={load.timeout:g}s",
        "--latency",
    ]
    for name, value in request.headers:
        argv += ["-H", f"{name}: {value}"]
    env = dict(os.environ)
    if request.method == "POST":
        argv += ["-s", str(POST_LUA)]
        env.update(
            BENCH_BODY=request.body or "",
            BENCH_CONTENT_TYPE=request.content_type,
            BENCH_IDEMPOTENCY="1" if request.idempotency else "0",
        )
    argv.append(request.url)
    return argv, env


def run_wrk(wrk: str, request: Request, load: Load) -> WrkResult:
    argv, env = wrk_command(wrk, request, load)
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=load.duration + 60, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return parse_wrk(done.stdout)


# HTTP helpers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> Reply:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers.items()), error.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def login_form(email: str, tenant: str | None) -> str:
    """The OAuth2 password grant's form; with multi-tenancy, the tenant to sign in to."""
    fields = {"username": email, "password": LOGIN_PASSWORD}
    if tenant is not None:
        fields["tenant"] = tenant
    return urllib.parse.urlencode(fields)


def preflight_problem(reply: Reply, ok: tuple[int, ...], page_size: int | None) -> str | None:
    """Why a scenario's first request shows it would measure the wrong thing, or None.

    A list must answer a full page: an empty one (the caller does not see the seeded items:
    another owner, another tenant) is cheap and would flatter the figures.
    """
    if reply.status not in ok:
        return f"answered {reply.status} {reply.body[:200]!r}"
    if page_size is None:
        return None
    try:
        items = reply.json().get("items")
    except (ValueError, AttributeError):
        items = None
    if not isinstance(items, list) or len(items) != page_size:
        found = len(items) if isinstance(items, list) else "no"
        return f"answered a page of {found} items, not {page_size}"
    return None


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def import_times(stderr: str) -> list[tuple[str, float]]:
    """`python -X importtime` output summed by top-level package (self time, ms), largest first."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| \s*(\S+)", line)
        if match:
            package = match.group(2).split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(match.group(1)) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])


# servers ------------------------------------------------------------------------------------------


@dataclass
class Server:
    """A uvicorn process (one worker) started by the harness."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    health_path: str
    log: Path
    port: int = field(default_factory=free_port)
    process: Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for the health path to answer 200; returns seconds to that answer."""
        argv = [*self.argv, "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        started = time.monotonic()
        self.process = spawn(argv, self.cwd, self.env, self.log)
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited during start-up; see {self.log}")
            with suppress(OSError):
                if http("GET", self.base + self.health_path, timeout=1).status == 200:
                    return time.monotonic() - started
            time.sleep(0.01)
        self.stop()
        raise BenchError(f"{self.name} did not answer {self.health_path} in {timeout:.0f}s")

    def rss_mb(self) -> float | None:
        if self.process is None:
            return None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) / 1024 if match else None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            terminate(process)


def spawn(argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> Popen:
    """A process in its own session (so that it and its children stop together), output
    appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def terminate(process: Popen, timeout: float = 15.0) -> None:
    """SIGTERM to the process group the harness started, SIGKILL if it outlives `timeout`."""
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def running(*servers: Server) -> Iterator[None]:
    try:
        yield
    finally:
        for server in servers:
            server.stop()


# results ------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """Interleaved rounds of one scenario against the generated and the minimal app."""

    scenario: str
    generated: list[WrkResult] = field(default_factory=list)
    minimal: list[WrkResult] = field(default_factory=list)
    note: str | None = None  # set when not measured, with the reason

    @staticmethod
    def _median(results: list[WrkResult], pick: Callable[[WrkResult], float]) -> float:
        return statistics.median(pick(r) for r in results) if results else float("nan")

    def rps(self, side: str) -> float:
        return self._median(getattr(self, side), lambda r: r.requests_per_sec)

    def p50(self, side: str) -> float:
        return self._median(getattr(self, side), lambda r: r.p50)

    def p99(self, side: str) -> float:
        return self._median(getattr(self, side), lambda r: r.p99)

    def spread(self, side: str) -> float:
        """(max - min) / median of the rounds' throughput: the noise of this scenario."""
        values = [r.requests_per_sec for r in getattr(self, side)]
        if len(values) < 2:
            return float("nan")
        return float((max(values) - min(values)) / statistics.median(values))

    def errors(self) -> int:
        return sum(r.errors for r in [*self.generated, *self.minimal])

    @property
    def ratio(self) -> float:
        minimal = self.rps("minimal")
        return self.rps("generated") / minimal if minimal else float("nan")

    @property
    def p99_ratio(self) -> float:
        minimal = self.p99("minimal")
        return self.p99("generated") / minimal if minimal else float("nan")


@dataclass
class ProjectResult:
    combo_id: str
    features_on: list[str]
    render_s: float = float("nan")
    sync_s: float = float("nan")
    cold_start_s: list[float] = field(default_factory=list)
    minimal_cold_start_s: list[float] = field(default_factory=list)
    rss_mb: float | None = None
    minimal_rss_mb: float | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    singles: dict[str, str] = field(default_factory=dict)  # scenario -> figure or n/a reason
    profile: dict[str, Any] | None = None
    minimal_profile: dict[str, Any] | None = None
    list_description: str = ""
    error: str | None = None
    drivers: dict[str, Any] = field(default_factory=dict)  # driver -> its JSON output


@dataclass
class BenchReport:
    started: datetime
    finished: datetime | None
    config: BenchConfig
    template_features: tuple[str, ...]
    projects: list[ProjectResult]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] | None
    cpus: int
    wrk_version: str


@dataclass(frozen=True)
class BenchConfig:
    duration: float = 10.0
    warmup: float = 3.0
    rounds: int = 5
    connections: int = 32
    threads: int = 1
    rows: int = 10_000
    postgres: str = DEFAULT_POSTGRES
    redis: str = DEFAULT_REDIS
    projects: tuple[str, ...] = ("all", "base")
    profile_requests: int = 300
    cold_starts: int = 3
    login_duration: float = 5.0
    ablations: bool = True
    ws_clients: int = 50
    ws_messages: int = 100
    ws_rate: float = 20.0
    celery_tasks: int = 500
    celery_paced: int = 50
    celery_rate: float = 10.0


# one project --------------------------------------------------------------------------------------

Log = Callable[[str], None]


def _combination(names: Sequence[str], which: str) -> dict[str, bool]:
    if which == "all":
        return features.make_combination(names, names)
    if which == "base":
        return features.make_combination(names, ())
    return features.parse_combination_id(names, which)


def render(template: Path, destination: Path, answers: Mapping[str, Any]) -> float:
    """Render one project with copier; returns the seconds it took."""
    started = time.perf_counter()
    copier.run_copy(
        str(template),
        destination,
        data={"project_name": destination.name, **answers},
        defaults=True,
        unsafe=False,
        vcs_ref="HEAD",
        quiet=True,
    )
    return time.perf_counter() - started


def project_answers(project: Path) -> dict[str, Any]:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    return dict(answers or {})


def _run(argv: Sequence[str], cwd: Path, env: Mapping[str, str], what: str) -> str:
    status, output = checks.run_command(argv, cwd=cwd, env=env, timeout=1800)
    if status != 0:
        raise BenchError(f"{what} failed ({status}): {output.strip()[-1500:]}")
    return output


def _asyncpg_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


class Session:
    """Everything for one rendered project: database, servers, scenarios."""

    def __init__(
        self, config: BenchConfig, wrk: str, workdir: Path, combo_id: str, log: Log, label: str = ""
    ) -> None:
        self.config = config
        self.wrk = wrk
        self.workdir = workdir
        self.log = log
        self.result = ProjectResult(combo_id, [])
        # copier refuses project names over 64 characters; "all" names the longest id.
        short = re.sub(r"[^a-z0-9]+", "-", label or combo_id)[:48].strip("-")
        self.project = workdir / f"bench-{short}"
        database = f"bench_{os.getpid()}_{short.replace('-', '_')}"[:60]
        self.dsn = f"{config.postgres.rstrip('/')}/{database}"
        self.python = self.project / ".venv" / "bin" / "python"
        self.headers: list[tuple[str, str]] = []
        self.sample: dict[str, Any] = {}
        self.on: set[str] = set()
        self.login_path = ""
        self.login_form = ""
        self.owner: dict[str, str] = {}  # items columns -> the bench caller's user and tenant

    # setup

    def prepare(self, template: Path, answers: Mapping[str, Any]) -> None:
        self.log(f"rendering {self.result.combo_id} into {self.project}")
        self.result.render_s = render(template, self.project, answers)
        rendered = project_answers(self.project)
        self.on = {name for name in features.template_features(template) if rendered.get(name)}
        self.result.features_on = sorted(self.on)
        started = time.perf_counter()
        _run(["uv", "sync", "--quiet"], self.project, checks.project_env(), "uv sync")
        self.result.sync_s = time.perf_counter() - started

    def dbtool(self, *args: str) -> dict[str, Any]:
        output = _run(
            [str(self.python), str(BENCH_DIR / "dbtool.py"), *args],
            self.project,
            checks.project_env(),
            f"dbtool {args[0]}",
        )
        return dict(json.loads(output.strip().splitlines()[-1]))

    def app_env(self) -> dict[str, str]:
        return checks.project_env(
            {
                "ENVIRONMENT": "production",
                "DATABASE_URL": _asyncpg_url(self.dsn),
                "REDIS_URL": self.config.redis,
                "DOCS_ENABLED": "true",  # the harness discovers endpoints from OpenAPI
                "RATE_LIMIT_DEFAULT": NEVER_LIMIT,
                "RATE_LIMIT_STRICT": NEVER_LIMIT,
                # RATE_LIMIT_TENANT stays unset, as by default: a tenant quota is a second
                # limiter check per request that a default deployment does not make.
                # Sign-in attempts are counted before the password check (app/auth/lockout.py),
                # so more parallel sign-ins of one account than this are refused with 429; the
                # login storm's 32 must all reach the hasher. Its maximum; failures stay at 0.
                "AUTH_LOGIN_MAX_FAILURES": "1000",
            }
        )

    def servers(self) -> tuple[Server, Server]:
        uvicorn = [str(self.python), "-m", "uvicorn"]
        generated = Server(
            "generated",
            [*uvicorn, "app.main:app"],
            self.project,
            self.app_env(),
            "/health/live",
            self.workdir / f"{self.project.name}-generated.log",
        )
        minimal = Server(
            "minimal",
            [*uvicorn, "minimal_app:app", "--app-dir", str(BENCH_DIR), "--no-access-log"],
            self.project,
            checks.project_env({"DATABASE_URL": _asyncpg_url(self.dsn)}),
            "/health",
            self.workdir / f"{self.project.name}-minimal.log",
        )
        return generated, minimal

    def cold_starts(self, server: Server) -> list[float]:
        """Seconds from spawning the process to its first 200; one unmeasured start first
        (it compiles the bytecode a deployed image ships with)."""
        server.start()
        server.stop()
        timings = []
        for _ in range(self.config.cold_starts):
            timings.append(server.start())
            server.stop()
        return timings

    def imports(self, env: dict[str, str]) -> str:
        """Where start-up time goes: the heaviest packages imported by app.main."""
        done = subprocess.run(
            [str(self.python), "-X", "importtime", "-c", "import app.main"],
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        times = import_times(done.stderr)
        total = sum(ms for _, ms in times)
        heaviest = ", ".join(f"{name} {ms / 1000:.2f} s" for name, ms in times[:8])
        return f"{total / 1000:.2f} s in all; {heaviest}"

    # identity: the user, tenant and headers every generated request carries

    def establish_identity(self, base: str) -> None:
        """Make the caller every scenario uses, through the project's own entry points.

        multi_tenancy: a tenant made with `python -m app.tenancy.manage create`. auth: a user
        registered through the API, and a bearer token from the OAuth2 password flow. Both:
        the user is made a member of the tenant by a platform admin (`python -m
        app.auth.create_admin`, then the memberships API) and signs in to it, so the token
        carries the tenant. multi_tenancy alone: the tenant header a gateway would send.
        The items seeded later belong to this user and tenant, so reads find them.
        """
        tenant_id = None
        if "multi_tenancy" in self.on:
            tenant_id = self._manage("app.tenancy.manage", "create", BENCH_TENANT, "Bench").strip()
            tenant_id = tenant_id.splitlines()[-1]
            self.owner["tenant_id"] = tenant_id
        if "auth" not in self.on:
            if tenant_id is not None:
                self.headers = [(TENANT_HEADER, tenant_id)]
            return
        user = self._api(
            base,
            "POST",
            "/auth/register",
            {"email": BENCH_EMAIL, "password": LOGIN_PASSWORD},
            expect=201,
        )
        self.owner["owner_id"] = user["id"]
        if tenant_id is not None:
            self._manage(
                "app.auth.create_admin",
                env={"ADMIN_EMAIL": ADMIN_EMAIL, "ADMIN_PASSWORD": LOGIN_PASSWORD},
            )
            admin = self.sign_in(base, ADMIN_EMAIL, None)
            self._api(
                base,
                "POST",
                f"/tenants/{tenant_id}/memberships",
                {"user_id": user["id"]},
                expect=201,
                token=admin,
            )
        self.login_path = f"{self.prefix()}/auth/token"
        self.login_form = login_form(BENCH_EMAIL, BENCH_TENANT if tenant_id else None)
        self.headers = [("Authorization", f"Bearer {self.sign_in(base, BENCH_EMAIL, tenant_id)}")]

    def sign_in(self, base: str, email: str, tenant: str | None) -> str:
        reply = http(
            "POST",
            f"{base}{self.prefix()}/auth/token",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=login_form(email, BENCH_TENANT if tenant else None).encode(),
        )
        if reply.status != 200:
            raise BenchError(f"sign-in of {email} answered {reply.status} {reply.body[:300]!r}")
        return str(reply.json()["access_token"])

    def _api(
        self,
        base: str,
        method: str,
        path: str,
        body: dict[str, Any],
        *,
        expect: int,
        token: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        reply = http(
            method, base + self.prefix() + path, headers=headers, body=json.dumps(body).encode()
        )
        if reply.status != expect:
            raise BenchError(f"{method} {path} answered {reply.status} {reply.body[:300]!r}")
        return dict(reply.json())

    def _manage(self, module: str, *args: str, env: Mapping[str, str] | None = None) -> str:
        return _run(
            [str(self.python), "-m", module, *args],
            self.project,
            {**self.app_env(), **(env or {})},
            f"python -m {module}",
        )

    # scenarios

    def prefix(self) -> str:
        return "/api/v1" if "api_versioning" in self.on else "/api"

    def compare(
        self,
        name: str,
        generated: Request,
        minimal: Request,
        ok: tuple[int, ...],
        page_size: int | None = None,
    ) -> Comparison:
        """Warm both up, then `rounds` interleaved wrk runs (A B, B A, ...)."""
        comparison = Comparison(name)
        for request in (generated, minimal):
            reply = http(
                request.method,
                request.url,
                headers={**dict(request.headers), "Content-Type": request.content_type},
                body=request.body.encode() if request.body else None,
            )
            problem = preflight_problem(reply, ok, page_size)
            if problem is not None:
                comparison.note = (
                    f"not measured: preflight {request.method} {request.url} {problem}"
                )
                return comparison
        load = Load(self.config.duration, self.config.connections, self.config.threads)
        warm = Load(self.config.warmup, self.config.connections, self.config.threads)
        if warm.duration > 0:  # --warmup 0: none (wrk refuses a 0 s run)
            run_wrk(self.wrk, generated, warm)
            run_wrk(self.wrk, minimal, warm)
        for round_number in range(self.config.rounds):
            order = [("generated", generated), ("minimal", minimal)]
            if round_number % 2:
                order.reverse()
            for side, request in order:
                result = run_wrk(self.wrk, request, load)
                getattr(comparison, side).append(result)
                self.log(
                    f"  {name} round {round_number + 1} {side}: "
                    f"{result.requests_per_sec:.0f} req/s,"
                    f" p99 {result.p99:.1f} ms, errors {result.errors}"
                )
        return comparison

    def scenarios(self, generated: Server, minimal: Server) -> None:
        prefix, item = self.prefix(), self.sample["id"]
        etag = f'"{self.sample["version"]}"'
        auth = tuple(self.headers)
        layers = [
            label
            for feature, label in (
                ("auth", "authenticated"),
                ("rate_limiting", "rate-limited"),
                ("multi_tenancy", "tenant-scoped"),
                ("api_versioning", "versioned"),
            )
            if feature in self.on
        ]
        self.result.list_description = ", ".join(layers) or "no features"
        plan = [
            (
                LIST_SCENARIO,
                Request("GET", f"{generated.base}{prefix}/items?limit=20", auth),
                Request("GET", f"{minimal.base}/items?limit=20"),
                (200,),
            ),
            (
                "single item GET (200 + ETag)",
                Request("GET", f"{generated.base}{prefix}/items/{item}", auth),
                Request("GET", f"{minimal.base}/items/{item}"),
                (200,),
            ),
            (
                "single item GET, If-None-Match (304)",
                Request(
                    "GET",
                    f"{generated.base}{prefix}/items/{item}",
                    (*auth, ("If-None-Match", etag)),
                ),
                Request("GET", f"{minimal.base}/items/{item}", (("If-None-Match", etag),)),
                (304,),
            ),
            (
                "POST create with Idempotency-Key",
                Request(
                    "POST", f"{generated.base}{prefix}/items", auth, CREATE_BODY, idempotency=True
                ),
                Request("POST", f"{minimal.base}/items", (), CREATE_BODY, idempotency=True),
                (201,),
            ),
        ]
        for name, gen_request, min_request, ok in plan:
            self.log(f"scenario: {name}")
            page = PAGE_SIZE if name == LIST_SCENARIO else None
            comparison = self.compare(name, gen_request, min_request, ok, page)
            self.result.comparisons.append(comparison)

    def ablations(self, minimal: Server) -> None:
        """The list scenario again with one layer switched off by its setting: its cost
        under load, as a change of the ratio to the minimal app."""
        for feature, what, overrides in ABLATIONS:
            if feature is not None and feature not in self.on:
                continue
            server = Server(
                "generated",
                [str(self.python), "-m", "uvicorn", "app.main:app"],
                self.project,
                {**self.app_env(), **overrides},
                "/health/live",
                self.workdir / f"{self.project.name}-ablation.log",
            )
            with running(server):
                server.start()
                name = f"{LIST_SCENARIO}, {what}"
                self.log(f"scenario: {name}")
                self.result.comparisons.append(
                    self.compare(
                        name,
                        Request(
                            "GET",
                            f"{server.base}{self.prefix()}/items?limit=20",
                            tuple(self.headers),
                        ),
                        Request("GET", f"{minimal.base}/items?limit=20"),
                        (200,),
                        PAGE_SIZE,
                    )
                )

    def login_storm(self, generated: Server) -> None:
        """Logins/s under wrk, and a health probe's latency while they run."""
        request = Request(
            "POST",
            generated.base + self.login_path,
            body=self.login_form,
            content_type="application/x-www-form-urlencoded",
        )
        load = Load(self.config.login_duration, self.config.connections, self.config.threads)
        latencies: list[float] = []
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                with suppress(OSError):
                    http("GET", generated.base + "/health/live", timeout=5)
                latencies.append(1000 * (time.perf_counter() - started))
                time.sleep(0.02)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        try:
            result = run_wrk(self.wrk, request, load)
        finally:
            stop.set()
            thread.join()
        self.result.singles["logins/s (wrk, argon2 bound)"] = (
            f"{result.requests_per_sec:.1f} (p99 {result.p99:.0f} ms, errors {result.errors})"
        )
        self.result.singles["health probe during login storm"] = (
            f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms "
            f"({len(latencies)} probes)"
        )

    # drivers of the scenarios wrk cannot load

    def _driver(self, scenario: str, run: Callable[[], None]) -> None:
        """Run one driver; a failure is reported as "not measured" in its row, and the rest of
        the project's figures stand."""
        self.log(f"scenario: {scenario}")
        try:
            run()
        except (BenchError, OSError, ValueError, KeyError, subprocess.SubprocessError) as error:
            self.log(f"  {scenario}: {error}")
            self.result.singles[scenario] = f"not measured: {_one_line(str(error))[:300]}"

    def websocket_fanout(self) -> None:
        """Two processes of the app on one Redis; clients on both; one publisher."""
        env = {**self.app_env(), **WS_ENV}
        servers = [
            Server(
                f"generated ws {name}",
                [str(self.python), "-m", "uvicorn", "app.main:app"],
                self.project,
                env,
                "/health/live",
                self.workdir / f"{self.project.name}-ws-{name}.log",
            )
            for name in ("a", "b")
        ]
        args = [
            *(arg for server in servers for arg in ("--server", server.base)),
            *("--clients", str(self.config.ws_clients), "--messages", str(self.config.ws_messages)),
            *("--rate", f"{self.config.ws_rate:g}", "--ticket-path", f"{self.prefix()}/ws/tickets"),
            *(arg for name, value in self.headers for arg in ("--header", f"{name}: {value}")),
        ]
        # Item events go to the tenant's `items` channel, or with auth alone to the owner's.
        owner = self.owner.get("owner_id")
        channel = f"items:user:{owner}" if owner and "multi_tenancy" not in self.on else "items"
        events = [
            *("--channel", channel),
            *("--publish-url", f"{servers[-1].base}{self.prefix()}/items"),
        ]
        with running(*servers):
            for server in servers:
                server.start()
            room = self.script("ws_fanout.py", args, checks.project_env())
            self.result.drivers["websocket_fanout"] = room
            self.result.singles[WS_SCENARIO] = ws_figure(room)
            self.log(f"scenario: {WS_EVENTS_SCENARIO}")
            output = self.workdir / f"{self.project.name}-ws-events.json"
            items = self.script("ws_fanout.py", [*args, *events], checks.project_env(), output)
            self.result.drivers["websocket_item_events"] = items
            self.result.singles[WS_EVENTS_SCENARIO] = ws_figure(items)

    def celery_throughput(self) -> None:
        """A worker of the project (its own command) on a queue of this run; tasks published
        the way the API publishes them (benchmarks/celery_tasks.py)."""
        env = {
            **self.app_env(),
            "CELERY_QUEUE": f"bench-{os.getpid()}",
            "CELERY_LOCAL_DIR": str(self.workdir / f"{self.project.name}-celery"),
        }
        worker = spawn(
            [
                str(self.python),
                "-m",
                "celery",
                "-A",
                "app.worker.celery_app:celery_app",
                "worker",
                "--loglevel",
                "INFO",
                "--hostname",
                f"bench-{os.getpid()}@%h",
            ],
            self.project,
            env,
            self.workdir / f"{self.project.name}-worker.log",
        )
        args = [
            *("--tasks", str(self.config.celery_tasks), "--paced", str(self.config.celery_paced)),
            *("--rate", f"{self.config.celery_rate:g}"),
        ]
        try:
            # The driver imports the project's `app` package; it is run by path, from BENCH_DIR.
            result = self.script("celery_tasks.py", args, {**env, "PYTHONPATH": str(self.project)})
        finally:
            terminate(worker, timeout=30)
        self.result.drivers["celery"] = result
        self.result.singles[CELERY_SCENARIO], self.result.singles[CELERY_LATENCY] = celery_figures(
            result
        )

    def script(
        self, name: str, args: Sequence[str], env: Mapping[str, str], output: Path | None = None
    ) -> dict[str, Any]:
        """Run one of the benchmarks/ scripts in the project's environment; its JSON output."""
        output = output or self.workdir / f"{self.project.name}-{Path(name).stem}.json"
        argv = [str(self.python), str(BENCH_DIR / name), *args, "--output", str(output)]
        _run(argv, self.project, env, name)
        return dict(json.loads(output.read_text(encoding="utf-8")))

    def profile(self, args: list[str], env: dict[str, str], output: Path) -> dict[str, Any]:
        requests = ["--requests", str(self.config.profile_requests)]
        return self.script("profile_hot_path.py", [*requests, *args], env, output)

    # the whole session

    def run(self, template: Path, answers: Mapping[str, Any], absent: set[str]) -> ProjectResult:
        self.prepare(template, answers)
        self.dbtool("create", self.dsn)
        try:
            self._measure(absent)
        finally:
            with suppress(BenchError):
                self.dbtool("drop", self.dsn)
        return self.result

    def _measure(self, absent: set[str]) -> None:
        env = self.app_env()
        _run([str(self.python), "-m", "alembic", "upgrade", "heads"], self.project, env, "alembic")
        generated, minimal = self.servers()
        with running(generated, minimal):
            self.log("cold starts")
            self.result.cold_start_s = self.cold_starts(generated)
            self.result.minimal_cold_start_s = self.cold_starts(minimal)
            self.result.singles["import of app.main by package (self time)"] = self.imports(env)
            generated.start()
            self.establish_identity(generated.base)
            owner = [f"{column}={value}" for column, value in self.owner.items()]
            seeded = self.dbtool("seed", self.dsn, str(self.config.rows), *owner)
            self.sample = seeded["sample_item"]
            minimal.start()
            self.scenarios(generated, minimal)
            self.result.rss_mb = generated.rss_mb()
            self.result.minimal_rss_mb = minimal.rss_mb()
            if "auth" in self.on:
                self.login_storm(generated)
            if self.config.ablations:
                generated.stop()
                self.ablations(minimal)
        if "websockets" in self.on:
            self._driver(WS_SCENARIO, self.websocket_fanout)
        if "celery" in self.on:
            self._driver(CELERY_SCENARIO, self.celery_throughput)
        self._singles(absent)
        self.log("profiling the list endpoint in-process")
        headers = [arg for name, value in self.headers for arg in ("--header", f"{name}: {value}")]
        self.result.profile = self.profile(
            ["--path", f"{self.prefix()}/items?limit=20", *headers],
            env,
            self.workdir / f"{self.project.name}-profile.json",
        )
        self.result.minimal_profile = self.profile(
            ["--app", "minimal_app:app", "--sys-path", str(BENCH_DIR), "--path", "/items?limit=20"],
            checks.project_env({"DATABASE_URL": _asyncpg_url(self.dsn)}),
            self.workdir / f"{self.project.name}-minimal-profile.json",
        )

    def _singles(self, absent: set[str]) -> None:
        def why(feature: str) -> str:
            return NA_ABSENT if feature in absent else NA_OFF

        if "auth" not in self.on:
            self.result.singles["logins/s (wrk, argon2 bound)"] = why("auth")
            self.result.singles["health probe during login storm"] = why("auth")
        if "websockets" not in self.on:
            self.result.singles[WS_SCENARIO] = why("websockets")
            self.result.singles[WS_EVENTS_SCENARIO] = why("websockets")
        if "celery" not in self.on:
            self.result.singles[CELERY_SCENARIO] = why("celery")
            self.result.singles[CELERY_LATENCY] = why("celery")


# the run ------------------------------------------------------------------------------------------


def _loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover
        return (float("nan"),) * 3


def run_bench(config: BenchConfig, workdir: Path, log: Log) -> BenchReport:
    wrk = ensure_wrk()
    version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    template = features.default_template_dir()
    names = features.template_features(template)
    absent = {"auth", "rate_limiting", "celery", "websockets", "multi_tenancy", "api_versioning"}
    absent -= set(names)
    report = BenchReport(
        started=datetime.now(UTC),
        finished=None,
        config=config,
        template_features=names,
        projects=[],
        load_before=_loadavg(),
        load_after=None,
        cpus=os.cpu_count() or 1,
        wrk_version=(version.stdout or version.stderr).splitlines()[0] if version else "wrk",
    )
    redis_db = config.redis
    for which in config.projects:
        combo = _combination(names, which)
        combo_id = features.combination_id(combo)
        session = Session(config, wrk, workdir, combo_id, log, which)
        _flush_redis(redis_db)
        try:
            report.projects.append(session.run(template, combo, absent))
        except (BenchError, OSError, ValueError, subprocess.SubprocessError) as error:
            session.result.error = f"{type(error).__name__}: {error}"
            log(f"{combo_id}: {session.result.error}")
            report.projects.append(session.result)
        finally:
            _flush_redis(redis_db)
    report.finished = datetime.now(UTC)
    report.load_after = _loadavg()
    return report


def _flush_redis(url: str) -> None:
    """Empty the harness's own Redis database (db 7 by default) with a raw RESP command."""
    parts = urllib.parse.urlsplit(url)
    db = (parts.path or "/0").lstrip("/") or "0"
    with (
        suppress(OSError),
        socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=5
        ) as sock,
    ):
        sock.sendall(
            f"*2\r\n$6\r\nSELECT\r\n${len(db)}\r\n{db}\r\n*1\r\n$7\r\nFLUSHDB\r\n".encode()
        )
        sock.recv(64)


# report -------------------------------------------------------------------------------------------


def _f(value: float | None, spec: str = ".0f", unit: str = "") -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:{spec}}{unit}"


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _ms_or_dash(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _source(result: Mapping[str, Any]) -> str:
    if result.get("via") == "item POST":
        return f"items created on the last process, events on `{result['channel']}`,"
    return "messages published from process A"


def ws_figure(result: Mapping[str, Any]) -> str:
    """The report's cell for the WebSocket fan-out driver's JSON (benchmarks/ws_fanout.py)."""
    latency = result["latency"]
    by_server = result.get("by_server", {})
    where = "; ".join(
        f"process {chr(ord('A') + int(index))}: p50 "
        f"{_ms_or_dash(figures['p50_ms'])}, p99 {_ms_or_dash(figures['p99_ms'])}"
        for index, figures in sorted(by_server.items())
    )
    return (
        f"p50 {_ms_or_dash(latency['p50_ms'])}, p99 {_ms_or_dash(latency['p99_ms'])}, "
        f"max {_ms_or_dash(latency['max_ms'])}; delivered {result['delivered']:,} of "
        f"{result['expected']:,} ({result['clients']} clients on {result['servers']} "
        f"processes, {result['messages']} {_source(result)} at {result['rate_per_second']:g}/s; "
        f"{where})"
    )


def celery_figures(result: Mapping[str, Any]) -> tuple[str, str]:
    """The report's cells (throughput, paced latency) for the Celery driver's JSON."""
    burst, paced = result["burst"], result["paced"]
    rate = burst["tasks_per_second"]
    throughput = (
        f"{_f(rate, '.1f')} tasks/s ({burst['completed']} of {burst['tasks']} published at "
        f"once, done in {_f(burst['seconds'], '.2f', ' s')}; latency under that backlog p50 "
        f"{_ms_or_dash(burst['p50_ms'])}, p99 {_ms_or_dash(burst['p99_ms'])})"
    )
    latency = (
        f"p50 {_ms_or_dash(paced['p50_ms'])}, p99 {_ms_or_dash(paced['p99_ms'])}, max "
        f"{_ms_or_dash(paced['max_ms'])} ({paced['completed']} of {paced['tasks']} tasks at "
        f"{paced['rate_per_second']:g}/s)"
    )
    return throughput, latency


def statements_of(io: Mapping[str, Any], names: Sequence[str]) -> float:
    """SQL statements per request that name one of `names` (a table, or a function)."""
    return float(
        sum(
            count
            for kind, count in io.get("sql_by_kind", {}).items()
            if kind.partition(" ")[2] in names
        )
    )


def _kinds(per_request: Mapping[str, float]) -> str:
    """ "SELECT items 1.00, SELECT set_config 1.00": what a request sent, largest first."""
    shown = [f"{kind} {count:.2f}" for kind, count in per_request.items() if count >= 0.01]
    return ", ".join(shown) or "none"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


# What each layer of the hot path does, and the fix or issue note when it costs too much.
LAYER_NOTES = {
    "pool pre-ping": "A pooled connection is pinged only after IDLE_PING_SECONDS idle "
    "(checkout event, app/core/db.py), so a busy pool pays no ping per request.",
    "enforce_rate_limit": "One Redis round trip per request: a Lua script (the EVALSHA count "
    "below) counts every policy the request falls under and returns the figures for the "
    "RateLimit headers (app/ratelimit/limiter.py).",
    "PrincipalMiddleware": "Verifies the bearer token (JWT signature and claims, CPU) and asks "
    "whether it is revoked (one Redis MGET, app/auth/revocations.py). Issue note: the target "
    "of one Redis round trip per request needs this look-up and the limiter's script in one "
    "round trip; the middleware decides before routing and the limiter's policy is known "
    "only after, so either pipeline the default-policy script with the MGET, or keep "
    "revocations in process, synced over pub/sub (eventually consistent across workers: "
    "needs a security sign-off).",
    "TenantMiddleware": "Resolves the tenant (cached look-up, TENANCY_CACHE_TTL_SECONDS).",
    "set_config": "Tenancy's row-level-security setting, `SELECT set_config('app.tenant_id', "
    "...)` at the start of each transaction (app/tenancy/isolation.py): one more database round "
    "trip per request. Issue note: send it with the request's first statement (asyncpg can run "
    "both in one simple-query round trip, which SQLAlchemy's asyncpg dialect does not expose) "
    "or only where row-level security is in force.",
    "AccessLogMiddleware": "One JSON line per request, rendered by structlog and written "
    "straight to stdout (no stdlib logging bridge on this path).",
    "PrometheusInstrumentatorMiddleware": "prometheus-fastapi-instrumentator: route matching "
    "again, several histograms per request. Issue note: keep one latency histogram and one "
    "counter (drop the size metrics), which the instrumentator allows.",
    "list_items": "Endpoint: the query (with tenancy's and ownership's loader criteria), ORM "
    "rows to pydantic, and the weak ETag; the page is serialized once, for both the body and "
    "the ETag (app/core/conditional.py). Loading Core rows instead of ORM entities in "
    "repository.py was measured and is no faster for a 20-row page (about 1 ms CPU either "
    "way), so the data path stays ORM. Issue note: the rest of the gap to the minimal "
    "endpoint is CPU in SQLAlchemy's ORM (criteria events, entity loading) and pydantic; "
    "the next step is a profile of this endpoint alone.",
    "APIRouter": "FastAPI's own per-request work: routing, parameter validation, response "
    "validation and serialization.",
    "CorrelationIdMiddleware": "uuid4 per request and a header; cheap.",
}


def _note_for(label: str) -> str:
    return next((note for key, note in LAYER_NOTES.items() if key in label), "")


def _short(label: str) -> str:
    return label.rsplit(".", 1)[-1] if "." in label else label


def profile_rows(profile: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(layer, ms per request) of the hot path, outermost middleware first."""
    rows = [(_short(m["layer"]), m["ms_per_request"]) for m in profile["middleware"]]
    rows.append(
        (
            "FastAPI routing, validation, serialization (APIRouter)",
            profile["router"]["own_ms_per_request"],
        )
    )
    for label, dep in profile["dependencies"].items():
        rows.append((f"dependency/endpoint {_short(label)}", dep["ms_per_request"]))
    return rows


def _targets(project: ProjectResult) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows for one project."""
    rows: list[tuple[str, str, str]] = []
    listing = next((c for c in project.comparisons if c.scenario == LIST_SCENARIO), None)
    if listing is not None and listing.note is None:
        ratio, p99_ratio = listing.ratio, listing.p99_ratio
        rows.append(
            (
                f"list endpoint >= {TARGET_LIST_RATIO:.1f}x the hand-written ORM endpoint, "
                "p99 no worse",
                f"{ratio:.2f}x throughput, p99 {p99_ratio:.2f}x",
                _verdict(ratio >= TARGET_LIST_RATIO and p99_ratio <= 1.0),
            )
        )
        needed = TARGET_VS_FULL_STACK * FULL_STACK_RATIO
        rows.append(
            (
                f">= {TARGET_VS_FULL_STACK:.0f}x full-stack-fastapi-template's items list "
                f"(it ran at {FULL_STACK_RATIO}x the hand-written app, so >= {needed:.2f}x)",
                f"{ratio:.2f}x the hand-written app = {ratio / FULL_STACK_RATIO:.1f}x full-stack",
                _verdict(ratio >= needed),
            )
        )
    profile = project.profile
    if profile is not None:
        io = profile["io"]
        auth_sql = statements_of(io, AUTH_TABLES)
        rows.append(
            (
                "zero database queries for authentication per request",
                f"{auth_sql:.2f} SQL statements on {'/'.join(AUTH_TABLES[:2])}/... per request "
                f"({_kinds(io.get('sql_by_kind', {}))}; +{io['pre_pings_per_request']:.1f} "
                "pool pre-ping round trips)",
                _verdict(auth_sql == 0) if "auth" in project.features_on else NA_OFF,
            )
        )
        limited = "rate_limiting" in project.features_on or "auth" in project.features_on
        rows.append(
            (
                "at most one Redis round trip per request (limiting + revocation)",
                f"{io['redis_round_trips_per_request']:.1f} round trips "
                f"({_kinds(io.get('redis_by_command', {}))})",
                _verdict(io["redis_round_trips_per_request"] <= 1) if limited else NA_OFF,
            )
        )
        tenancy_sql = statements_of(io, TENANCY_TABLES)
        rows.append(
            (
                "tenancy context without an extra round trip",
                f"{tenancy_sql:.2f} tenancy SQL statements per request (tenant look-ups, "
                f"set_config); at most {TENANCY_CACHE_REFRESHES} allowed for cache refreshes",
                _verdict(tenancy_sql <= TENANCY_CACHE_REFRESHES)
                if "multi_tenancy" in project.features_on
                else NA_OFF,
            )
        )
    probe = project.singles.get("health probe during login storm", NA_OFF)
    probe_p99 = re.search(r"p99 ([0-9.]+) ms", probe)
    rows.append(
        (
            f"health probe p99 < {TARGET_PROBE_P99_MS:.0f} ms during a login storm",
            probe,
            _verdict(float(probe_p99.group(1)) < TARGET_PROBE_P99_MS) if probe_p99 else "n/a",
        )
    )
    rows.append(
        (
            f"render of one project < {TARGET_RENDER_S:.0f} s",
            _f(project.render_s, ".2f", " s"),
            _verdict(project.render_s < TARGET_RENDER_S),
        )
    )
    cold = statistics.median(project.cold_start_s) if project.cold_start_s else float("nan")
    rows.append(
        (
            f"cold start to first response < {TARGET_COLD_START_S:.0f} s",
            _f(cold, ".2f", " s") + f" (median of {len(project.cold_start_s)})",
            _verdict(cold < TARGET_COLD_START_S) if project.cold_start_s else "n/a",
        )
    )
    rows.append(
        (
            f"RSS per worker < {TARGET_RSS_MB:.0f} MB",
            _f(project.rss_mb, ".0f", " MB") + " after load",
            _verdict(project.rss_mb < TARGET_RSS_MB) if project.rss_mb is not None else "n/a",
        )
    )
    return rows


def markdown(report: BenchReport) -> str:
    config = report.config
    lines = [
        "# Benchmarks: the generated service against a hand-written minimal app",
        "",
        f"Run {report.started:%Y-%m-%d %H:%M} UTC"
        + (f" to {report.finished:%H:%M} UTC" if report.finished else "")
        + f" with `fastapi-template bench` (issue #11). {report.wrk_version}.",
        "",
        f"Each app: uvicorn, 1 worker, production settings, on PostgreSQL (its own database, "
        f"{config.rows:,} items) and Redis (`{config.redis}`). "
        f"Load: `wrk -t{config.threads} -c{config.connections} -d{config.duration:g}s --latency`, "
        f"{config.warmup:g} s warm-up per app, then {config.rounds} interleaved rounds "
        "(generated, minimal; minimal, generated; ...). Figures are medians over rounds; "
        "p99 is wrk's per run, then the median. Ratio = generated / minimal throughput "
        "(higher is better); p99 ratio = generated / minimal p99 (lower is better).",
        "",
        "The minimal app (`benchmarks/minimal_app.py`) runs in the rendered project's own "
        "environment (same FastAPI, SQLAlchemy, asyncpg, uvicorn), on identical tables in the same "
        "database: async SQLAlchemy ORM, the same keyset query of 20 of 10k rows, the same JSON, "
        "no middleware.",
        "",
        "The generated app's caller is a registered user signed in with a bearer token (auth), "
        "in a tenant it is a member of (multi_tenancy), and owns the seeded items, so every "
        "request goes through authentication, tenancy and ownership as a real one does. Rate "
        f"limits are raised to {NEVER_LIMIT}, which no worker reaches: the limiter does all its "
        "work and refuses nothing.",
        "",
        f"WebSocket fan-out (`benchmarks/ws_fanout.py`): {config.ws_clients} clients split "
        "over two uvicorn processes of the generated app on one Redis, each with a handshake "
        f"ticket. {config.ws_messages} messages at {config.ws_rate:g}/s, twice: published into "
        "a room by a client of the first process, then as the `item.created` events of items "
        "POSTed to the second process; latency is from the publish (or the POST) to receipt, "
        "for every client. Celery (`benchmarks/celery_tasks.py`): the project's own worker "
        "command, tasks published as the API publishes them (`worker.welcome_user`: a select "
        f"and an insert); {config.celery_tasks} at once for tasks/s, then "
        f"{config.celery_paced} at {config.celery_rate:g}/s for latency (publish to the result "
        "the worker stored).",
        "",
        f"Reproduce: `{command_line(config)}`.",
        "",
        "## Noise",
        "",
        f"{report.cpus} CPU cores shared with other work; load average "
        f"{report.load_before[0]:.2f} at the start"
        + (f", {report.load_after[0]:.2f} at the end" if report.load_after else "")
        + ". wrk, PostgreSQL, Redis and both servers share those cores, so absolute req/s are "
        "low and vary from round to round; the per-scenario spread ((max - min) / median of the "
        "rounds) is in the tables. Compare ratios, taken in the same minutes, not absolute "
        "figures, and treat ratio differences smaller than the spread as noise.",
        "",
        f"Template features: {', '.join(report.template_features) or 'none'}. "
        f"Missing from this template version: "
        + (
            ", ".join(
                sorted(
                    {
                        "auth",
                        "rate_limiting",
                        "celery",
                        "websockets",
                        "multi_tenancy",
                        "api_versioning",
                    }
                    - set(report.template_features)
                )
            )
            or "none"
        )
        + ".",
        "",
    ]
    lines += _summary(report.projects)
    for project in report.projects:
        lines += _project_section(project)
    return "\n".join(lines).rstrip() + "\n"


def command_line(config: BenchConfig) -> str:
    """The command that repeats a run with these settings (defaults left out)."""
    default = BenchConfig()
    options = [
        ("--duration", config.duration, default.duration),
        ("--rounds", config.rounds, default.rounds),
        ("--warmup", config.warmup, default.warmup),
        ("--connections", config.connections, default.connections),
        ("--threads", config.threads, default.threads),
        ("--rows", config.rows, default.rows),
        ("--redis", config.redis, default.redis),
        ("--postgres", config.postgres, default.postgres),
        ("--cold-starts", config.cold_starts, default.cold_starts),
        ("--ws-clients", config.ws_clients, default.ws_clients),
        ("--ws-messages", config.ws_messages, default.ws_messages),
        ("--ws-rate", config.ws_rate, default.ws_rate),
        ("--celery-tasks", config.celery_tasks, default.celery_tasks),
        ("--celery-paced", config.celery_paced, default.celery_paced),
    ]
    argv = ["uv run fastapi-template bench"]
    if config.projects != default.projects:
        argv += [f"--project {which}" for which in config.projects]
    argv += [
        f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
        for name, value, usual in options
        if value != usual
    ]
    if not config.ablations:
        argv.append("--no-ablations")
    return " ".join(argv)


def _summary(projects: Sequence[ProjectResult]) -> list[str]:
    lines = [
        "## Summary",
        "",
        "| project | list ratio (p99 ratio) | item GET ratio | 304 ratio | POST ratio | "
        "targets met |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for project in projects:
        cells = []
        for scenario in (
            LIST_SCENARIO,
            "single item GET (200 + ETag)",
            "single item GET, If-None-Match (304)",
            "POST create with Idempotency-Key",
        ):
            found = next((c for c in project.comparisons if c.scenario == scenario), None)
            if found is None or found.note:
                cells.append("-")
            elif scenario == LIST_SCENARIO:
                cells.append(f"{found.ratio:.2f}x ({found.p99_ratio:.2f}x)")
            else:
                cells.append(f"{found.ratio:.2f}x")
        verdicts = [verdict for _, _, verdict in _targets(project)]
        met = sum(v == "**met**" for v in verdicts)
        judged = sum(v in ("**met**", "**not met**") for v in verdicts)
        status = f"{met} of {judged}" if not project.error else "run failed"
        lines.append(f"| `{project.combo_id}` | {' | '.join(cells)} | {status} |")
    return [*lines, ""]


def _project_section(project: ProjectResult) -> list[str]:
    title = "all features" if project.combo_id != "base" else "no features"
    lines = [
        f"## `{project.combo_id}` ({title}: {', '.join(project.features_on) or 'none'})",
        "",
    ]
    if project.error:
        lines += [f"**The run failed:** {project.error}", ""]
    lines += [
        "| scenario | generated req/s | minimal req/s | ratio | generated p50 / p99 ms | "
        "minimal p50 / p99 ms | p99 ratio | spread gen / min | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for comparison in project.comparisons:
        name = comparison.scenario
        if name == LIST_SCENARIO:
            name += f" ({project.list_description})"
        if comparison.note:
            lines.append(f"| {name} | {comparison.note} | | | | | | | |")
            continue
        lines.append(
            f"| {name} | {comparison.rps('generated'):.0f} | {comparison.rps('minimal'):.0f} | "
            f"**{comparison.ratio:.2f}x** | {comparison.p50('generated'):.1f} / "
            f"{comparison.p99('generated'):.1f} | {comparison.p50('minimal'):.1f} / "
            f"{comparison.p99('minimal'):.1f} | {comparison.p99_ratio:.2f}x | "
            f"{_f(100 * comparison.spread('generated'), '.0f', '%')} / "
            f"{_f(100 * comparison.spread('minimal'), '.0f', '%')} | {comparison.errors()} |"
        )
    lines.append("")
    cold = statistics.median(project.cold_start_s) if project.cold_start_s else None
    minimal_cold = (
        statistics.median(project.minimal_cold_start_s) if project.minimal_cold_start_s else None
    )
    lines += [
        "| measure | generated | minimal |",
        "|---|---:|---:|",
        f"| render time (copier) | {_f(project.render_s, '.2f', ' s')} | - |",
        f"| uv sync (warm uv cache) | {_f(project.sync_s, '.1f', ' s')} | - |",
        f"| cold start to first response (median) | {_f(cold, '.2f', ' s')} | "
        f"{_f(minimal_cold, '.2f', ' s')} |",
        f"| RSS per worker after load | {_f(project.rss_mb, '.0f', ' MB')} | "
        f"{_f(project.minimal_rss_mb, '.0f', ' MB')} |",
    ]
    for scenario, figure in project.singles.items():
        lines.append(f"| {scenario} | {figure} | - |")
    lines += ["", "### Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    lines += [
        f"| {target} | {measured} | {verdict} |" for target, measured, verdict in _targets(project)
    ]
    lines.append("")
    if project.profile is not None:
        lines += _profile_section(project.profile, project.minimal_profile)
    return lines


def _profile_section(profile: Mapping[str, Any], minimal: Mapping[str, Any] | None) -> list[str]:
    total = profile["total_ms_per_request"]
    n = profile["requests"]
    lines = [
        "### Per-layer cost of the list endpoint (in-process profile)",
        "",
        f"{n} sequential in-process requests to `{profile['path']}` after a warm-up "
        "(`benchmarks/profile_hot_path.py`): each layer's inclusive wall time minus that of "
        "what it wraps, so a layer's own I/O (a Redis or database round trip) counts for it. "
        f"Total {total:.2f} ms per request"
        + (f"; the minimal app: {minimal['total_ms_per_request']:.2f} ms." if minimal else "."),
        "",
        "| layer | ms / request | share | note |",
        "|---|---:|---:|---|",
    ]
    io = profile["io"]
    for layer, ms in profile_rows(profile):
        share = ms / total if total else 0.0
        note = _note_for(layer)
        flagged = share >= 0.05 and note
        lines.append(f"| {layer} | {ms:.3f} | {100 * share:.1f}% | {note if flagged else ''} |")
    lines += [
        f"| of which: SQL statements ({io['sql_statements_per_request']:.1f} / request) | "
        f"{io['sql_ms_per_request']:.3f} | {100 * io['sql_ms_per_request'] / total:.1f}% | |",
        f"| of which: pool pre-ping ({io['pre_pings_per_request']:.1f} / request) | "
        f"{io['pre_ping_ms_per_request']:.3f} | "
        f"{100 * io['pre_ping_ms_per_request'] / total:.1f}% | "
        f"{_note_for('pool pre-ping') if io['pre_pings_per_request'] else ''} |",
        f"| Redis round trips / request | {io['redis_round_trips_per_request']:.1f} | | |",
        "",
    ]
    if "sql_by_kind" in io:
        lines += [
            f"Per request, SQL: {_kinds(io['sql_by_kind'])}. "
            f"Redis: {_kinds(io.get('redis_by_command', {}))}.",
            "",
        ]
    if statements_of(io, ("set_config",)) >= 1:
        lines += [f"Tenancy: {_note_for('set_config')}", ""]
    if minimal:
        mio = minimal["io"]
        lines += [
            f"Minimal app, same measure: SQL {mio['sql_statements_per_request']:.1f} / request "
            f"({mio['sql_ms_per_request']:.3f} ms), pre-pings {mio['pre_pings_per_request']:.1f}, "
            f"FastAPI's own work {minimal['router']['own_ms_per_request']:.3f} ms, endpoint + "
            f"session {sum(d['ms_per_request'] for d in minimal['dependencies'].values()):.3f} ms.",
            "",
        ]
    cpu = profile["cpu"]
    top = list(cpu["packages"].items())[:10]
    lines += [
        "CPU by package under cProfile (profiler overhead included, "
        f"{cpu['total_ms_per_request']:.2f} "
        "ms per request): " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in top) + ".",
        "",
    ]
    return lines


def write_report(report: BenchReport, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown(report), encoding="utf-8")
    raw = output.with_suffix(".json")
    raw.write_text(json.dumps(_raw(report), indent=1, default=str), encoding="utf-8")


def _raw(report: BenchReport) -> dict[str, Any]:
    """Every figure of the run, for comparisons between runs."""
    return {
        "started": report.started.isoformat(),
        "load_before": report.load_before,
        "load_after": report.load_after,
        "config": report.config.__dict__,
        "projects": [
            {
                "combo_id": p.combo_id,
                "render_s": p.render_s,
                "cold_start_s": p.cold_start_s,
                "minimal_cold_start_s": p.minimal_cold_start_s,
                "rss_mb": p.rss_mb,
                "minimal_rss_mb": p.minimal_rss_mb,
                "singles": p.singles,
                "error": p.error,
                "comparisons": [
                    {
                        "scenario": c.scenario,
                        "note": c.note,
                        "generated": [r.__dict__ for r in c.generated],
                        "minimal": [r.__dict__ for r in c.minimal],
                    }
                    for c in p.comparisons
                ],
                "drivers": p.drivers,
                "profile": p.profile,
                "minimal_profile": p.minimal_profile,
            }
            for p in report.projects
        ],
    }


# command ------------------------------------------------------------------------------------------


def command(
    *,
    duration: Annotated[
        float, typer.Option("--duration", "-d", min=1, help="Seconds per wrk run.")
    ] = 10.0,
    rounds: Annotated[
        int, typer.Option("--rounds", "-r", min=1, help="Interleaved A/B rounds.")
    ] = 5,
    warmup: Annotated[
        float, typer.Option(min=0, help="Warm-up seconds per app and scenario.")
    ] = 3.0,
    connections: Annotated[int, typer.Option("--connections", "-c", min=1)] = 32,
    threads: Annotated[int, typer.Option("--threads", "-t", min=1, help="wrk threads.")] = 1,
    rows: Annotated[int, typer.Option(min=100, help="Items seeded.")] = 10_000,
    project: Annotated[
        list[str] | None,
        typer.Option(
            "--project",
            "-p",
            metavar="ID",
            help="Combination to benchmark: all, base or an id like auth+celery (repeatable) "
            "\\[default: all and base].",
            show_default=False,
        ),
    ] = None,
    postgres: Annotated[
        str, typer.Option(help="PostgreSQL server (libpq URL without a database).")
    ] = DEFAULT_POSTGRES,
    redis: Annotated[
        str, typer.Option(help="Redis database of the run (flushed).")
    ] = DEFAULT_REDIS,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Markdown report.")
    ] = DEFAULT_REPORT,
    workdir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Render here \\[default: a temporary directory].",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep rendered projects and logs.")] = False,
    cold_starts: Annotated[
        int, typer.Option(min=1, help="Measured cold starts per app (median reported).")
    ] = 3,
    ablations: Annotated[
        bool,
        typer.Option(
            "--ablations/--no-ablations",
            help="Also run the list scenario with the limiter, access log and metrics "
            "switched off one at a time.",
        ),
    ] = True,
    ws_clients: Annotated[
        int, typer.Option(min=1, help="WebSocket fan-out: clients, split over 2 processes.")
    ] = 50,
    ws_messages: Annotated[
        int, typer.Option(min=1, help="WebSocket fan-out: messages published.")
    ] = 100,
    ws_rate: Annotated[
        float, typer.Option(min=0.1, help="WebSocket fan-out: messages per second.")
    ] = 20.0,
    celery_tasks: Annotated[
        int, typer.Option(min=1, help="Celery: tasks published at once (tasks/s).")
    ] = 500,
    celery_paced: Annotated[
        int, typer.Option(min=1, help="Celery: tasks published at a steady rate (latency).")
    ] = 50,
) -> None:
    """Benchmark generated projects against a hand-written minimal FastAPI app (wrk, A/B)."""
    config = BenchConfig(
        duration=duration,
        warmup=warmup,
        rounds=rounds,
        connections=connections,
        threads=threads,
        rows=rows,
        postgres=postgres,
        redis=redis,
        projects=tuple(project or ("all", "base")),
        ablations=ablations,
        cold_starts=cold_starts,
        ws_clients=ws_clients,
        ws_messages=ws_messages,
        ws_rate=ws_rate,
        celery_tasks=celery_tasks,
        celery_paced=celery_paced,
    )
    temporary = workdir is None
    root = Path(tempfile.mkdtemp(prefix="fastapi-template-bench-")) if temporary else workdir
    assert root is not None
    root.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        typer.echo(f"[{datetime.now(UTC):%H:%M:%S}] {message}")

    try:
        report = run_bench(config, root.resolve(), log)
    except BenchError as error:
        typer.secho(f"Error: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    finally:
        if temporary and not keep:
            shutil.rmtree(root, ignore_errors=True)
    write_report(report, output)
    log(f"report written to {output}")
    if keep:
        log(f"rendered projects and logs kept in {root}")
    if any(p.error for p in report.projects):
        raise typer.Exit(1)
