#!/usr/bin/env python3
"""Redis GET and SET per second, one command per round trip and pipelined, side by side in one
run: tusk with the redis plugin (`@redis.set`, `@redis.get`, `@redis.pipeline`) against Python
with redis-py (`r.set`, `r.get`, `r.pipeline(transaction=False)`).

Each tusk script is one `reduce` over `range(0, N)` that runs the command and adds up the length
of what it got back, with the plugin installed next to a release `tusk` and trusted (in-process,
as first-party plugins run). A tusk rate is N divided by the time of the run with N commands
minus the time of the same script with none (start-up, plugin load, connecting); Python times its
loop itself. Both sides talk RESP2 over TCP to 127.0.0.1:6379, read values back as text
(redis-py with decode_responses=True) and use 1,000 keys of 16-byte values under a prefix of
their own; pipelines carry 100 GETs each.

    python3 bench/redis.py [--commands 20000] [--batches 1000] [--rounds 3] [--no-build]
                           [--python /path/to/python]

The Python side needs redis-py (`pip install redis` into a virtual environment outside the
repository, e.g. /tmp/tusk-redis-bench-venv, and pass its python with --python).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
KEYS = 1000
BATCH = 100
VALUE = "value-0123456789"  # 16 bytes

SET_SCRIPT = """total: reduce(range(0, {n}), 0, (acc, i) => acc + (@redis.set("{prefix}" + str(i % {keys}), "{value}") ? 1 : 0))
"""

GET_SCRIPT = """total: reduce(range(0, {n}), 0, (acc, i) => acc + len(@redis.get("{prefix}" + str(i % {keys}))))
"""

PIPELINE_SCRIPT = """total: reduce(range(0, {n}), 0, (acc, b) => acc + len(@redis.pipeline(map(range(0, {batch}), j => ["GET", "{prefix}" + str((b * {batch} + j) % {keys})]))))
"""

PYTHON = """
import sys, time, redis
mode, n = sys.argv[1], int(sys.argv[2])
r = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
r.ping()
total = 0
start = time.perf_counter()
if mode == "set":
    for i in range(n):
        total += 1 if r.set("{prefix}" + str(i % {keys}), "{value}") else 0
elif mode == "get":
    for i in range(n):
        total += len(r.get("{prefix}" + str(i % {keys})))
else:
    for b in range(n):
        pipe = r.pipeline(transaction=False)
        for j in range({batch}):
            pipe.get("{prefix}" + str((b * {batch} + j) % {keys}))
        total += len(pipe.execute())
print(time.perf_counter() - start, total)
"""


def install(folder: Path) -> None:
    plugin = folder / "redis"
    plugin.mkdir(parents=True)
    source = ROOT / "stdlib-plugins" / "redis"
    shutil.copy(source / "plugin.toml", plugin / "plugin.toml")
    shutil.copy(source / "config.schema.json", plugin / "config.schema.json")
    shutil.copy(TARGET / "libtusk_plugin_redis.so", plugin / "libtusk_plugin_redis.so")


def expected(mode: str, n: int) -> int:
    return {"set": n, "get": n * len(VALUE), "pipeline": n * BATCH}[mode]


def run_tusk(env: dict, script: Path, expect: int) -> float:
    started = time.perf_counter()
    result = subprocess.run([str(TARGET / "tusk"), "get", str(script), "total"], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or result.stdout.strip() != str(expect):
        raise SystemExit(f"tusk {script.name} failed (expected {expect}): {result.stdout}{result.stderr}")
    return elapsed


def tusk_rate(env: dict, folder: Path, template: str, mode: str, n: int, prefix: str) -> float:
    times = {}
    for count in (0, n):
        script = folder / f"bench_{mode}_{count}.tsk"
        script.write_text(template.format(n=count, prefix=prefix, keys=KEYS, value=VALUE, batch=BATCH))
        times[count] = run_tusk(env, script, expected(mode, count))
    return n / (times[n] - times[0])


def python_rate(python: str, mode: str, n: int, prefix: str) -> float:
    code = PYTHON.format(prefix=prefix, keys=KEYS, value=VALUE, batch=BATCH)
    result = subprocess.run([python, "-c", code, mode, str(n)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"python failed: {result.stderr}")
    elapsed, total = result.stdout.split()
    if int(total) != expected(mode, n):
        raise SystemExit(f"python {mode} gave {total}, expected {expected(mode, n)}")
    return n / float(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=20000, help="GETs or SETs per single-command run")
    parser.add_argument("--batches", type=int, default=1000, help="pipelines of 100 GETs per pipelined run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--python", default="/tmp/tusk-redis-bench-venv/bin/python")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "tusk-cli", "-p", "tusk-plugin-redis"], cwd=ROOT, check=True)
    tusk_prefix = f"tusk_bench:tusk:{os.getpid()}:"
    python_prefix = f"tusk_bench:python:{os.getpid()}:"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            install(scratch / "plugins")
            grants = scratch / "config" / "tusk" / "grants.toml"
            grants.parent.mkdir(parents=True)
            grants.write_text('[redis]\ntrusted = true\nallow_net = ["127.0.0.1:6379"]\n')
            env = dict(os.environ, TUSK_PLUGIN_PATH=str(scratch / "plugins"), XDG_CONFIG_HOME=str(scratch / "config"), XDG_CACHE_HOME=str(scratch / "cache"), XDG_DATA_HOME=str(scratch / "data"))
            n, batches = args.commands, args.batches
            # SET first in every round, so that the GETs find their keys. Every round runs each
            # contender once, so that a change in the machine's load hits them alike.
            contenders = [
                ("tusk @redis.set", lambda: tusk_rate(env, scratch, SET_SCRIPT, "set", n, tusk_prefix)),
                ("redis-py set", lambda: python_rate(args.python, "set", n, python_prefix)),
                ("tusk @redis.get", lambda: tusk_rate(env, scratch, GET_SCRIPT, "get", n, tusk_prefix)),
                ("redis-py get", lambda: python_rate(args.python, "get", n, python_prefix)),
                ("tusk @redis.pipeline (100 GETs)", lambda: tusk_rate(env, scratch, PIPELINE_SCRIPT, "pipeline", batches, tusk_prefix) * BATCH),
                ("redis-py pipeline (100 GETs)", lambda: python_rate(args.python, "pipeline", batches, python_prefix) * BATCH),
            ]
            samples = {label: [] for label, _ in contenders}
            for _ in range(args.rounds):
                for label, measure in contenders:
                    samples[label].append(measure())
            results = [(label, statistics.median(samples[label])) for label, _ in contenders]
    finally:
        for prefix in (tusk_prefix, python_prefix):
            keys = subprocess.run(["redis-cli", "--scan", "--pattern", prefix + "*"], capture_output=True, text=True).stdout.split()
            for start in range(0, len(keys), 500):
                subprocess.run(["redis-cli", "DEL", *keys[start : start + 500]], capture_output=True)
    print(f"Redis commands: {n} per single-command run, {batches} pipelines of {BATCH} GETs per pipelined run, median of {args.rounds} rounds")
    for label, rate in results:
        print(f"  {label:<34} {rate:>10,.0f} commands/s")
    rates = dict(results)
    for ours, theirs in (
        ("tusk @redis.set", "redis-py set"),
        ("tusk @redis.get", "redis-py get"),
        ("tusk @redis.pipeline (100 GETs)", "redis-py pipeline (100 GETs)"),
    ):
        ratio = rates[ours] / rates[theirs]
        print(f"  {ours} / {theirs}: {ratio:.2f}x ({'ahead' if ratio > 1 else 'behind'})")


if __name__ == "__main__":
    main()
