#!/usr/bin/env python3
"""Wall time of a CPU-bound `@pipeline("map", …)` of 1,000,000 items on 1, 2 and 4 threads.

Each run is a whole `tusk` process (release build) with the pipeline plugin installed in a
temporary plugin folder and trusted, so it runs in-process. The stage function does
a few dozen operations per item:

    f: x => reduce(range(0, 8), x, (a, i) => (a * 31 + i) % 1000003)
    total: sum(@pipeline("map", range(0, 1000000), f, {parallel: N}))

`{parallel: 1}` is the sequential pipeline (items streamed through the function on the
interpreter's thread, each call a callback from the plugin); 2 and 4 run the function on that
many interpreter isolates. For scale, `builtin` is the built-in `map(range(0, N), f)` on the
interpreter's thread (no plugin in between). Every run's `total` is checked against the
sequential one. Runs rotate between the thread counts, the median
of `--rounds` runs is reported, with the CPU time, the load average before and after (the
machine may be shared) and the number of CPUs. On a machine busy with other sessions' builds
the kernel shares the CPUs between sessions (autogroups), so a process with more threads gets
more of them and the speed-up says little; `--nice -20` (as root) runs each `tusk` in a session
of its own with that priority, which measures what the cores can do.

    python3 bench/pipeline_parallel.py [--items 1000000] [--rounds 5] [--threads 1,2,4] [--nice -20] [--no-build]
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"

FUNCTION = "f: x => reduce(range(0, 8), x, (a, i) => (a * 31 + i) % 1000003)\n"
PIPELINE = FUNCTION + 'total: sum(@pipeline("map", range(0, {items}), f, {{parallel: {threads}}}))\n'
BUILTIN = FUNCTION + "total: sum(map(range(0, {items}), f))\n"


def install(folder: Path) -> None:
    plugin = folder / "pipeline"
    plugin.mkdir(parents=True)
    source = ROOT / "stdlib-plugins" / "pipeline"
    shutil.copy(source / "plugin.toml", plugin / "plugin.toml")
    shutil.copy(TARGET / "libtusk_plugin_pipeline.so", plugin / "libtusk_plugin_pipeline.so")


def run(env: dict, folder: Path, items: int, threads, nice: int) -> tuple[float, float, str]:
    """Wall time, CPU time (user + system, every thread) and the total."""
    script = folder / f"bench_{threads}.tsk"
    template = BUILTIN if threads == "builtin" else PIPELINE
    script.write_text(template.format(items=items, threads=threads))
    command = [str(TARGET / "tusk"), "get", str(script), "total"]
    if nice:
        # A session of its own is a scheduling group of its own (autogroup): its nice value is
        # what weighs against the other sessions' builds, whatever their number of threads.
        command = ["setsid", "-w", "sh", "-c", f'echo {nice} > /proc/self/autogroup && exec "$0" "$@"'] + command
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"tusk with {threads} threads failed: {result.stdout}{result.stderr}")
    if "sequentially" in result.stderr:
        raise SystemExit(f"the pipeline fell back to one thread: {result.stderr}")
    return elapsed, cpu, result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run tusk in a session of its own whose autogroup has nice N (a negative N, as root, "
        "gives it the cores of a machine busy with builds)",
    )
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "tusk-cli", "-p", "tusk-plugin-pipeline"], cwd=ROOT, check=True)
    threads = [int(count) for count in args.threads.split(",")] + ["builtin"]
    samples = {count: [] for count in threads}
    cpu = {count: [] for count in threads}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        install(scratch / "plugins")
        # Trusted, so it runs in-process (a sandboxed plugin has no isolates).
        grants = scratch / "config" / "tusk" / "grants.toml"
        grants.parent.mkdir(parents=True)
        grants.write_text("[pipeline]\ntrusted = true\n")
        env = dict(
            os.environ,
            TUSK_PLUGIN_PATH=str(scratch / "plugins"),
            XDG_CONFIG_HOME=str(scratch / "config"),
            XDG_CACHE_HOME=str(scratch / "cache"),
            XDG_DATA_HOME=str(scratch / "data"),
        )
        # One warm-up run loads and caches the plugin and gives the expected total.
        _, _, expected = run(env, scratch, args.items, 1, args.nice)
        for round_number in range(args.rounds):
            order = threads[round_number % len(threads):] + threads[: round_number % len(threads)]
            for count in order:
                elapsed, seconds, total = run(env, scratch, args.items, count, args.nice)
                if total != expected:
                    raise SystemExit(f"{count} threads gave {total}, one thread {expected}")
                samples[count].append(elapsed)
                cpu[count].append(seconds)
    load_after = os.getloadavg()
    base = statistics.median(samples[threads[0]])
    print(f"items: {args.items}, rounds: {args.rounds}, CPUs: {os.cpu_count()}, nice: {args.nice}, total: {expected}")
    print(f"load average (1, 5, 15 min) before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print()
    print("| threads | median s | min s | max s | speed-up over " + str(threads[0]) + " thread | CPU s (median) |")
    print("|--:|--:|--:|--:|--:|--:|")
    for count in threads:
        median = statistics.median(samples[count])
        print(
            f"| {count} | {median:.3f} | {min(samples[count]):.3f} | {max(samples[count]):.3f} "
            f"| {base / median:.2f}x | {statistics.median(cpu[count]):.3f} |"
        )


if __name__ == "__main__":
    main()
