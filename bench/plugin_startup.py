#!/usr/bin/env python3
"""Start-up cost of installed but unused plugins: `tusk -e 1` with none, and with N installed;
and the first use of a plugin in a new process (`tusk -e 'my_function(21)'` against `tusk -e 1`
with the template plugin installed and trusted, the cache warm from an earlier run).

Each plugin is a folder with a manifest (its own name, one operator, one function) and a copy of
the template plugin's library; nothing is loaded, since the script uses none of them. The first
run with plugins writes the discovery index (cold); the runs after it read the index (warm),
which is what every later start-up does.

    python3 bench/plugin_startup.py [--plugins 100] [--runs 200] [--no-build] [--baseline OTHER_TUSK]
                                    [--callgrind [--keep DIR]] [--cpu]

`--baseline` times another tusk binary (an earlier build) in the same interleaved rounds, with
and without the plugins, so that a change is measured A/B under the same machine load.
The binaries are taken from `$CARGO_TARGET_DIR/release` (else `target/release`).

`--callgrind` counts the instructions of `tusk -e 1` (valgrind) with none and with N plugins
(index warm) instead of timing it, which the machine's load cannot move; `--keep DIR` keeps the
profiles (`DIR/callgrind.NAME.{none,plugins}`) for `callgrind_annotate`. `--cpu` times each
process's CPU time (user + system, as `wait4` reports it) instead of the wall clock, for a
machine whose cores are busy.

Prints the median and the 10th/90th percentiles of each case, and the difference of the medians
(the target of the plugin-system issue: at most 1 ms more than with none).
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
RELEASE = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
TUSK = RELEASE / "tusk"
LIBRARY = RELEASE / "libmy_plugin.so"

MANIFEST = """[plugin]
name = "{name}"
version = "1.0.0"
description = "Start-up benchmark plugin {index}"
author = "bench"
license = "MIT"
repository = "https://example.invalid/bench"
library = "libmy_plugin.so"
abi = "1.0"

[capabilities]
operators = ["{name}_op"]
functions = ["{name}_fn"]
"""


def install_plugins(folder: Path, count: int) -> None:
    for index in range(count):
        name = f"bench{index:03}"
        plugin = folder / name
        plugin.mkdir(parents=True)
        (plugin / "plugin.toml").write_text(MANIFEST.format(name=name, index=index))
        # A hard link where the file system allows it: 1,000 copies of a 6 MB library would fill
        # a small disk, and discovery only looks at the library's stamp.
        try:
            os.link(LIBRARY, plugin / "libmy_plugin.so")
        except OSError:
            shutil.copy(LIBRARY, plugin / "libmy_plugin.so")


# With `--cpu`, a sample is the process's CPU time (user + system, from `wait4`) instead of the
# wall clock: on a machine whose cores are busy the wall clock mostly measures the wait for a
# core, while the CPU time a start-up uses moves much less with the load.
MEASURE_CPU = False


def time_runs(env: dict, runs: int, expression: str = "1", expected: bytes = b"1", tusk: Path = TUSK) -> list:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        # Standard error to a file: reading two pipes one after the other could block on a full one.
        with tempfile.TemporaryFile() as errors:
            child = subprocess.Popen([str(tusk), "-e", expression], env=env, stdout=subprocess.PIPE, stderr=errors)
            stdout = child.stdout.read()
            child.stdout.close()
            _, status, usage = os.wait4(child.pid, 0)
            errors.seek(0)
            stderr = errors.read()
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        samples.append(usage.ru_utime + usage.ru_stime if MEASURE_CPU else wall)
        if child.returncode != 0 or stdout.strip() != expected:
            raise SystemExit(f"tusk -e {expression} failed: {stderr.decode()}")
    return samples


def instructions(env: dict, tusk: Path, out: str) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(tusk), "-e", "1"],
        env=env,
        capture_output=True,
    )
    match = re.search(rb"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or result.stdout.strip() != b"1" or not match:
        raise SystemExit(f"valgrind {tusk} -e 1 failed: {result.stderr.decode()[-2000:]}")
    return int(match.group(1))


def describe(samples: list) -> str:
    deciles = statistics.quantiles(samples, n=10)
    return f"median {statistics.median(samples) * 1e3:6.2f} ms (p10 {deciles[0] * 1e3:.2f}, p90 {deciles[-1] * 1e3:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=100)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--baseline", type=Path, help="another tusk binary, timed in the same rounds")
    parser.add_argument("--callgrind", action="store_true", help="count instructions (valgrind) instead of timing")
    parser.add_argument("--keep", type=Path, help="with --callgrind: keep the profiles in this folder")
    parser.add_argument("--cpu", action="store_true", help="time each process's CPU time (user + system) instead of the wall clock")
    args = parser.parse_args()
    global MEASURE_CPU
    MEASURE_CPU = args.cpu
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "tusk-cli", "-p", "my_plugin"], cwd=ROOT, check=True)

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        empty, full = scratch / "none", scratch / "plugins"
        empty.mkdir()
        install_plugins(full, args.plugins)
        base = dict(os.environ)
        for variable, folder in (("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config")):
            base[variable] = str(scratch / folder)
        # Each case keeps its own index (the index is rewritten whenever the installed set
        # differs from the one it lists, so a shared one would be rebuilt at every switch).
        without = dict(base, TUSK_PLUGIN_PATH=str(empty), XDG_CACHE_HOME=str(scratch / "cache-none"))
        with_plugins = dict(base, TUSK_PLUGIN_PATH=str(full))

        cold = time_runs(with_plugins, 1)[0]
        if args.callgrind:
            binaries = [("tusk", TUSK, without, with_plugins)]
            if args.baseline:
                base_without = dict(without, XDG_CACHE_HOME=str(scratch / "cache-baseline-none"))
                base_with = dict(with_plugins, XDG_CACHE_HOME=str(scratch / "cache-baseline"))
                time_runs(base_with, 1, tusk=args.baseline)
                binaries.append(("baseline", args.baseline, base_without, base_with))
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
            for name, tusk, env_none, env_plugins in binaries:
                keep = (lambda kind: str(args.keep / f"callgrind.{name}.{kind}")) if args.keep else (lambda kind: "/dev/null")
                none = instructions(env_none, tusk, keep("none"))
                full = instructions(env_plugins, tusk, keep("plugins"))
                print(f"{name}: tusk -e 1 instructions: no plugins {none / 1e6:.2f} M, {args.plugins} plugins "
                      f"(index warm) {full / 1e6:.2f} M, extra {(full - none) / 1e6:+.2f} M")
            return
        # Interleaved rounds, so that a change in the machine's load hits both cases alike.
        none_samples, plugin_samples, base_none, base_plugins = [], [], [], []
        # The baseline keeps its own index (its format may differ), in its own cache folder.
        base_without = dict(without, XDG_CACHE_HOME=str(scratch / "cache-baseline-none"))
        base_with = dict(with_plugins, XDG_CACHE_HOME=str(scratch / "cache-baseline"))
        if args.baseline:
            time_runs(base_with, 1, tusk=args.baseline)
        for _ in range(10):
            none_samples += time_runs(without, args.runs // 10)
            plugin_samples += time_runs(with_plugins, args.runs // 10)
            if args.baseline:
                base_none += time_runs(base_without, args.runs // 10, tusk=args.baseline)
                base_plugins += time_runs(base_with, args.runs // 10, tusk=args.baseline)
        print(f"tusk -e 1, no plugins:              {describe(none_samples)}")
        print(f"tusk -e 1, {args.plugins} plugins (index warm): {describe(plugin_samples)}")
        print(f"first run with {args.plugins} plugins (index cold): {cold * 1e3:.2f} ms")
        extra = statistics.median(plugin_samples) - statistics.median(none_samples)
        print(f"extra start-up with {args.plugins} plugins: {extra * 1e3:+.2f} ms (target: at most +0.5 ms)")
        if args.baseline:
            print(f"baseline, no plugins:               {describe(base_none)}")
            print(f"baseline, {args.plugins} plugins (index warm):  {describe(base_plugins)}")
            base_extra = statistics.median(base_plugins) - statistics.median(base_none)
            print(f"baseline extra start-up with {args.plugins} plugins: {base_extra * 1e3:+.2f} ms")

        # First use: the template plugin, trusted (in-process), called once per process.
        one = scratch / "one" / "my_plugin"
        one.mkdir(parents=True)
        shutil.copy(ROOT / "examples" / "plugins" / "my_plugin" / "plugin.toml", one / "plugin.toml")
        shutil.copy(LIBRARY, one / "libmy_plugin.so")
        (scratch / "config" / "tusk").mkdir(parents=True, exist_ok=True)
        (scratch / "config" / "tusk" / "grants.toml").write_text("[my_plugin]\ntrusted = true\n")
        single = dict(base, TUSK_PLUGIN_PATH=str(one.parent))
        cold_use = time_runs(single, 1, "my_function(21)", b"42")[0]
        idle, used = [], []
        for _ in range(10):
            idle += time_runs(single, args.runs // 20)
            used += time_runs(single, args.runs // 20, "my_function(21)", b"42")
        print(f"tusk -e 1, template plugin installed: {describe(idle)}")
        print(f"tusk -e 'my_function(21)':            {describe(used)}")
        first_use = statistics.median(used) - statistics.median(idle)
        print(f"first use of a plugin: {first_use * 1e3:+.2f} ms (target: at most 5 ms); very first, cache cold: {cold_use * 1e3:.2f} ms in all")


if __name__ == "__main__":
    main()
