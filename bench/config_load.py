#!/usr/bin/env python3
"""Whole-process config loading: `tusk --compact config.tsk > /dev/null`, what a user feels.

    python3 bench/config_load.py [--runs 7] [--baseline OTHER_TUSK] [--callgrind] [--data bench/data]

Runs the release `tusk` (from `$CARGO_TARGET_DIR/release`, else `target/release`) on the
generated config (`python3 bench/gen_config.py --out bench/data` first) and prints the median
wall time, the median CPU time (user + system, from `wait4`) and MB/s of each (MB = 10^6 bytes
of config.tsk). On a machine shared with builds the wall time mostly measures the wait for a
core; the CPU time is the figure to compare. With `--baseline`, another binary runs in the same
rounds (alternating which goes first), so both see the same load; both must print the same
JSON. `--callgrind` counts instructions instead (one valgrind run each), which the load cannot
move.
"""

import argparse
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUSK = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "tusk"


def timed(tusk: Path, config: Path) -> tuple:
    with open(os.devnull, "wb") as null:
        started = time.perf_counter()
        process = subprocess.Popen([str(tusk), "--compact", str(config)], stdout=null)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{tusk} failed on {config}")
    return wall, usage.ru_utime + usage.ru_stime


def instructions(tusk: Path, config: Path) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(tusk), "--compact", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    match = re.search(rb"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or not match:
        raise SystemExit(f"valgrind {tusk} failed: {result.stderr.decode()[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data")
    args = parser.parse_args()
    config = args.data / "config.tsk"
    size = config.stat().st_size
    binaries = [("tusk", TUSK)] + ([("baseline", args.baseline)] if args.baseline else [])
    outputs = {subprocess.run([str(tusk), "--compact", str(config)], capture_output=True, check=True).stdout
               for _, tusk in binaries}
    if len(outputs) != 1:
        raise SystemExit("the binaries print different documents")

    if args.callgrind:
        for name, tusk in binaries:
            print(f"{name}: {instructions(tusk, config):,} instructions")
        return
    walls = {name: [] for name, _ in binaries}
    cpus = {name: [] for name, _ in binaries}
    for round_index in range(args.runs):
        order = binaries if round_index % 2 == 0 else binaries[::-1]
        for name, tusk in order:
            wall, cpu = timed(tusk, config)
            walls[name].append(wall)
            cpus[name].append(cpu)
    for name, _ in binaries:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name}: wall {wall * 1e3:.1f} ms ({size / 1e6 / wall:.1f} MB/s), "
              f"CPU {cpu * 1e3:.1f} ms ({size / 1e6 / cpu:.1f} MB/s); medians of {args.runs}")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
