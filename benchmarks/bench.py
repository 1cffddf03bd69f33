"""`make bench`: lazgi's cost, side by side with the bare app and the alternatives, in one run.

Prints a table and writes BENCHMARKS.md. Timings are medians of interleaved rounds, so that the
ratios hold on a noisy machine; instruction counts (callgrind) are exact and repeatable.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
from asgi_lifespan import LifespanManager

import lazgi
from lazgi import LazyApp

from . import subjects, trivial
from .lifespans import cycle, started
from .subjects import BARE, FLOOR, FLOOR_1, FLOOR_2, LAZY, OLD

ROOT = Path(__file__).parents[1]
Row = tuple[str, str, str, str]  # what, measured, target, verdict


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def ratio_row(what: str, ours: float, theirs: float, limit: float) -> Row:
    return (what, f"{ours / theirs:.3f}", f"<= {limit}", verdict(ours <= limit * theirs))


def per_request_targets(measure: str, over: dict[str, float]) -> list[Row]:
    """The per-request target, for `measure` over the bare app: LazyApp's no larger than the
    minimal correct wrapper's, which counts the request in the current lifespan's tally; and,
    beside it, LazyApp's against the pass-through's and lazgi 0.1.0's, which count nothing."""
    return [
        ratio_row(
            f"per request: LazyApp {measure} / the counting wrapper's",
            over["lazgi"],
            over["counting"],
            1.0,
        ),
        *(
            (
                f"per request: LazyApp {measure} / {label}'s",
                f"{over['lazgi'] / over[name]:.3f}",
                "",
                "",
            )
            for name, label in (("pass-through", "the pass-through"), ("lazgi-0.1.0", "0.1.0"))
        ),
    ]


async def per_call_ns(apps: dict[str, Any], calls: int, rounds: int) -> dict[str, float]:
    """Median ns per call of each app, rounds interleaved."""
    scope: dict[str, Any] = {"type": "http", "state": {}}
    receive, send = trivial.nothing_received, trivial.nothing_sent
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            started = time.perf_counter_ns()
            for _ in range(calls):
                await app(scope, receive, send)
            samples[name].append((time.perf_counter_ns() - started) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


async def request_overhead() -> list[Row]:
    apps = {name: build() for name, build in trivial.PER_REQUEST.items()}
    async with started(apps["lazgi"]), started(apps["lazgi-0.1.0"]):
        ns = await per_call_ns(apps, calls=100_000, rounds=15)
    over = {name: value - ns["bare"] for name, value in ns.items()}
    rows = [
        (f"per request: {name}", f"{ns[name]:.0f} ns (+{over[name]:.0f})", "", "") for name in ns
    ]
    return rows + per_request_targets("overhead", over)


def instructions(runner: str, name: str, count: int) -> int:
    """Instructions callgrind counts for a whole `python -m benchmarks.RUNNER NAME COUNT`."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, "-m", f"benchmarks.{runner}", name, str(count)],
        capture_output=True, text=True, cwd=ROOT, check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # dict layouts, and so counts, repeat
    )  # fmt: skip
    return int(re.findall(r"Collected : (\d+)", done.stderr)[-1])


def instructions_each(runner: str, name: str, more: int, fewer: int) -> float:
    """The difference between two counts, per call, so that startup costs cancel out. The two
    runs go side by side: counts do not depend on timing."""
    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(instructions, [runner] * 2, [name] * 2, [more, fewer]))
    return (counts[0] - counts[1]) / (more - fewer)


def instructions_per_request(name: str) -> float:
    return instructions_each("calls", name, 3_000, 1_000)


def request_instructions() -> list[Row]:
    if shutil.which("valgrind") is None:
        return [("per request: instructions (callgrind)", "valgrind not installed", "", "")]
    counts = {name: instructions_per_request(name) for name in trivial.PER_REQUEST}
    over = {name: counts[name] - counts["bare"] for name in counts}
    rows: list[Row] = [
        (f"per request: {name}, instructions", f"{counts[name]:.0f} (+{over[name]:.0f})", "", "")
        for name in counts
    ]
    return rows + per_request_targets("instructions over bare", over)


async def per_cycle_us(
    cases: dict[str, Callable[[], Awaitable[None]]], cycles: int
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(9):
        for name, run in cases.items():
            started = time.perf_counter()
            for _ in range(cycles):
                await run()
            samples[name].append((time.perf_counter() - started) / cycles * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def cycle_targets(measure: str, unit: str, value: dict[str, float], *, target: bool) -> list[Row]:
    """The start/stop cycle's target, for `measure` (time or instructions), and what it rests
    on: the price of the two anyio scopes LazyApp enters (one spanning the factory, a second
    around the inner app's lifespan call), priced as floors in this run, and LazyApp's own work
    over them beside 0.1.0's own work over the plain floor. The target holds in instructions;
    time is reported."""
    base = value[BARE]
    added, added_old = value[LAZY] - base, value[OLD] - base
    scope, second = value[FLOOR_1] - value[FLOOR], value[FLOOR_2] - value[FLOOR_1]
    own, own_old = value[LAZY] - value[FLOOR_2], value[OLD] - value[FLOOR]
    return [
        (f"lifespan cycle{measure}: one anyio CancelScope", f"{scope:.1f}{unit}", "", ""),
        (
            f"lifespan cycle{measure}: a second CancelScope, nested inside the factory",
            f"{second:.1f}{unit}",
            "",
            "",
        ),
        (
            f"lifespan cycle{measure}: LazyApp's addition vs lazgi 0.1.0's",
            f"+{added:.1f} vs +{added_old:.1f}{unit}",
            "",
            "",
        ),
        # The target (issue 20): what LazyApp does beyond entering its two scopes costs no
        # more than what 0.1.0 did beyond entering its factory.
        (
            f"lifespan cycle{measure}: LazyApp over its two-scope floor vs 0.1.0 over the floor",
            f"+{own:.1f} vs +{own_old:.1f}{unit}",
            "no more" if target else "",
            verdict(own <= own_old) if target else "",
        ),
    ]


async def lifespan_cycles() -> list[Row]:
    app = subjects.starlette_app()

    async def with_lifespan() -> None:
        async with lazgi.lifespan(app):
            pass

    async def with_manager() -> None:
        async with LifespanManager(app):
            pass

    cases: dict[str, Callable[[], Awaitable[None]]] = {
        name: partial(cycle, make()) for name, make in subjects.CYCLE.items()
    }
    cases["lazgi.lifespan(Starlette)"] = with_lifespan
    cases["asgi-lifespan LifespanManager(Starlette)"] = with_manager
    us = await per_cycle_us(cases, cycles=2_000)
    rows: list[Row] = [
        (f"lifespan cycle: {name}", f"{value:.1f} us", "", "") for name, value in us.items()
    ]
    rows += cycle_targets("", " us", us, target=False)
    ours, theirs = us["lazgi.lifespan(Starlette)"], us["asgi-lifespan LifespanManager(Starlette)"]
    rows.append(
        (
            "lifespan cycle: lazgi.lifespan() vs LifespanManager",
            f"{ours:.1f} us vs {theirs:.1f} us",
            "not slower",
            verdict(ours <= theirs),
        )
    )
    return rows


def cycle_instructions() -> list[Row]:
    if shutil.which("valgrind") is None:
        return [("lifespan cycle: instructions (callgrind)", "valgrind not installed", "", "")]
    counts = {name: instructions_each("cycles", name, 600, 200) for name in subjects.CYCLE}
    rows: list[Row] = [
        (f"lifespan cycle: {name}, instructions", f"{count:.0f}", "", "")
        for name, count in counts.items()
    ]
    per_1000 = {name: count / 1000 for name, count in counts.items()}
    return rows + cycle_targets(", instructions", "k", per_1000, target=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# asyncio reads each socket with recv(256 KiB). Whether glibc serves that from the heap or
# with an mmap and a munmap (two page faults: 10-15% fewer requests/s) depends on unrelated heap
# layout (python/cpython#85451); a top pad of 1 MiB kept both servers out of it only until the
# modules imported changed. A fixed mmap threshold above 256 KiB and a trim threshold that never
# gives the top back keep every read on the heap, whatever the layout; the page-fault row shows it.
SERVER_ENV = {
    **os.environ,
    "MALLOC_MMAP_THRESHOLD_": str(1 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 24),
}


def minor_faults(pid: int) -> int:
    """Field 10 of /proc/PID/stat, minflt: the 8th after the parenthesised command name."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def requests_per_second(target: str, seconds: int) -> tuple[float, float]:
    """Serve `target` with uvicorn on 127.0.0.1 and load it with wrk for `seconds`: requests
    per second, and the server's minor page faults per request."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=SERVER_ENV, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:  # poll until it accepts connections, with a bound
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"uvicorn {target} did not start") from None
                time.sleep(0.05)
        faults = minor_faults(server.pid)
        done = subprocess.run(
            ["wrk", "-t1", "-c32", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, check=True, timeout=seconds + 30,
        )  # fmt: skip
        faults = minor_faults(server.pid) - faults
        served = int(re.findall(r"(\d+) requests in", done.stdout)[0])
        return float(re.findall(r"Requests/sec:\s+([\d.]+)", done.stdout)[0]), faults / served
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def end_to_end() -> list[Row]:
    if shutil.which("wrk") is None:
        return [("end to end (wrk, uvicorn)", "skipped: wrk not installed", ">= 0.97", "")]
    runs: dict[str, list[tuple[float, float]]] = {"bare": [], "lazy": []}
    for _ in range(5):  # alternating, so that drift hits both alike
        for name in runs:
            runs[name].append(requests_per_second(f"benchmarks.subjects:{name}_starlette", 4))
    rps = {name: statistics.median(rps for rps, _ in runs[name]) for name in runs}
    faults = {name: max(per for _, per in runs[name]) for name in runs}
    bare, lazy = rps["bare"], rps["lazy"]
    return [
        ("end to end: bare Starlette under uvicorn", f"{bare:.0f} req/s", "", ""),
        ("end to end: LazyApp(Starlette) under uvicorn", f"{lazy:.0f} req/s", "", ""),
        ("end to end: ratio", f"{lazy / bare:.3f}", ">= 0.97", verdict(lazy / bare >= 0.97)),
        (
            "end to end: server page faults per request, most of any run, bare / LazyApp",
            f"{faults['bare']:.3f} / {faults['lazy']:.3f}",
            "",
            "",
        ),
    ]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


async def soak() -> list[Row]:
    app = LazyApp(subjects.starlette_factory)
    started = time.perf_counter()
    for _ in range(1_000):
        await cycle(app)
    gc.collect()
    at_1k = rss_mib()
    for _ in range(9_000):
        await cycle(app)
    gc.collect()
    at_10k, elapsed = rss_mib(), time.perf_counter() - started
    return [
        ("restart soak: peak RSS after 1k / 10k cycles", f"{at_1k:.2f} / {at_10k:.2f} MiB", "", ""),
        (
            "restart soak: growth",
            f"{at_10k - at_1k:.2f} MiB",
            "<= 1 MiB",
            verdict(at_10k - at_1k <= 1),
        ),
        ("restart soak: cycles per second", f"{10_000 / elapsed:.0f}", "", ""),
    ]


def import_us(module: str) -> float:
    """Median cumulative import time of `module` in fresh interpreters (python -X importtime)."""
    times: list[int] = []
    for _ in range(7):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        line = [ln for ln in done.stderr.splitlines() if ln.rstrip().endswith(f"| {module}")][-1]
        times.append(int(line.split("|")[1]))
    return statistics.median(times)


def import_times() -> list[Row]:
    ours, theirs = import_us("lazgi"), import_us("anyio")
    return [
        ("import lazgi (cumulative, includes anyio)", f"{ours / 1000:.1f} ms", "", ""),
        ("import anyio", f"{theirs / 1000:.1f} ms", "", ""),
    ]


def machine() -> list[str]:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    packages = ["anyio", "starlette", "uvicorn", "asgi-lifespan", "asgi-lifespan-middleware"]
    return [
        f"- Machine: {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.platform()}",
        f"- Python {platform.python_version()}; lazgi {lazgi.__version__}; lazgi 0.1.0 from PyPI; "
        + ", ".join(f"{name} {version(name)}" for name in packages),
        f"- valgrind: {'yes' if shutil.which('valgrind') else 'no'}; "
        f"wrk: {'yes' if shutil.which('wrk') else 'no'}",
    ]


def measure() -> dict[str, Any]:
    """Every row, measured on the running Python, with what it ran on."""
    rows: list[Row] = []
    rows += asyncio.run(request_overhead())
    rows += request_instructions()
    rows += anyio.run(lifespan_cycles)
    rows += cycle_instructions()
    rows += end_to_end()
    rows += anyio.run(soak)
    rows += import_times()
    return {"python": platform.python_version(), "machine": machine(), "rows": rows}


def combine(runs: list[dict[str, Any]]) -> str:
    """One table, a column of results for each Python, each verdict beside its result."""
    pythons = [f"Python {run['python']}" for run in runs]
    table = [
        f"| measure | {' | '.join(pythons)} | target |",
        "| --- |" + " --- |" * (len(runs) + 1),
    ]
    for row, *others in zip(*(run["rows"] for run in runs), strict=True):
        what, target = row[0], row[2]
        results = [row, *others]
        assert all(other[0] == what for other in others), (what, others)
        cells = [f"{result} {ok}".strip() for _, result, _, ok in results]
        table.append(f"| {what} | {' | '.join(cells)} | {target} |")
    machines = [line for run in runs for line in run["machine"]]
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `make bench` on "
            + time.strftime("%Y-%m-%d")
            + ", on the oldest and the newest Python the project supports, one after the "
            + "other; every number below comes from that one run.",
            "",
            *dict.fromkeys(machines),  # the machine once, each Python's versions once
            "",
            *table,
            "",
            (ROOT / "benchmarks" / "NOTES.md").read_text().strip(),
            "",
        ]
    )


def main() -> None:
    """`--json PATH`: measure on this Python, write the rows to PATH. `--combine PATH...`:
    write BENCHMARKS.md from those runs, side by side."""
    if sys.argv[1:2] == ["--json"]:
        run = measure()
        Path(sys.argv[2]).write_text(json.dumps(run))
        print("\n".join(f"| {' | '.join(row)} |" for row in run["rows"]))
    elif sys.argv[1:2] == ["--combine"]:
        text = combine([json.loads(Path(path).read_text()) for path in sys.argv[2:]])
        (ROOT / "BENCHMARKS.md").write_text(text)
        print(text)
    else:
        sys.exit(main.__doc__)


if __name__ == "__main__":
    main()
