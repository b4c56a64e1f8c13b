#!/usr/bin/env python3
"""Start-up cost of the bundled standard library: `tusk -e 1` with every standard plugin bundled
(found beside the executable, manifests read through the warm discovery index, nothing loaded)
against the same executable copied alone into a folder with no plugins; and the first call of a
bundled plugin in a new process (`tusk -e '@pipeline("reduce", …)'` against `tusk -e 1`, both
with the standard library bundled, the load cache warm from an earlier run).

    python3 bench/bundled_startup.py [--runs 200] [--debug] [--prefix DIR [--no-install]]

Installs tusk with `cargo xtask install --no-ml` (release, or the dev profile with `--debug`)
into a temporary prefix and runs that `tusk`, whose standard plugins are in `lib/tusk/plugins`;
the build tree is left as it was (`--prefix DIR` installs there instead and keeps it; `--no-install`
reuses a prefix installed before). Prints, for each case, the median and the 10th/90th
percentiles of the wall-clock time and of the CPU time (user + system, from `wait4`), and the
differences of the medians against the targets (at most 1 ms more than no plugins, and a first
call within 5 ms). On a busy machine the wall-clock times mostly measure the scheduler; the CPU
times, which a process only accrues while it runs, are the figures that still mean something
there. The load average (`/proc/loadavg`) is printed before and after.
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
FIRST_CALL = '@pipeline("reduce", [1, 2, 3], (sum, x) => sum + x, 0)'


class Samples:
    """Wall-clock and CPU times (seconds) of one case."""

    def __init__(self) -> None:
        self.wall: list = []
        self.cpu: list = []

    def __iadd__(self, other: "Samples") -> "Samples":
        self.wall += other.wall
        self.cpu += other.cpu
        return self


def time_runs(tusk: Path, env: dict, runs: int, expression: str = "1", expected: bytes = b"1") -> Samples:
    samples = Samples()
    for _ in range(runs):
        started = time.perf_counter()
        child = subprocess.Popen([str(tusk), "-e", expression], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = child.stdout.read(), child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        samples.wall.append(time.perf_counter() - started)
        samples.cpu.append(usage.ru_utime + usage.ru_stime)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0 or stdout.strip() != expected:
            raise SystemExit(f"{tusk} -e {expression} failed: {stderr.decode()}")
    return samples


def describe(values: list) -> str:
    deciles = statistics.quantiles(values, n=10)
    return f"median {statistics.median(values) * 1e3:6.2f} ms (p10 {deciles[0] * 1e3:.2f}, p90 {deciles[-1] * 1e3:.2f})"


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--debug", action="store_true", help="the dev profile (an upper bound, quicker to build)")
    parser.add_argument("--prefix", type=Path, help="install into (and keep) this prefix instead of a temporary one")
    parser.add_argument("--no-install", action="store_true", help="use the tusk installed in --prefix as it is")
    args = parser.parse_args()
    if args.no_install and not args.prefix:
        parser.error("--no-install needs --prefix")

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        prefix = args.prefix.resolve() if args.prefix else scratch / "prefix"
        if not args.no_install:
            install = ["cargo", "xtask", "install", "--prefix", str(prefix), "--no-ml"] + (["--debug"] if args.debug else [])
            subprocess.run(install, cwd=ROOT, check=True)
        bundled = prefix / "bin" / "tusk"
        plugin_dir = prefix / "lib" / "tusk" / "plugins"
        plugins = sorted(path.name for path in plugin_dir.iterdir() if (path / "plugin.toml").is_file())
        revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        print(f"revision {revision.stdout.strip() or 'unknown'}, profile {'dev' if args.debug else 'release'}, load average before: {load()}")
        alone = scratch / "alone" / "tusk"
        alone.parent.mkdir()
        shutil.copy(bundled, alone)
        env = {key: value for key, value in os.environ.items() if not key.startswith("TUSK_")}
        for variable, folder in (("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config")):
            env[variable] = str(scratch / folder)

        cold = time_runs(bundled, env, 1).wall[0]
        cold_call = time_runs(bundled, env, 1, FIRST_CALL, b"6").wall[0]
        # Interleaved rounds, so that a change in the machine's load hits every case alike.
        none_samples, bundled_samples, call_samples = Samples(), Samples(), Samples()
        for _ in range(10):
            none_samples += time_runs(alone, env, args.runs // 10)
            bundled_samples += time_runs(bundled, env, args.runs // 10)
            call_samples += time_runs(bundled, env, args.runs // 10, FIRST_CALL, b"6")
        print(f"bundled plugins: {len(plugins)} ({', '.join(plugins)}); {args.runs} runs of each case")
        cases = (
            ("tusk -e 1, no plugins", none_samples),
            ("tusk -e 1, standard library bundled", bundled_samples),
            ("first call (@pipeline reduce)", call_samples),
        )
        for clock in ("wall", "cpu"):
            print(f"{'wall-clock' if clock == 'wall' else 'CPU (user + system)'}:")
            for label, samples in cases:
                print(f"  {label:<38} {describe(getattr(samples, clock))}")
            median = {label: statistics.median(getattr(samples, clock)) for label, samples in cases}
            extra = median["tusk -e 1, standard library bundled"] - median["tusk -e 1, no plugins"]
            first_call = median["first call (@pipeline reduce)"] - median["tusk -e 1, standard library bundled"]
            print(f"  extra start-up with the standard library: {extra * 1e3:+.2f} ms (target: at most +1 ms: {'met' if extra <= 1e-3 else 'missed'})")
            print(f"  first call of a bundled plugin:           {first_call * 1e3:+.2f} ms (target: at most 5 ms: {'met' if first_call <= 5e-3 else 'missed'})")
        print(f"very first runs (index and load cache cold): tusk -e 1 {cold * 1e3:.2f} ms, first call {cold_call * 1e3:.2f} ms")
        print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
