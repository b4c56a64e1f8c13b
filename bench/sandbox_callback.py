#!/usr/bin/env python3
"""Sandboxed callbacks under load: the round trip of a plugin calling a script function
(`@sb.callbacks(x => x + 1, 10000)` in the sandbox test plugin, each callback timed by the
plugin), and a 100,000-item map through the boundary by one callback per item against one batch
(`host::map_parallel` with no workers: one round trip), with the machine idle and with every core
kept busy by busy-loop processes this script starts (and stops).

    python3 bench/sandbox_callback.py [--runs 3] [--busy N] [--no-build]

Each run is one `cargo bench -p tusk-plugin-host --bench sandbox -- callbacks` (10 rounds of
10,000 callbacks after a warm-up round); idle and loaded runs alternate, so that a change in the
machine's own load hits both alike. Prints each run's p50/p99 and the medians over the runs.
Other work on the machine (builds) counts as load too: say what else ran when quoting figures.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ["cargo", "bench", "-q", "-p", "tusk-plugin-host", "--bench", "sandbox", "--", "callbacks"]
LINE = re.compile(r"sandboxed callback round trip.*: p50 ([\d.]+) µs, p99 ([\d.]+) µs, min ([\d.]+) µs, max ([\d.]+) µs")
MAP = re.compile(r"sandboxed map of 100000 items.*: one callback per item p50 ([\d.]+) ms, .*; one batch p50 ([\d.]+) ms")


def busy_loops(count: int) -> list:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def run_once() -> tuple:
    result = subprocess.run(COMMAND, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    match = LINE.search(result.stdout)
    mapped = MAP.search(result.stdout)
    if result.returncode != 0 or match is None or mapped is None:
        raise SystemExit(f"{' '.join(COMMAND)} failed:\n{result.stdout}\n{result.stderr}")
    return tuple(float(group) for group in match.groups() + mapped.groups())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="busy-loop processes when loaded")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(COMMAND, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    results = {"idle": [], "loaded": []}
    for _ in range(args.runs):
        results["idle"].append(run_once())
        loops = busy_loops(args.busy)
        try:
            time.sleep(0.5)
            results["loaded"].append(run_once())
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
    for case, runs in results.items():
        label = "idle" if case == "idle" else f"{args.busy} busy loops"
        for p50, p99, low, high, each, batch in runs:
            print(
                f"{label:>13}: p50 {p50:7.1f} µs, p99 {p99:8.1f} µs (min {low:.1f}, max {high:.1f}); "
                f"100,000-item map: {each:.1f} ms by callbacks, {batch:.1f} ms in one batch"
            )
        print(
            f"{label:>13}: median of {len(runs)} runs: p50 {statistics.median(r[0] for r in runs):.1f} µs, "
            f"p99 {statistics.median(r[1] for r in runs):.1f} µs; 100,000-item map "
            f"{statistics.median(r[4] for r in runs):.1f} ms by callbacks, "
            f"{statistics.median(r[5] for r in runs):.1f} ms in one batch"
        )


if __name__ == "__main__":
    main()
