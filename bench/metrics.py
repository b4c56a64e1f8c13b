#!/usr/bin/env python3
"""Nanoseconds per metrics increment, side by side in one run:

- tusk with the metrics plugin, in-process (trusted, as first-party plugins run):
  `@metrics.counter(name)`, the seed's `@metrics("counter", name, 1)`, `increment_counter(name)`,
  a counter with two labels, and `record_histogram(name, 0.2)`;
- Python's prometheus_client: `Counter.inc()`, `Counter.labels(...).inc()`, `Histogram.observe()`.

Each tusk script is one `reduce` over `range(0, N)` whose step makes the call; the cost of a call
is the time of that run minus the time of the same loop without the call (`acc + 1`: start-up,
plugin load and the loop itself), divided by N. The built-in `abs(i)` in the same loop is shown
for scale: a plugin call also pays the host's plugin-call route. Python times its loop itself,
minus an empty loop of the same length.

    python3 bench/metrics.py [--calls 1000000] [--rounds 3] [--no-build] [--python /path/to/python]
    python3 bench/metrics.py --no-build --callgrind [--baseline OTHER_RELEASE_DIR] [--keep DIR]

`--callgrind` counts instructions instead of timing (valgrind, one run of each tusk script with
100,000 calls and one of the loop alone; no Python), which the machine's load cannot move: the
instructions per call beyond the loop. `--baseline DIR` counts a second build too (a folder
holding its `tusk` and `libtusk_plugin_metrics.so`); `--keep DIR` keeps the profiles
(`DIR/callgrind.NAME.N`, N the case's row) for `callgrind_annotate`.

The Python side needs prometheus_client (`python3 -m venv /tmp/tusk-metrics-bench-venv &&
/tmp/tusk-metrics-bench-venv/bin/pip install prometheus_client`, then pass that python).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"

TUSK_CASES = [
    ("loop only (acc + 1)", "acc + 1", None),
    ("built-in abs(i)", "acc + abs(i) - i + 1", None),
    ("@metrics.counter(name)", 'acc + 0 * @metrics.counter("bench_requests") + 1', "counter"),
    ('@metrics("counter", name, 1)', 'acc + 0 * @metrics("counter", "bench_seed", 1) + 1', "counter"),
    ("increment_counter(name)", 'acc + 0 * increment_counter("bench_function") + 1', "counter"),
    ("@metrics.counter(name, 1, {2 labels})", 'acc + 0 * @metrics.counter("bench_labelled", 1, {method: "GET", code: 200}) + 1', "counter"),
    ("record_histogram(name, 0.2)", '(record_histogram("bench_latency", 0.2) == null ? acc + 1 : acc)', "histogram"),
]

PYTHON = """
import sys, time
from prometheus_client import CollectorRegistry, Counter, Histogram
n = int(sys.argv[1])
registry = CollectorRegistry()
plain = Counter("bench_requests", "r", registry=registry)
labelled = Counter("bench_labelled", "r", ["method", "code"], registry=registry)
histogram = Histogram("bench_latency", "r", registry=registry)
def empty():
    start = time.perf_counter()
    for _ in range(n):
        pass
    return time.perf_counter() - start
def inc():
    start = time.perf_counter()
    for _ in range(n):
        plain.inc()
    return time.perf_counter() - start
def inc_labels():
    start = time.perf_counter()
    for _ in range(n):
        labelled.labels(method="GET", code="200").inc()
    return time.perf_counter() - start
def observe():
    start = time.perf_counter()
    for _ in range(n):
        histogram.observe(0.2)
    return time.perf_counter() - start
base = empty()
print(inc() - base, inc_labels() - base, observe() - base)
"""


def install(folder: Path, release: Path = TARGET) -> None:
    plugin = folder / "metrics"
    plugin.mkdir(parents=True)
    source = ROOT / "stdlib-plugins" / "metrics"
    shutil.copy(source / "plugin.toml", plugin / "plugin.toml")
    shutil.copy(source / "config.schema.json", plugin / "config.schema.json")
    shutil.copy(release / "libtusk_plugin_metrics.so", plugin / "libtusk_plugin_metrics.so")


def run_tusk(env: dict, folder: Path, body: str, n: int, tusk: Path = TARGET / "tusk") -> float:
    script = folder / "bench.tsk"
    script.write_text(f"total: reduce(range(0, {n}), 0, (acc, i) => {body})\n")
    started = time.perf_counter()
    result = subprocess.run([str(tusk), "get", str(script), "total"], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or result.stdout.strip() != str(n):
        raise SystemExit(f"tusk `{body}` (n={n}) failed: {result.stdout}{result.stderr}")
    return elapsed


def environment(scratch: Path) -> dict:
    grants = scratch / "config" / "tusk" / "grants.toml"
    grants.parent.mkdir(parents=True)
    grants.write_text("[metrics]\ntrusted = true\n")
    return dict(
        os.environ,
        TUSK_PLUGIN_PATH=str(scratch / "plugins"),
        XDG_CONFIG_HOME=str(scratch / "config"),
        XDG_CACHE_HOME=str(scratch / "cache"),
        XDG_DATA_HOME=str(scratch / "data"),
    )


def count_instructions(name: str, release: Path, keep: Path | None) -> None:
    """Instructions per call of each tusk case beyond the loop alone, 100,000 calls each."""
    n = 100_000
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        install(scratch / "plugins", release)
        env = environment(scratch)
        tusk = release / "tusk"
        run_tusk(env, scratch, TUSK_CASES[2][1], 10, tusk)  # the index and the library cache, warm
        counts = []
        for row, (label, body, _) in enumerate(TUSK_CASES):
            script = scratch / "bench.tsk"
            script.write_text(f"total: reduce(range(0, {n}), 0, (acc, i) => {body})\n")
            out = "/dev/null" if keep is None else str(keep / f"callgrind.{name}.{row}")
            result = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(tusk), "get", str(script), "total"],
                env=env, capture_output=True, text=True,
            )
            match = re.search(r"Collected : (\d+)", result.stderr)
            if result.returncode != 0 or not match or result.stdout.strip() != str(n):
                raise SystemExit(f"valgrind tusk `{body}` failed: {result.stdout}{result.stderr[-2000:]}")
            counts.append(int(match.group(1)))
        print(f"{name} ({release}): instructions per call beyond the loop, {n:,} calls")
        for (label, _, _), count in zip(TUSK_CASES[1:], counts[1:]):
            print(f"  {label:<40} {(count - counts[0]) / n:>8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--python", default="/tmp/tusk-metrics-bench-venv/bin/python")
    parser.add_argument("--callgrind", action="store_true", help="count instructions (100,000 calls) instead")
    parser.add_argument("--baseline", type=Path, help="with --callgrind: another release folder to count too")
    parser.add_argument("--keep", type=Path, help="with --callgrind: keep the profiles in this folder")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "tusk-cli", "-p", "tusk-plugin-metrics"], cwd=ROOT, check=True)
    if args.callgrind:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        count_instructions("tusk", TARGET, args.keep)
        if args.baseline:
            count_instructions("baseline", args.baseline, args.keep)
        return
    n = args.calls
    samples = {label: [] for label, _, _ in TUSK_CASES}
    python_samples = {"Python Counter.inc()": [], "Python Counter.labels(2).inc()": [], "Python Histogram.observe()": []}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        install(scratch / "plugins")
        env = environment(scratch)
        # Every round runs each contender once, so that a change in the machine's load hits
        # them alike; the medians over the rounds are reported.
        for _ in range(args.rounds):
            for label, body, _ in TUSK_CASES:
                samples[label].append(run_tusk(env, scratch, body, n))
            result = subprocess.run([args.python, "-c", PYTHON, str(n)], capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"python failed: {result.stderr}")
            for label, seconds in zip(python_samples, result.stdout.split()):
                python_samples[label].append(float(seconds))
    loop = statistics.median(samples[TUSK_CASES[0][0]])
    print(f"ns per call over {n:,} calls, median of {args.rounds} rounds (tusk: run time minus the loop's {loop:.3f} s)")
    figures = {}
    for label, _, _ in TUSK_CASES[1:]:
        figures[label] = (statistics.median(samples[label]) - loop) / n * 1e9
        print(f"  tusk {label:<40} {figures[label]:>8.1f}")
    for label, values in python_samples.items():
        figures[label] = statistics.median(values) / n * 1e9
        print(f"  {label:<45} {figures[label]:>8.1f}")
    builtin = figures["built-in abs(i)"]
    counter = figures["@metrics.counter(name)"]
    print(f"  @metrics.counter beyond a built-in call: {counter - builtin:.1f} ns")
    print(f"  target: an increment through the plugin <= 100 ns: {'met' if counter <= 100 else 'missed'} ({counter:.1f} ns)")
    for ours, theirs in (
        ("@metrics.counter(name)", "Python Counter.inc()"),
        ("@metrics.counter(name, 1, {2 labels})", "Python Counter.labels(2).inc()"),
        ("record_histogram(name, 0.2)", "Python Histogram.observe()"),
    ):
        ratio = figures[theirs] / figures[ours]
        print(f"  {ours} vs {theirs}: {ratio:.2f}x {'faster' if ratio > 1 else 'slower'}")


if __name__ == "__main__":
    main()
