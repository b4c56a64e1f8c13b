#!/usr/bin/env python3
"""HS256 JWT sign + verify per second, side by side in one run:

- tusk with the auth plugin: `@auth.jwt.verify(@auth.jwt.sign({sub, i}, key), key).i`, and the
  seed's spelling `validate_token(generate_token(…), key)`,
- Python with PyJWT: `jwt.decode(jwt.encode({sub, i, iat, exp}, key, "HS256"), key, ["HS256"])`.

Both sides sign claims with `iat` and a one-hour `exp` (the plugin adds them by default; the
Python side writes them) and verify the signature and `exp`. Each tusk script is one `reduce`
over `range(0, N)`, with the plugin installed next to a release `tusk` and trusted (in-process,
as first-party plugins run). A tusk rate is N divided by the time of the run with N pairs minus
the time of the same script with none (start-up, plugin load); Python times its loop itself.

    python3 bench/jwt.py [--pairs 100000] [--rounds 3] [--no-build] [--python /path/to/python]

The Python side needs PyJWT (`pip install pyjwt` into a virtual environment outside the
repository, e.g. /tmp/tusk-auth-bench-venv, and pass its python with --python).
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
KEY = "bench-hs256-key-0123456789abcdef0123456789abcdef"

NICE_SCRIPT = """$key: "{key}"
total: reduce(range(0, {n}), 0, (acc, i) => acc + @auth.jwt.verify(@auth.jwt.sign({{sub: "user", i: i}}, $key), $key).i)
"""

SEED_SCRIPT = """$key: "{key}"
total: reduce(range(0, {n}), 0, (acc, i) => acc + validate_token(generate_token({{sub: "user", i: i}}, $key), $key).i)
"""

PYTHON = """
import sys, time, jwt
n = int(sys.argv[1])
key = "{key}"
total = 0
start = time.perf_counter()
for i in range(n):
    now = int(time.time())
    token = jwt.encode({{"sub": "user", "i": i, "iat": now, "exp": now + 3600}}, key, algorithm="HS256")
    total += jwt.decode(token, key, algorithms=["HS256"])["i"]
print(time.perf_counter() - start, total)
"""


def expected_total(n: int) -> int:
    return n * (n - 1) // 2


def install(folder: Path) -> None:
    plugin = folder / "auth"
    plugin.mkdir(parents=True)
    source = ROOT / "stdlib-plugins" / "auth"
    for name in ("plugin.toml", "config.schema.json"):
        shutil.copy(source / name, plugin / name)
    shutil.copy(TARGET / "libtusk_plugin_auth.so", plugin / "libtusk_plugin_auth.so")


def run_tusk(env: dict, script: Path, n: int) -> float:
    started = time.perf_counter()
    result = subprocess.run([str(TARGET / "tusk"), "get", str(script), "total"], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or result.stdout.strip() != str(expected_total(n)):
        raise SystemExit(f"tusk {script.name} (n={n}) failed: {result.stdout}{result.stderr}")
    return elapsed


def tusk_rate(env: dict, folder: Path, template: str, n: int) -> float:
    times = {}
    for count in (0, n):
        script = folder / f"bench_{count}.tsk"
        script.write_text(template.format(n=count, key=KEY))
        times[count] = run_tusk(env, script, count)
    return n / (times[n] - times[0])


def python_rate(python: str, n: int) -> float:
    result = subprocess.run([python, "-c", PYTHON.format(key=KEY), str(n)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"python failed: {result.stderr}")
    elapsed, total = result.stdout.split()
    if int(total) != expected_total(n):
        raise SystemExit(f"python gave {total}, expected {expected_total(n)}")
    return n / float(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100000, help="sign+verify pairs per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--python", default="/tmp/tusk-auth-bench-venv/bin/python")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "tusk-cli", "-p", "tusk-plugin-auth"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        install(scratch / "plugins")
        grants = scratch / "config" / "tusk" / "grants.toml"
        grants.parent.mkdir(parents=True)
        grants.write_text("[auth]\ntrusted = true\n")
        env = dict(
            os.environ,
            TUSK_PLUGIN_PATH=str(scratch / "plugins"),
            XDG_CONFIG_HOME=str(scratch / "config"),
            XDG_CACHE_HOME=str(scratch / "cache"),
            XDG_DATA_HOME=str(scratch / "data"),
        )
        n, rounds = args.pairs, args.rounds
        # Every round runs each contender once, so that a change in the machine's load hits
        # them alike; the medians over the rounds are reported.
        contenders = [
            ("tusk @auth.jwt.sign + verify", lambda: tusk_rate(env, scratch, NICE_SCRIPT, n)),
            ("tusk generate_token + validate_token", lambda: tusk_rate(env, scratch, SEED_SCRIPT, n)),
            ("Python PyJWT encode + decode", lambda: python_rate(args.python, n)),
        ]
        samples = {label: [] for label, _ in contenders}
        for _ in range(rounds):
            for label, measure in contenders:
                samples[label].append(measure())
        results = [(label, statistics.median(samples[label])) for label, _ in contenders]
    print(f"HS256 sign + verify: {n} pairs per run, median of {rounds} rounds")
    for label, rate in results:
        print(f"  {label:<38} {rate:>10,.0f} pairs/s  ({1e6 / rate:.2f} µs per pair)")
    rates = dict(results)
    for ours in ("tusk @auth.jwt.sign + verify", "tusk generate_token + validate_token"):
        ratio = rates[ours] / rates["Python PyJWT encode + decode"]
        print(f"  {ours} / PyJWT: {ratio:.2f}x ({'ahead' if ratio > 1 else 'behind'})")


if __name__ == "__main__":
    main()
