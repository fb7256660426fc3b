"""The benchmark harness's pieces: wrk output parsing, the POST script, the report writer."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from generator import bench

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
        "| at most one Redis round trip per request (limiting + revocation) | 2.0 round trips"
        in text
    )
    assert "Two Redis round trips per request" in text  # the limiter's issue note
    assert "`pool_pre_ping=True`" in text
    assert "load average 3.00 at the start, 4.00 at the end" in text
    assert "| `rate_limiting+api_versioning` | 1.00x (1.10x) | - | - | - | 2 of 6 |" in text
    assert output.with_suffix(".json").is_file()
