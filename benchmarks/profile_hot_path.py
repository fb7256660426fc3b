"""Per-layer cost of one request path, measured in-process (no server, no network client).

Runs inside the rendered project's environment, with the project directory as the working
directory and the service's settings in the environment:

    python profile_hot_path.py --app app.main:app --path /api/items?limit=20 \
        --header "Authorization: Bearer ..." --requests 300 --output profile.json

It starts the app's lifespan, then sends `--requests` sequential requests straight to the ASGI
app after `--warmup` unmeasured ones. Sequential requests mean that the only waiting is the
request's own I/O, so for every layer (each middleware, each dependency, the endpoint) the
inclusive wall time minus the inclusive time of what it wraps is that layer's own cost, I/O it
does itself (a Redis round trip in the limiter, a query in the endpoint) included.

Also counted per request: SQL statements (and their wall time), connection pre-pings, Redis
round trips (commands or pipelines sent). A second pass under cProfile gives CPU time by
package. Writes one JSON document to --output (the app's own logs go to stdout).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import gc
import importlib
import inspect
import json
import os
import pstats
import re
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

Totals = defaultdict[str, float]
_totals: Totals = defaultdict(float)
_counts: defaultdict[str, int] = defaultdict(int)


def _record(label: str, seconds: float) -> None:
    _totals[label] += seconds
    _counts[label] += 1


class TimedLayer:
    """An ASGI app wrapper that records the inclusive wall time of the app it wraps."""

    def __init__(self, app: Any, label: str) -> None:
        self.app = app
        self.label = label

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            _record(self.label, time.perf_counter() - started)


def _label_of(obj: Any) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def instrument_middleware(app: Any) -> list[str]:
    """Wrap every layer of the built middleware stack; returns labels, outermost first."""
    from starlette.routing import Router

    if app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()
    labels = []
    outer = TimedLayer(app.middleware_stack, "total")
    app.middleware_stack = outer
    node = outer.app
    parent: Any = outer
    while True:
        label = _label_of(node)
        labels.append(label)
        timed = TimedLayer(node, label)
        parent.app = timed
        inner = getattr(node, "app", None)
        # A router is the innermost layer (its `app` attribute is a method, not a layer).
        if inner is None or not callable(inner) or isinstance(node, Router):
            break
        parent, node = node, inner
    return labels


def _timed_call(call: Callable[..., Any], label: str) -> Callable[..., Any]:
    """A wrapper of the same kind (coroutine, async generator, generator, plain) as `call`."""
    if inspect.isasyncgenfunction(call):

        @functools.wraps(call)
        async def agen(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            started = time.perf_counter()
            async with contextlib.asynccontextmanager(call)(*args, **kwargs) as value:
                _record(label, time.perf_counter() - started)
                yield value

        return agen
    if inspect.iscoroutinefunction(call):

        @functools.wraps(call)
        async def coro(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                _record(label, time.perf_counter() - started)

        return coro
    if inspect.isgeneratorfunction(call):

        @functools.wraps(call)
        def gen(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            with contextlib.contextmanager(call)(*args, **kwargs) as value:
                _record(label, time.perf_counter() - started)
                yield value

        return gen

    @functools.wraps(call)
    def plain(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            _record(label, time.perf_counter() - started)

    return plain


def instrument_dependencies(prefixes: tuple[str, ...]) -> int:
    """Time every dependency and endpoint defined in the project's own modules.

    Every FastAPI `Dependant` in memory is patched, whatever route context built it.
    """
    from fastapi.dependencies.models import Dependant

    wrapped: dict[int, Callable[..., Any]] = {}
    patched = 0
    for obj in gc.get_objects():
        if not isinstance(obj, Dependant) or obj.call is None:
            continue
        call = obj.call
        module = getattr(call, "__module__", "") or ""
        if not module.startswith(prefixes) or getattr(call, "__bench_timed__", False):
            continue
        if id(call) not in wrapped:
            label = f"{module}.{getattr(call, '__qualname__', repr(call))}"
            timed = _timed_call(call, label)
            timed.__bench_timed__ = True  # type: ignore[attr-defined]
            wrapped[id(call)] = timed
        obj.call = wrapped[id(call)]
        patched += 1
    return patched


_SQL_VERB = re.compile(r"^\s*(\w+)")
_SQL_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+"?(\w+)', re.IGNORECASE)
_SQL_CALL = re.compile(r"^\s*SELECT\s+(\w+)\s*\(", re.IGNORECASE)
_RESP_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z_.]+)\r\n")


def sql_summary(statement: str) -> str:
    """What a statement does, to tell whose it is: verb and first table ("SELECT items"),
    or the function a table-less SELECT calls ("SELECT set_config")."""
    verb = _SQL_VERB.match(statement)
    table = _SQL_TABLE.search(statement)
    call = _SQL_CALL.match(statement)
    name = table.group(1) if table else (call.group(1) if call else "")
    return f"{verb.group(1).upper() if verb else '?'} {name}".strip()


def redis_commands(command: Any) -> list[str]:
    """Command names in one packed send (several for a pipeline)."""
    chunks = command if isinstance(command, (list, tuple)) else [command]
    packed = b"".join(bytes(chunk) for chunk in chunks)
    return [name.decode().upper() for name in _RESP_COMMAND.findall(packed)] or ["?"]


def instrument_io(state: dict[str, Any]) -> None:
    """Count SQL statements, pre-pings and Redis round trips."""
    from sqlalchemy import event

    engine = state.get("engine")
    if engine is not None:
        starts: list[float] = []

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _before(*_args: Any) -> None:
            starts.append(time.perf_counter())

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            _record("io: SQL statement", time.perf_counter() - starts.pop())
            _counts["sql: " + sql_summary(statement)] += 1

        dialect = engine.sync_engine.dialect
        ping = dialect.do_ping

        def timed_ping(connection: Any) -> Any:
            started = time.perf_counter()
            try:
                return ping(connection)
            finally:
                _record("io: pool pre-ping", time.perf_counter() - started)

        dialect.do_ping = timed_ping
    try:
        from redis.asyncio.connection import AbstractConnection
    except ImportError:  # pragma: no cover - every project has redis
        return
    send = AbstractConnection.send_packed_command

    async def counted_send(self: Any, command: Any, check_health: bool = True) -> None:
        _counts["io: Redis round trip"] += 1
        _counts["redis: " + " + ".join(redis_commands(command))] += 1
        await send(self, command, check_health)

    AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]


def _scope(method: str, target: str, headers: list[tuple[str, str]], state: dict[str, Any]) -> Any:
    path, _, query = target.partition("?")
    raw = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench-profile")]
    raw += [(name.lower().encode(), value.encode()) for name, value in headers]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": dict(state),
    }


async def _request(
    app: Any, target: str, headers: list[tuple[str, str]], state: dict[str, Any]
) -> int:
    sent = False
    status = 0
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope("GET", target, headers, state), receive, send)
    return status


def _package(filename: str) -> str:
    """Group a profiled function by the top-level package (or `app`) it belongs to."""
    normalized = filename.replace("\\", "/")
    if "/site-packages/" in normalized:
        return normalized.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if normalized.startswith("~") or normalized.startswith("<"):
        return "python (builtins)"
    cwd = os.getcwd().replace("\\", "/") + "/"
    if normalized.startswith(cwd):
        return normalized[len(cwd) :].split("/", 1)[0].removesuffix(".py")
    if "/lib/python3" in normalized:
        return "python (stdlib)"
    return os.path.basename(normalized)


def _cpu_by_package(profile: cProfile.Profile, requests: int) -> dict[str, Any]:
    stats = pstats.Stats(profile)
    by_package: defaultdict[str, float] = defaultdict(float)
    functions = []
    for (filename, line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_package[_package(filename)] += tottime
        functions.append(
            (tottime, f"{_package(filename)}: {name} ({os.path.basename(filename)}:{line})")
        )
    functions.sort(reverse=True)
    total = sum(by_package.values())
    return {
        "total_ms_per_request": 1000 * total / requests,
        "packages": {
            name: 1000 * seconds / requests
            for name, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])
        },
        "top_functions": [
            {"ms_per_request": 1000 * seconds / requests, "function": label}
            for seconds, label in functions[:15]
        ],
    }


def _per_request(counts: dict[str, int], prefix: str, n: int) -> dict[str, float]:
    found = {k.removeprefix(prefix): v / n for k, v in counts.items() if k.startswith(prefix)}
    return dict(sorted(found.items(), key=lambda kv: -kv[1]))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    module_name, _, attribute = args.app.partition(":")
    sys.path.insert(0, os.getcwd())
    for extra in args.sys_path:
        sys.path.insert(0, extra)
    module = importlib.import_module(module_name)
    app = getattr(module, attribute)
    headers = [tuple(part.strip() for part in h.split(":", 1)) for h in args.header]
    async with app.router.lifespan_context(app) as maybe_state:
        state = dict(maybe_state or {})
        statuses: defaultdict[int, int] = defaultdict(int)
        # Warm up first: routes build their handlers (and dependants) on first use.
        for _ in range(args.warmup):
            statuses[await _request(app, args.path, headers, state)] += 1
        patched = instrument_dependencies(tuple(args.module_prefix))
        layers = instrument_middleware(app)
        instrument_io(state if "engine" in state else {"engine": getattr(module, "engine", None)})
        for _ in range(10):
            statuses[await _request(app, args.path, headers, state)] += 1
        _totals.clear()
        _counts.clear()
        started = time.perf_counter()
        for _ in range(args.requests):
            statuses[await _request(app, args.path, headers, state)] += 1
        wall = time.perf_counter() - started
        totals, counts = dict(_totals), dict(_counts)

        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            await _request(app, args.path, headers, state)
        profile.disable()

    n = args.requests
    per_request = {label: 1000 * seconds / n for label, seconds in totals.items()}
    # Self time of each middleware layer: its inclusive time minus the next layer's.
    chain = ["total", *layers]
    middleware = []
    for outer, inner in zip(chain[1:], [*chain[2:], None], strict=True):
        own = per_request.get(outer, 0.0) - (per_request.get(inner, 0.0) if inner else 0.0)
        middleware.append({"layer": outer, "ms_per_request": own})
    innermost = chain[-1]
    dependencies = {
        label: {"ms_per_request": ms, "calls_per_request": counts[label] / n}
        for label, ms in per_request.items()
        if label not in chain and not label.startswith("io: ")
    }
    # The innermost layer (the router) holds dependencies, endpoint and FastAPI's own work.
    router_own = per_request.get(innermost, 0.0) - sum(
        d["ms_per_request"] for d in dependencies.values()
    )
    return {
        "app": args.app,
        "path": args.path,
        "requests": n,
        "statuses": {str(k): v for k, v in statuses.items()},
        "wall_ms_per_request": 1000 * wall / n,
        "total_ms_per_request": per_request.get("total", 0.0),
        "middleware": middleware[:-1],
        "router": {"layer": innermost, "own_ms_per_request": router_own},
        "dependencies": dependencies,
        "io": {
            "sql_statements_per_request": counts.get("io: SQL statement", 0) / n,
            "sql_ms_per_request": per_request.get("io: SQL statement", 0.0),
            "pre_pings_per_request": counts.get("io: pool pre-ping", 0) / n,
            "pre_ping_ms_per_request": per_request.get("io: pool pre-ping", 0.0),
            "redis_round_trips_per_request": counts.get("io: Redis round trip", 0) / n,
            # Which statements and Redis commands those are, per request.
            "sql_by_kind": _per_request(counts, "sql: ", n),
            "redis_by_command": _per_request(counts, "redis: ", n),
        },
        "patched_dependants": patched,
        "cpu": _cpu_by_package(profile, n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app", default="app.main:app")
    parser.add_argument("--path", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--sys-path", action="append", default=[])
    parser.add_argument("--module-prefix", action="append", default=["app.", "minimal_app"])
    parser.add_argument("--output", required=True, help="Write the JSON result here.")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    with open(args.output, "w", encoding="utf-8") as stream:
        json.dump(result, stream, indent=1)


if __name__ == "__main__":
    main()
