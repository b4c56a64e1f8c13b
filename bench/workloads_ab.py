#!/usr/bin/env python3
"""A/B of two tusk binaries on the peer workloads, with CPython beside them.

For each workload: the instructions each tusk binary executes (valgrind's callgrind, which a busy
machine cannot move; `--no-callgrind` skips it), then wall and CPU seconds of `--rounds` rounds
in which base, new and CPython run one after the other (the order rotates every round), so that
load swings hit all three alike. Every run's output is checked: tusk's `check` entry must equal
CPython's line.

    python3 bench/workloads_ab.py --base OLD_TUSK [--new target/release/tusk] [--only fib,strings]
"""

import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKLOADS = ["fib", "loop", "strings", "collections", "objects", "calls"]


def run_timed(argv):
    """(wall seconds, CPU seconds, stdout) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(argv), done.stderr))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def tusk_check(stdout):
    return json.loads(stdout)["check"]


def instructions(binary, workload):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, binary,
             os.path.join(BENCH, "workloads", workload + ".tsk")],
            check=True, capture_output=True)
        with open(out) as f:
            for line in f:
                match = re.match(r"(?:summary|totals): (\d+)", line)
                if match:
                    return int(match.group(1))
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the tusk binary to compare against")
    parser.add_argument("--new", default=os.path.join(ROOT, "target", "release", "tusk"))
    parser.add_argument("--only", help="comma-separated workloads (default: the six of the geomean)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-callgrind", action="store_true")
    args = parser.parse_args()
    workloads = args.only.split(",") if args.only else WORKLOADS
    python = os.path.realpath(sys.executable)
    print("load before: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    rows = []
    for workload in workloads:
        tsk = os.path.join(BENCH, "workloads", workload + ".tsk")
        py = os.path.join(BENCH, "peers", workload + ".py")
        argvs = {"base": [args.base, tsk], "new": [args.new, tsk], "python": [python, py]}
        wall = {name: [] for name in argvs}
        cpu = {name: [] for name in argvs}
        names = list(argvs)
        lines = {}
        for round_index in range(args.rounds):
            order = names[round_index % 3:] + names[:round_index % 3]
            for name in order:
                w, c, out = run_timed(argvs[name])
                wall[name].append(w)
                cpu[name].append(c)
                lines.setdefault(name, set()).add(out.strip() if name == "python" else tusk_check(out))
        if len({line for seen in lines.values() for line in seen}) != 1:
            sys.exit("%s: the outputs differ: %r" % (workload, lines))
        counts = {} if args.no_callgrind else {n: instructions(argvs[n][0], workload) for n in ("base", "new")}
        row = {"workload": workload}
        for name in names:
            row[name + "_wall"] = statistics.median(wall[name])
            row[name + "_cpu"] = statistics.median(cpu[name])
        row.update(counts)
        rows.append(row)
        print(workload, json.dumps(row), flush=True)
    print("load after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print()
    print("| workload | base Minstr | new Minstr | new/base instr | base CPU s | new CPU s | python CPU s "
          "| base/python CPU | new/python CPU | new/python wall |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows:
        base_i, new_i = row.get("base"), row.get("new")
        print("| %s | %s | %s | %s | %.3f | %.3f | %.3f | %.2f | %.2f | %.2f |" % (
            row["workload"],
            "%.0f" % (base_i / 1e6) if base_i else "—",
            "%.0f" % (new_i / 1e6) if new_i else "—",
            "%.2f" % (new_i / base_i) if base_i and new_i else "—",
            row["base_cpu"], row["new_cpu"], row["python_cpu"],
            row["base_cpu"] / row["python_cpu"], row["new_cpu"] / row["python_cpu"],
            row["new_wall"] / row["python_wall"]))
    if len(rows) > 1:
        def gm(key):
            return math.exp(sum(math.log(r[key] / r["python_cpu"]) for r in rows) / len(rows))
        print("| geomean | | | | | | | %.2f | %.2f | |" % (gm("base_cpu"), gm("new_cpu")))


if __name__ == "__main__":
    main()
