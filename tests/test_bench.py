"""The benchmark harness's pieces: wrk output parsing, the POST script, the drivers' figures,
the per-request I/O attribution and the report writer."""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from generator import bench
from generator.features import REPO_ROOT

PROFILE_SCRIPT = Path(bench.BENCH_DIR / "profile_hot_path.py")

# Captured from wrk 4.1.0 (Debian) against the generated service.
WRK_OK = """\
Running 3s test @ http://127.0.0.1:18001/api/v1/items
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   339.45ms  146.28ms 931.09ms   70.11%
    Req/Sec    93.73     57.07   242.00     73.08%
  Latency Distribution
     50%  316.84ms
     75%  429.57ms
     90%  515.96ms
     99%  865.35ms
  256 requests in 3.05s, 1.34MB read
Requests/sec:     83.92
Transfer/sec:    449.74KB
"""

# Captured from wrk 4.1.0 against python -m http.server on a missing path.
WRK_404 = """\
Running 1s test @ http://127.0.0.1:18555/missing
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.92ms    2.30ms  16.34ms   87.05%
    Req/Sec     1.40k   288.32     1.90k    80.00%
  Latency Distribution
     50%    0.89ms
     75%    2.50ms
     90%    4.74ms
     99%   11.82ms
  1406 requests in 1.01s, 713.98KB read
  Non-2xx or 3xx responses: 1406
Requests/sec:   1387.66
Transfer/sec:    704.67KB
"""

WRK_SOCKET_ERRORS = WRK_OK.replace(
    "Requests/sec:", "  Socket errors: connect 0, read 2, write 0, timeout 5\nRequests/sec:"
)


def test_parse_wrk_reads_throughput_and_percentiles() -> None:
    result = bench.parse_wrk(WRK_OK)
    assert result.requests_per_sec == pytest.approx(83.92)
    assert result.requests == 256
    assert result.seconds == pytest.approx(3.05)
    assert result.p50 == pytest.approx(316.84)
    assert result.latency_ms[90] == pytest.approx(515.96)
    assert result.p99 == pytest.approx(865.35)
    assert result.errors == 0


def test_parse_wrk_counts_failed_responses_and_socket_errors() -> None:
    assert bench.parse_wrk(WRK_404).errors == 1406
    assert bench.parse_wrk(WRK_404).p99 == pytest.approx(11.82)
    assert bench.parse_wrk(WRK_SOCKET_ERRORS).errors == 7


def test_parse_wrk_refuses_output_without_latency_distribution() -> None:
    without = WRK_OK.split("  Latency Distribution")[0] + WRK_OK.split("99%  865.35ms\n")[1]
    with pytest.raises(ValueError, match="latency"):
        bench.parse_wrk(without)
    with pytest.raises(ValueError, match="not wrk"):
        bench.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


@pytest.mark.parametrize(
    ("text", "ms"),
    [("850.00us", 0.85), ("12.5ms", 12.5), ("1.20s", 1200.0), ("2.00m", 120_000.0)],
)
def test_wrk_durations(text: str, ms: float) -> None:
    assert bench._ms(text) == pytest.approx(ms)


def test_import_times_sum_self_time_by_package() -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:      1000 |       1000 |   sqlalchemy.sql\n"
        "import time:      3000 |       4000 | sqlalchemy\n"
        "import time:       500 |        500 |     rich.console\n"
        "import time:       200 |       5700 | app.main\n"
    )
    assert bench.import_times(stderr) == [("sqlalchemy", 4.0), ("rich", 0.5), ("app", 0.2)]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench.percentile(values, 50) == 50.0
    assert bench.percentile(values, 99) == 99.0
    assert bench.percentile([3.0], 99) == 3.0


# A real wrk run ----------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    keys: list[str] = []  # noqa: RUF012 - shared by the handler instances of one server
    lock = threading.Lock()

    def do_GET(self) -> None:
        self._answer(200)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        assert body == bench.CREATE_BODY.encode()
        with self.lock:
            self.keys.append(self.headers.get("Idempotency-Key", ""))
        self._answer(201)

    def _answer(self, status: int) -> None:
        payload = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.keys = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_one_second_wrk_run_posts_a_fresh_idempotency_key_per_request(recorder: str) -> None:
    load = bench.Load(duration=1, connections=2, threads=1)
    request = bench.Request(
        "POST",
        recorder + "/items",
        (("Authorization", "Bearer x"),),
        bench.CREATE_BODY,
        idempotency=True,
    )
    result = bench.run_wrk(bench.ensure_wrk(install=False), request, load)
    assert result.requests_per_sec > 0
    assert result.errors == 0
    keys = _Recorder.keys
    assert len(keys) >= result.requests > 0
    assert all(keys)
    assert len(set(keys)) == len(keys)


def test_post_requests_use_the_lua_script() -> None:
    request = bench.Request("POST", "http://h/items", body="{}", idempotency=True)
    argv, env = bench.wrk_command("wrk", request, bench.Load(2, 8, 1))
    assert argv[argv.index("-s") + 1] == str(bench.POST_LUA)
    assert bench.POST_LUA.is_file()
    assert env["BENCH_IDEMPOTENCY"] == "1"
    get_argv, _ = bench.wrk_command("wrk", bench.Request("GET", "http://h/"), bench.Load(2, 8, 1))
    assert "-s" not in get_argv
    assert get_argv[:6] == ["wrk", "-t1", "-c8", "-d2s", "--timeout=10s", "--latency"]


# The report --------------------------------------------------------------------------------------


def _profile(total: float, redis: float, pre_pings: float) -> dict[str, object]:
    return {
        "path": "/api/v1/items?limit=20",
        "requests": 300,
        "total_ms_per_request": total,
        "middleware": [
            {"layer": "app.core.logging.AccessLogMiddleware", "ms_per_request": 0.9},
            {"layer": "starlette.middleware.cors.CORSMiddleware", "ms_per_request": 0.01},
        ],
        "router": {"layer": "fastapi.routing.APIRouter", "own_ms_per_request": 1.5},
        "dependencies": {
            "app.ratelimit.dependencies.enforce_rate_limit": {
                "ms_per_request": 2.0,
                "calls_per_request": 1.0,
            },
            "app.items.router.list_items": {"ms_per_request": 3.0, "calls_per_request": 1.0},
        },
        "io": {
            "sql_statements_per_request": 1.0,
            "sql_ms_per_request": 1.0,
            "pre_pings_per_request": pre_pings,
            "pre_ping_ms_per_request": 1.2 * pre_pings,
            "redis_round_trips_per_request": redis,
            "sql_by_kind": {"SELECT items": 1.0},
            "redis_by_command": {"EVALSHA": redis} if redis else {},
        },
        "cpu": {"total_ms_per_request": 9.0, "packages": {"sqlalchemy": 2.0, "fastapi": 1.0}},
    }


def _run(rps: float, p99: float) -> bench.WrkResult:
    return bench.WrkResult(
        rps, int(rps * 5), 5.0, {50: p99 / 3, 75: p99 / 2, 90: p99 / 1.5, 99: p99}, 0
    )


def _report() -> bench.BenchReport:
    listing = bench.Comparison(
        "list 20 of 10k items",
        generated=[_run(900, 60), _run(1000, 50), _run(1100, 55)],
        minimal=[_run(1000, 50), _run(950, 52), _run(1050, 48)],
    )
    skipped = bench.Comparison(
        "POST create with Idempotency-Key", note="not measured: preflight 401"
    )
    project = bench.ProjectResult(
        "rate_limiting+api_versioning",
        ["api_versioning", "rate_limiting"],
        render_s=1.5,
        cold_start_s=[2.5, 2.2, 2.4],
        minimal_cold_start_s=[1.0, 1.1, 0.9],
        rss_mb=110.0,
        minimal_rss_mb=80.0,
        comparisons=[listing, skipped],
        singles={
            "logins/s (wrk, argon2 bound)": bench.NA_ABSENT,
            "health probe during login storm": bench.NA_ABSENT,
        },
        profile=_profile(9.5, 2.0, 1.0),
        minimal_profile=_profile(6.0, 0.0, 0.0),
        list_description="rate-limited, versioned",
    )
    return bench.BenchReport(
        started=datetime(2026, 11, 22, 19, 0, tzinfo=UTC),
        finished=datetime(2026, 11, 22, 19, 20, tzinfo=UTC),
        config=bench.BenchConfig(duration=5, rounds=3),
        template_features=("rate_limiting", "api_versioning"),
        projects=[project],
        load_before=(3.0, 2.0, 1.0),
        load_after=(4.0, 3.0, 2.0),
        cpus=2,
        wrk_version="wrk 4.1.0",
    )


def test_comparison_takes_medians_and_ratios() -> None:
    listing = _report().projects[0].comparisons[0]
    assert listing.rps("generated") == 1000
    assert listing.rps("minimal") == 1000
    assert listing.ratio == pytest.approx(1.0)
    assert listing.p99_ratio == pytest.approx(55 / 50)
    assert listing.spread("generated") == pytest.approx(0.2)


def test_report_has_ratios_targets_na_and_layer_costs(tmp_path: Path) -> None:
    output = tmp_path / "reports" / "bench.md"
    bench.write_report(_report(), output)
    text = output.read_text(encoding="utf-8")
    assert "| list 20 of 10k items (rate-limited, versioned) | 1000 | 1000 | **1.00x** |" in text
    assert "not measured: preflight 401" in text
    assert "n/a (feature not in this template version)" in text
    assert "Missing from this template version: auth, celery, multi_tenancy, websockets." in text
    # p99 1.10x the minimal app's: the list target is not met even at equal throughput.
    assert "1.00x throughput, p99 1.10x | **not met** |" in text
    assert "| render of one project < 2 s | 1.50 s | **met** |" in text
    assert "| cold start to first response < 2 s | 2.40 s (median of 3) | **not met** |" in text
    assert "| RSS per worker < 150 MB | 110 MB after load | **met** |" in text
    assert (
        "| at most one Redis round trip per request (limiting + revocation) | 2.0 round trips "
        "(EVALSHA 2.00) | **not met** |" in text
    )
    assert "One Redis round trip per request: a Lua script" in text  # the limiter's note
    assert "after IDLE_PING_SECONDS idle" in text  # the pre-ping note
    assert "load average 3.00 at the start, 4.00 at the end" in text
    assert "| `rate_limiting+api_versioning` | 1.00x (1.10x) | - | - | - | 2 of 6 |" in text
    assert output.with_suffix(".json").is_file()


# Preflight, sign-in, naming ---------------------------------------------------------------------


def _reply(status: int, body: object) -> bench.Reply:
    return bench.Reply(status, {}, json.dumps(body).encode())


def test_preflight_refuses_a_wrong_status_and_a_list_the_caller_cannot_see() -> None:
    full = {"items": [{"id": str(n)} for n in range(20)], "next_cursor": "x"}
    assert bench.preflight_problem(_reply(200, full), (200,), 20) is None
    assert bench.preflight_problem(_reply(201, {}), (201,), None) is None
    assert "answered 401" in (bench.preflight_problem(_reply(401, {}), (200,), 20) or "")
    # Items of another owner or tenant: a cheap empty page that would flatter the figures.
    empty = bench.preflight_problem(_reply(200, {"items": [], "next_cursor": None}), (200,), 20)
    assert empty == "answered a page of 0 items, not 20"
    assert "no items" in (bench.preflight_problem(_reply(200, [1, 2]), (200,), 20) or "")


def test_login_form_names_the_tenant_only_with_multi_tenancy() -> None:
    assert urllib.parse.parse_qs(bench.login_form("a@example.com", None)) == {
        "username": ["a@example.com"],
        "password": [bench.LOGIN_PASSWORD],
    }
    assert urllib.parse.parse_qs(bench.login_form("a@example.com", "bench"))["tenant"] == ["bench"]


def test_the_all_features_project_gets_a_name_copier_accepts(tmp_path: Path) -> None:
    combo = "auth+rate_limiting+celery+websockets+multi_tenancy+api_versioning"
    session = bench.Session(bench.BenchConfig(), "wrk", tmp_path, combo, print, "all")
    assert session.project.name == "bench-all"
    assert session.dsn.rsplit("/", 1)[1].endswith("_all")
    # An explicit id is shortened to fit copier's 64 characters and PostgreSQL's 63.
    long_id = bench.Session(bench.BenchConfig(), "wrk", tmp_path, combo, print, combo)
    assert len(long_id.project.name) <= 64
    assert len(long_id.dsn.rsplit("/", 1)[1]) <= 63


# The drivers' figures ---------------------------------------------------------------------------

# Written by benchmarks/ws_fanout.py (10 clients, 20 messages) against the all-features project.
WS_RESULT = {
    "clients": 10,
    "servers": 2,
    "messages": 20,
    "rate_per_second": 20.0,
    "expected": 200,
    "delivered": 198,
    "publish_seconds": 0.95,
    "latency": {"count": 198, "p50_ms": 2.92, "p99_ms": 10.36, "max_ms": 10.38},
    "by_server": {
        "0": {"count": 100, "p50_ms": 4.12, "p99_ms": 10.37, "max_ms": 10.38},
        "1": {"count": 98, "p50_ms": 2.06, "p99_ms": 9.75, "max_ms": 9.76},
    },
}

# Written by benchmarks/celery_tasks.py (50 tasks at once, 10 paced).
CELERY_RESULT = {
    "burst": {
        "tasks": 50,
        "completed": 50,
        "seconds": 0.804,
        "tasks_per_second": 62.19,
        "p50_ms": 310.09,
        "p99_ms": 656.69,
        "max_ms": 656.69,
    },
    "paced": {
        "tasks": 10,
        "rate_per_second": 10.0,
        "completed": 9,
        "p50_ms": 12.11,
        "p99_ms": 16.6,
        "max_ms": 16.6,
    },
}


def test_websocket_figure_gives_latency_losses_and_each_process() -> None:
    figure = bench.ws_figure(WS_RESULT)
    assert figure.startswith("p50 2.9 ms, p99 10.4 ms, max 10.4 ms; delivered 198 of 200 ")
    assert "(10 clients on 2 processes, 20 messages published from process A at 20/s;" in figure
    assert "process A: p50 4.1 ms, p99 10.4 ms; process B: p50 2.1 ms, p99 9.8 ms)" in figure


def test_websocket_figure_of_item_events_names_their_channel() -> None:
    events = {**WS_RESULT, "via": "item POST", "channel": "items"}
    assert "20 items created on the last process, events on `items`, at 20/s;" in bench.ws_figure(
        events
    )


def test_websocket_figure_with_nothing_delivered() -> None:
    nothing = {
        **WS_RESULT,
        "delivered": 0,
        "latency": {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None},
        "by_server": {},
    }
    assert bench.ws_figure(nothing).startswith("p50 -, p99 -, max -; delivered 0 of 200 ")


def test_celery_figures_give_throughput_and_paced_latency() -> None:
    throughput, latency = bench.celery_figures(CELERY_RESULT)
    assert throughput == (
        "62.2 tasks/s (50 of 50 published at once, done in 0.80 s; latency under that "
        "backlog p50 310.1 ms, p99 656.7 ms)"
    )
    assert latency == "p50 12.1 ms, p99 16.6 ms, max 16.6 ms (9 of 10 tasks at 10/s)"


def test_a_run_without_completed_tasks_has_no_throughput() -> None:
    burst = {**CELERY_RESULT["burst"], "completed": 0, "tasks_per_second": None}
    throughput, _ = bench.celery_figures({**CELERY_RESULT, "burst": burst})
    assert throughput.startswith("- tasks/s (0 of 50 ")


# Who makes each SQL statement and Redis command -------------------------------------------------


@pytest.fixture(scope="module")
def profile_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("profile_hot_path", PROFILE_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        (
            "SELECT items.id, items.name FROM items WHERE items.owner_id = $1::UUID "
            "ORDER BY items.created_at, items.id LIMIT $2::INTEGER",
            "SELECT items",
        ),
        ("SELECT set_config('app.tenant_id', $1::VARCHAR, true)", "SELECT set_config"),
        (
            'INSERT INTO "idempotency_records" (scope, key) VALUES ($1, $2)',
            "INSERT idempotency_records",
        ),
        ("UPDATE users SET roles=$1 WHERE users.id = $2", "UPDATE users"),
        ("  select 1", "SELECT"),
    ],
)
def test_sql_statements_are_named_by_verb_and_table(
    profile_script: ModuleType, statement: str, kind: str
) -> None:
    assert profile_script.sql_summary(statement) == kind


def test_redis_sends_are_named_by_their_commands(profile_script: ModuleType) -> None:
    single = b"*3\r\n$7\r\nEVALSHA\r\n$40\r\nabc\r\n$1\r\n1\r\n"
    assert profile_script.redis_commands(single) == ["EVALSHA"]
    pipeline = [b"*2\r\n$4\r\nmget\r\n$3\r\nk:1\r\n", memoryview(b"*1\r\n$4\r\nPING\r\n")]
    assert profile_script.redis_commands(pipeline) == ["MGET", "PING"]
    assert profile_script.redis_commands(b"garbage") == ["?"]


def _project_with_io(features_on: list[str], sql: dict[str, float]) -> bench.ProjectResult:
    profile = _profile(9.5, 1.0, 1.0)
    io = profile["io"]
    assert isinstance(io, dict)
    io["sql_by_kind"] = sql
    io["redis_by_command"] = {"MGET": 1.0}
    return bench.ProjectResult("x", features_on, render_s=1.0, profile=profile)


def _verdicts(project: bench.ProjectResult) -> dict[str, tuple[str, str]]:
    return {target: (measured, verdict) for target, measured, verdict in bench._targets(project)}


def test_auth_and_tenancy_targets_count_their_own_statements_only() -> None:
    clean = _project_with_io(
        ["auth", "multi_tenancy"], {"SELECT items": 1.0, "SELECT tenants": 0.003}
    )
    verdicts = _verdicts(clean)
    auth = verdicts["zero database queries for authentication per request"]
    assert auth[1] == "**met**"
    assert auth[0].startswith("0.00 SQL statements on users/auth_revocations/... per request")
    assert verdicts["tenancy context without an extra round trip"][1] == "**met**"
    redis = verdicts["at most one Redis round trip per request (limiting + revocation)"]
    assert redis == ("1.0 round trips (MGET 1.00)", "**met**")

    costly = _project_with_io(
        ["auth", "multi_tenancy"],
        {"SELECT items": 1.0, "SELECT set_config": 1.0, "SELECT auth_revocations": 1.0},
    )
    verdicts = _verdicts(costly)
    assert verdicts["zero database queries for authentication per request"][1] == "**not met**"
    tenancy = verdicts["tenancy context without an extra round trip"]
    assert tenancy[0].startswith("1.00 tenancy SQL statements per request")
    assert tenancy[1] == "**not met**"

    # Without the features, the same figures are not judged.
    off = _verdicts(_project_with_io([], {"SELECT items": 1.0, "SELECT users": 1.0}))
    assert off["zero database queries for authentication per request"][1] == bench.NA_OFF
    assert off["tenancy context without an extra round trip"][1] == bench.NA_OFF


def test_the_report_says_how_to_repeat_the_run() -> None:
    assert bench.command_line(bench.BenchConfig()) == "uv run fastapi-template bench"
    config = bench.BenchConfig(
        duration=2, rounds=1, redis="redis://127.0.0.1:6379/12", projects=("all",), ablations=False
    )
    assert bench.command_line(config) == (
        "uv run fastapi-template bench --project all --duration 2 --rounds 1 "
        "--redis redis://127.0.0.1:6379/12 --no-ablations"
    )


def test_report_shows_the_drivers_figures(tmp_path: Path) -> None:
    report = _report()
    project = report.projects[0]
    project.singles[bench.WS_SCENARIO] = bench.ws_figure(WS_RESULT)
    project.singles[bench.CELERY_SCENARIO], project.singles[bench.CELERY_LATENCY] = (
        bench.celery_figures(CELERY_RESULT)
    )
    project.drivers = {"websocket_fanout": WS_RESULT, "celery": CELERY_RESULT}
    output = tmp_path / "bench.md"
    bench.write_report(report, output)
    text = output.read_text(encoding="utf-8")
    assert f"| {bench.WS_SCENARIO} | p50 2.9 ms, p99 10.4 ms" in text
    assert f"| {bench.CELERY_SCENARIO} | 62.2 tasks/s (50 of 50" in text
    assert "Reproduce: `uv run fastapi-template bench --duration 5 --rounds 3`." in text
    raw = json.loads(output.with_suffix(".json").read_text(encoding="utf-8"))
    assert raw["projects"][0]["drivers"]["celery"]["burst"]["tasks_per_second"] == 62.19


def test_the_performance_page_includes_the_report_the_harness_writes() -> None:
    root = REPO_ROOT
    page = (root / "docs" / "performance.md").read_text(encoding="utf-8")
    assert f"<!-- report: {bench.DEFAULT_REPORT.relative_to(root).as_posix()} -->" in page
    assert bench.DEFAULT_REPORT.relative_to(root).parts[0] == "docs"
