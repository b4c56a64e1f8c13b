#!/usr/bin/env python3
"""Cost of a call into an in-process plugin against a built-in call, per call.

Three scripts run the same loop over N integers: with no call (`t + i`), with a built-in call
(`t + abs(i)`) and with a call of the template plugin's function (`t + my_function(i)`, the
plugin installed in a temporary folder and trusted, so it runs in-process). A call's cost is
(time of the script with the call - time of the script without) / N.

    python3 bench/plugin_calls.py [--calls 1000000] [--rounds 5] [--no-build]
                                  [--baseline OTHER_TUSK] [--callgrind [--keep DIR]]

Wall time: each round runs every script once (and every binary, with `--baseline`, in the
same round), so a change in the machine's load hits all of them alike; medians over the
rounds. `--callgrind` counts instructions instead (valgrind, one run each, 100,000 calls), which
the load cannot move; `--keep DIR` keeps each profile (`DIR/callgrind.tusk.plugin`, …) for
`callgrind_annotate`, to see where a call's instructions go. The binaries come from `$CARGO_TARGET_DIR/release` (else
`target/release`).
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

SCRIPTS = {
    "none": "reduce(range(0, {n}), 0, (t, i) => t + i)",
    "builtin": "reduce(range(0, {n}), 0, (t, i) => t + abs(i))",
    "plugin": "reduce(range(0, {n}), 0, (t, i) => t + my_function(i))",
}


def expected(kind: str, n: int) -> int:
    total = n * (n - 1) // 2
    return 2 * total if kind == "plugin" else total


def run(tusk: Path, env: dict, kind: str, n: int) -> float:
    started = time.perf_counter()
    result = subprocess.run([str(tusk), "-e", SCRIPTS[kind].format(n=n)], env=env, capture_output=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or int(result.stdout) != expected(kind, n):
        raise SystemExit(f"{tusk} ({kind}) failed: {result.stdout!r} {result.stderr.decode()}")
    return elapsed


def instructions(tusk: Path, env: dict, kind: str, n: int, keep: Path | None = None, name: str = "tusk") -> int:
    out = "/dev/null" if keep is None else str(keep / f"callgrind.{name}.{kind}")
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(tusk), "-e", SCRIPTS[kind].format(n=n)],
        env=env,
        capture_output=True,
    )
    match = re.search(rb"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or not match:
        raise SystemExit(f"valgrind {tusk} ({kind}) failed: {result.stderr.decode()[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--baseline", type=Path, help="another tusk binary, timed in the same rounds")
    parser.add_argument("--callgrind", action="store_true", help="count instructions (100,000 calls) instead")
    parser.add_argument("--keep", type=Path, help="with --callgrind: keep the profiles in this folder "
                        "(callgrind.NAME.KIND; read them with callgrind_annotate)")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "tusk-cli", "-p", "my_plugin"], cwd=ROOT, check=True)
    binaries = [("tusk", TUSK)] + ([("baseline", args.baseline)] if args.baseline else [])

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        plugin = scratch / "plugins" / "my_plugin"
        plugin.mkdir(parents=True)
        shutil.copy(ROOT / "examples" / "plugins" / "my_plugin" / "plugin.toml", plugin / "plugin.toml")
        shutil.copy(LIBRARY, plugin / "libmy_plugin.so")
        (scratch / "config" / "tusk").mkdir(parents=True)
        (scratch / "config" / "tusk" / "grants.toml").write_text("[my_plugin]\ntrusted = true\n")
        env = dict(os.environ, TUSK_PLUGIN_PATH=str(plugin.parent))
        for variable, folder in (("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config")):
            env[variable] = str(scratch / folder)
        for _, tusk in binaries:
            run(tusk, env, "plugin", 10)  # the index and the library cache, warm

        if args.callgrind:
            n = 100_000
            for name, tusk in binaries:
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                counts = {kind: instructions(tusk, env, kind, n, args.keep, name) for kind in SCRIPTS}
                builtin = (counts["builtin"] - counts["none"]) / n
                plugin_call = (counts["plugin"] - counts["none"]) / n
                print(f"{name}: instructions per call: built-in {builtin:.0f}, plugin {plugin_call:.0f} "
                      f"(+{plugin_call - builtin:.0f} over the built-in)")
            return

        times = {(name, kind): [] for name, _ in binaries for kind in SCRIPTS}
        for round_index in range(args.rounds):
            order = [(name, tusk, kind) for name, tusk in binaries for kind in SCRIPTS]
            if round_index % 2:
                order.reverse()
            for name, tusk, kind in order:
                times[(name, kind)].append(run(tusk, env, kind, args.calls))
        for name, _ in binaries:
            median = {kind: statistics.median(times[(name, kind)]) for kind in SCRIPTS}
            builtin = (median["builtin"] - median["none"]) / args.calls * 1e9
            plugin_call = (median["plugin"] - median["none"]) / args.calls * 1e9
            print(f"{name}: loop {median['none'] * 1e3:.1f} ms; per call: built-in {builtin:.1f} ns, "
                  f"plugin {plugin_call:.1f} ns (+{plugin_call - builtin:.1f} ns over the built-in); "
                  f"medians of {args.rounds}")


if __name__ == "__main__":
    main()
