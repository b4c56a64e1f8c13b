#!/usr/bin/env python3
"""bench/run.py: whole-program benchmarks of tusk beside the peer interpreters.

Runs every workload of bench/workloads/*.tsk with tusk and the same workload of bench/peers/
with each installed peer (rhai-run, koto, lua5.4, luajit, CPython, node), through hyperfine
(whole process: start-up + run; 1 warm-up then 5 runs; `empty` 2 warm-ups then 30 runs).
It first checks that tusk computes exactly what the peers print (each workload's `check` entry
equals the peers' one output line), then prints ONE table of medians plus the ratios tusk/peer,
the geometric mean over the six timed workloads, the builtin call cost, peak RSS on `objects`
(/usr/bin/time -f %M, median of 3), tusk's start-up and, with --config, the config throughput
(cargo bench -p tusk --bench config_throughput). Everything also goes to bench/results/<stamp>/.

Usage (from anywhere; stdlib only):
    python3 bench/run.py [--no-build] [--tusk PATH] [--only fib,loop] [--runs 5] [--rounds 3] [--config]
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKLOADS = ["empty", "fib", "loop", "strings", "collections", "objects", "calls", "calls_base"]
# The six workloads of the geometric mean (empty is start-up, calls_base only a baseline).
TIMED = ["fib", "loop", "strings", "collections", "objects", "calls"]
CALLS = 2_000_000


def python_binary():
    """The real CPython binary: a pyenv shim adds ~0.1 s to every run."""
    exe = shutil.which("python3")
    if not exe:
        return None
    try:
        real = subprocess.run([exe, "-c", "import sys; print(sys.executable)"],
                              capture_output=True, text=True, check=True).stdout.strip()
        return real or exe
    except (OSError, subprocess.CalledProcessError):
        return exe


def interpreters(tusk):
    """(name, argv prefix, file extension, version command) of tusk and every installed peer."""
    found = [("tusk", [tusk], "tsk", None)]
    peers = [
        ("rhai", "rhai-run", "rhai", "cargo"),
        ("koto", "koto", "koto", ["--version"]),
        ("lua5.4", "lua5.4", "lua", ["-v"]),
        ("luajit", "luajit", "lua", ["-v"]),
        ("python", None, "py", ["--version"]),
        ("node", "node", "js", ["--version"]),
    ]
    for name, binary, ext, version in peers:
        path = python_binary() if name == "python" else shutil.which(binary)
        if path:
            found.append((name, [path], ext, version))
    return found


def script(name, ext, workload):
    if name == "tusk":
        return os.path.join(BENCH, "workloads", workload + ".tsk")
    return os.path.join(BENCH, "peers", "%s.%s" % (workload, ext))


def version_of(argv, version):
    if version == "cargo":
        # rhai-run has no --version; cargo knows what it installed.
        out = subprocess.run(["cargo", "install", "--list"], capture_output=True, text=True)
        return next((line.rstrip(":") for line in out.stdout.splitlines() if line.startswith("rhai ")), "")
    if not version:
        return ""
    try:
        out = subprocess.run(argv + version, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0].split("  ")[0].split(" -- ")[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return ""


def tusk_check(tusk, workload):
    """The `check` entry of tusk's output document: the peers' output line."""
    out = subprocess.run([tusk, script("tusk", "tsk", workload)], capture_output=True, text=True)
    if out.returncode != 0:
        return "<tusk failed: %s>" % out.stderr.strip()[:500]
    document = json.loads(out.stdout)
    return document.get("check", "<no check entry>") if isinstance(document, dict) else "<not an object>"


def verify(interps, tusk, workloads):
    """Each peer's output line and tusk's `check` must all be the same line."""
    problems = []
    for workload in workloads:
        if workload == "empty":
            continue
        lines = {}
        for name, argv, ext, _ in interps:
            if name == "tusk":
                lines[name] = tusk_check(tusk, workload)
            else:
                out = subprocess.run(argv + [script(name, ext, workload)], capture_output=True, text=True)
                lines[name] = out.stdout.strip()
        distinct = set(lines.values())
        status = "ok" if len(distinct) == 1 else "MISMATCH"
        print("check %-12s %-8s %s" % (workload, status, lines["tusk"]))
        if len(distinct) != 1:
            for name, line in lines.items():
                print("    %-8s %s" % (name, line))
            problems.append(workload)
    return problems


def hyperfine(interps, workload, out_dir, warmup, runs, round_index):
    """Times every interpreter on one workload; returns {name: (wall times, mean CPU seconds)}.

    Each round starts the list at a different interpreter, so that a change of load during a
    round does not always fall on the same one.
    """
    path = os.path.join(out_dir, "hyperfine-%s-%d.json" % (workload, round_index + 1))
    command = ["hyperfine", "-N", "--warmup", str(warmup), "--runs", str(runs), "--export-json", path,
               "--style", "basic"]
    shift = round_index % len(interps)
    for name, argv, ext, _ in interps[shift:] + interps[:shift]:
        command += ["-n", name, " ".join(argv + [script(name, ext, workload)])]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with open(path) as f:
        results = json.load(f)["results"]
    # CPU seconds (user + system, hyperfine's means) are less disturbed than wall time when other
    # processes take the cores, so the call cost is also derived from them.
    return {result["command"]: (result["times"], result["user"] + result["system"]) for result in results}


def peak_rss(argv):
    """Peak resident set size in KiB, median of 3 runs."""
    values = []
    for _ in range(3):
        out = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, capture_output=True, text=True)
        values.append(int(out.stderr.strip().splitlines()[-1]))
    return statistics.median(values)


def startup(tusk, out_dir):
    """`tusk -e 1` once the CLI has it, else `tusk bench/workloads/empty.tsk`."""
    probe = subprocess.run([tusk, "-e", "1"], capture_output=True, text=True)
    if probe.returncode == 0 and probe.stdout.strip() == "1":
        label, command = "tusk -e 1", "%s -e 1" % tusk
    else:
        label, command = "tusk empty.tsk", "%s %s" % (tusk, script("tusk", "tsk", "empty"))
    path = os.path.join(out_dir, "hyperfine-startup.json")
    subprocess.run(["hyperfine", "-N", "--warmup", "2", "--runs", "30", "--export-json", path,
                    "--style", "basic", "-n", label, command], check=True, stdout=subprocess.DEVNULL)
    with open(path) as f:
        result = json.load(f)["results"][0]
    return label, result["median"], result["min"]


def config_throughput(out_dir):
    """Runs the config-throughput bench (generating bench/data first if needed)."""
    data = os.path.join(BENCH, "data")
    if not os.path.exists(os.path.join(data, "config.tsk")):
        subprocess.run([sys.executable, os.path.join(BENCH, "gen_config.py"), "--out", data], check=True)
    out = subprocess.run(["cargo", "bench", "-q", "-p", "tusk", "--bench", "config_throughput", "--", data],
                         cwd=ROOT, capture_output=True, text=True)
    with open(os.path.join(out_dir, "config-throughput.txt"), "w") as f:
        f.write(out.stdout + out.stderr)
    if out.returncode != 0:
        print(out.stderr)
        return None, out.stdout
    results = {}
    for line in out.stdout.splitlines():
        if line.startswith("RESULT\t"):
            fields = line.split("\t")
            results[fields[1]] = fields[2]
    text = "\n".join(line for line in out.stdout.splitlines() if not line.startswith("RESULT"))
    return results, text


def seconds(value):
    return "—" if value is None else "%.4f" % value


def load():
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "?"


def machine():
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d CPUs, %s" % (model, os.cpu_count() or 0, platform.platform())


def revision():
    """The commit measured, and whether crates/ had uncommitted changes (the binary includes them)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "crates", "Cargo.lock"], cwd=ROOT,
                               capture_output=True, text=True).stdout
        return head.strip() + (" + uncommitted changes in crates/" if dirty.strip() else "")
    except OSError:
        return "?"


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tusk", default=os.path.join(ROOT, "target", "release", "tusk"))
    parser.add_argument("--no-build", action="store_true", help="do not run cargo build --release -p tusk-cli")
    parser.add_argument("--only", help="comma-separated workloads (default: all)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the timing this many times, rotating the order; medians of all runs")
    parser.add_argument("--config", action="store_true", help="also run the config-throughput bench")
    args = parser.parse_args()

    if not shutil.which("hyperfine"):
        sys.exit("hyperfine is not installed (apt-get install -y hyperfine)")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "tusk-cli"], cwd=ROOT, check=True)
    tusk = os.path.abspath(args.tusk)
    workloads = args.only.split(",") if args.only else WORKLOADS
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = os.path.join(BENCH, "results", stamp)
    os.makedirs(out_dir, exist_ok=True)

    interps = interpreters(tusk)
    names = [name for name, _, _, _ in interps]
    report = []

    def emit(line=""):
        print(line)
        report.append(line)

    load_before = load()
    print("interpreters: " + ", ".join(names))
    problems = verify(interps, tusk, workloads)

    times = {workload: {name: [] for name in names} for workload in workloads}
    cpu_means = {workload: {name: [] for name in names} for workload in workloads}
    for round_index in range(args.rounds):
        for workload in workloads:
            warmup, runs = (2, 30) if workload == "empty" else (args.warmup, args.runs)
            print("timing %s (round %d of %d) ..." % (workload, round_index + 1, args.rounds), flush=True)
            for name, (wall, cpu_seconds) in hyperfine(interps, workload, out_dir, warmup, runs, round_index).items():
                times[workload][name].extend(wall)
                cpu_means[workload][name].append(cpu_seconds)
    medians = {w: {name: statistics.median(times[w][name]) for name in names} for w in workloads}
    cpu = {w: {name: statistics.mean(cpu_means[w][name]) for name in names} for w in workloads}

    rss = {}
    if "objects" in workloads:
        for name, argv, ext, _ in interps:
            rss[name] = peak_rss(argv + [script(name, ext, "objects")])
    start_label, start_time, start_min = startup(tusk, out_dir)
    config, config_text = config_throughput(out_dir) if args.config else (None, None)
    load_after = load()

    emit("# tusk benchmarks, %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    emit()
    emit("machine: %s" % machine())
    emit("revision: %s" % revision())
    emit("load average (1/5/15 min): before %s, after %s" % (load_before, load_after))
    versions = ["%s (%s)" % (name, version_of(argv, version)) for name, argv, _, version in interps if version]
    versions.append("hyperfine (%s)" % version_of(["hyperfine"], ["--version"]))
    emit("peers: " + ", ".join(versions))
    emit("method: hyperfine -N, whole process, median seconds of %d runs after %d warm-up "
         "(empty: 30 after 2), %d round(s) in rotated order" % (args.runs, args.warmup, args.rounds))
    if problems:
        emit("CHECKSUM MISMATCH on: " + ", ".join(problems))
    else:
        emit("checksums: tusk prints the same result as every peer on every workload")
    emit()

    peers = [name for name in names if name != "tusk"]
    emit("| workload | " + " | ".join(names) + " | " + " | ".join("tusk/" + p for p in peers) + " |")
    emit("|---|" + "--:|" * (len(names) + len(peers)))
    for workload in workloads:
        row = medians[workload]
        cells = [seconds(row.get(name)) for name in names]
        ratios = ["%.2f" % (row["tusk"] / row[p]) if row.get(p) else "—" for p in peers]
        emit("| %s | %s | %s |" % (workload, " | ".join(cells), " | ".join(ratios)))
    timed = [w for w in TIMED if w in medians]
    geo = {}
    if timed:
        geo = {name: geomean([medians[w][name] for w in timed]) for name in names}
        cells = [seconds(geo[name]) for name in names]
        ratios = ["%.2f" % (geo["tusk"] / geo[p]) for p in peers]
        emit("| geomean (%d) | %s | %s |" % (len(timed), " | ".join(cells), " | ".join(ratios)))
    call_cost, cpu_call_cost = {}, {}
    if "calls" in medians and "calls_base" in medians:
        for name in names:
            call_cost[name] = (medians["calls"][name] - medians["calls_base"][name]) / CALLS * 1e9
            cpu_call_cost[name] = (cpu["calls"][name] - cpu["calls_base"][name]) / CALLS * 1e9
        emit("| builtin call (ns) | %s | %s |" % (
            " | ".join("%.0f" % call_cost[name] for name in names),
            " | ".join("%.2f" % (call_cost["tusk"] / call_cost[p]) if call_cost[p] >= 1 else "—" for p in peers)))
        emit("| builtin call, CPU time (ns) | %s | %s |" % (
            " | ".join("%.0f" % cpu_call_cost[name] for name in names),
            " | ".join("%.2f" % (cpu_call_cost["tusk"] / cpu_call_cost[p]) if cpu_call_cost[p] >= 1 else "—"
                       for p in peers)))
    if rss:
        emit("| objects peak RSS (MiB) | %s | %s |" % (
            " | ".join("%.0f" % (rss[name] / 1024) for name in names),
            " | ".join("%.2f" % (rss["tusk"] / rss[p]) for p in peers)))
    emit()
    emit("start-up (%s): %.1f ms median of 30, %.1f ms min (milliseconds are at the mercy of the load)"
         % (start_label, start_time * 1e3, start_min * 1e3))
    if config_text:
        emit()
        emit("config throughput (cargo bench -p tusk --bench config_throughput):")
        emit()
        emit(config_text)

    emit()
    emit("## targets")
    emit()

    def target(text, met):
        emit("- %s: %s" % (text, "n/a" if met is None else ("met" if met else "MISSED")))

    for peer in ("rhai", "koto"):
        if peer in names and timed:
            # Start-up (`empty`) counts too: "every workload" includes it.
            compared = timed + (["empty"] if "empty" in medians else [])
            slower = [w for w in compared if medians[w]["tusk"] >= medians[w][peer]]
            target("faster than %s on every workload%s" % (
                peer, (" (slower on " + ", ".join(slower) + ")") if slower else ""), not slower)
    if "python" in names and timed:
        target("geomean no slower than CPython (tusk/CPython %.2f)" % (geo["tusk"] / geo["python"]),
               geo["tusk"] <= geo["python"])
    if call_cost:
        target("builtin call <= 40 ns (%.0f ns wall, %.0f ns CPU time)" % (call_cost["tusk"], cpu_call_cost["tusk"]),
               call_cost["tusk"] <= 40)
    if rss and "python" in rss:
        target("objects peak RSS <= CPython's (%.0f vs %.0f MiB)" % (rss["tusk"] / 1024, rss["python"] / 1024),
               rss["tusk"] <= rss["python"])
    if config:
        lex_parse = float(config.get("tusk lex+parse", 0))
        parse_eval = float(config.get("tusk parse+eval", 0))
        target(">= 100 MB/s lex+parse (%.0f MB/s)" % lex_parse, lex_parse >= 100)
        target(">= 50 MB/s parse+evaluate (%.0f MB/s)" % parse_eval, parse_eval >= 50)
        target("config.tsk evaluates to config.json (%s)" % config.get("check"), config.get("check") == "equal")
    target("%s < 5 ms (%.1f ms)" % (start_label, start_time * 1e3), start_time < 0.005)

    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(report) + "\n")
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump({"medians": medians, "cpu_seconds": cpu, "rss_kib": rss, "call_cost_ns": call_cost,
                   "cpu_call_cost_ns": cpu_call_cost, "startup": [start_label, start_time, start_min],
                   "config": config, "load": [load_before, load_after], "problems": problems}, f, indent=2)
    print()
    print("results in %s" % os.path.relpath(out_dir, os.getcwd()))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
