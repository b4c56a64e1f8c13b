#!/usr/bin/env python3
"""Start-up cost of the bundled standard library: `tusk -e 1` with every standard plugin bundled
(found beside the executable, manifests read through the warm discovery index, nothing loaded)
against the same executable copied alone into a folder with no plugins; and the first call of a
bundled plugin in a new process (`tusk -e '@pipeline("reduce", …)'` against `tusk -e 1`, both
with the standard library bundled, the load cache warm from an earlier run).

    python3 bench/bundled_startup.py [--runs 200] [--debug]

Installs tusk with `cargo xtask install --no-ml` (release, or the dev profile with `--debug`)
into a temporary prefix and runs that `tusk`, whose standard plugins are in `lib/tusk/plugins`;
the build tree is left as it was. Prints the median and the 10th/90th percentiles of each case
and the differences of the medians against the targets (at most 1 ms more than no plugins, and a
first call within 5 ms).
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


def time_runs(tusk: Path, env: dict, runs: int, expression: str = "1", expected: bytes = b"1") -> list:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run([str(tusk), "-e", expression], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        samples.append(time.perf_counter() - started)
        if result.returncode != 0 or result.stdout.strip() != expected:
            raise SystemExit(f"{tusk} -e {expression} failed: {result.stderr.decode()}")
    return samples


def describe(samples: list) -> str:
    deciles = statistics.quantiles(samples, n=10)
    return f"median {statistics.median(samples) * 1e3:6.2f} ms (p10 {deciles[0] * 1e3:.2f}, p90 {deciles[-1] * 1e3:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--debug", action="store_true", help="the dev profile (an upper bound, quicker to build)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        prefix = scratch / "prefix"
        install = ["cargo", "xtask", "install", "--prefix", str(prefix), "--no-ml"] + (["--debug"] if args.debug else [])
        subprocess.run(install, cwd=ROOT, check=True)
        bundled = prefix / "bin" / "tusk"
        plugin_dir = prefix / "lib" / "tusk" / "plugins"
        plugins = sorted(path.name for path in plugin_dir.iterdir() if (path / "plugin.toml").is_file())
        print(f"profile: {'dev' if args.debug else 'release'}")
        alone = scratch / "alone" / "tusk"
        alone.parent.mkdir()
        shutil.copy(bundled, alone)
        env = {key: value for key, value in os.environ.items() if not key.startswith("TUSK_")}
        for variable, folder in (("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config")):
            env[variable] = str(scratch / folder)

        cold = time_runs(bundled, env, 1)[0]
        cold_call = time_runs(bundled, env, 1, FIRST_CALL, b"6")[0]
        # Interleaved rounds, so that a change in the machine's load hits every case alike.
        none_samples, bundled_samples, call_samples = [], [], []
        for _ in range(10):
            none_samples += time_runs(alone, env, args.runs // 10)
            bundled_samples += time_runs(bundled, env, args.runs // 10)
            call_samples += time_runs(bundled, env, args.runs // 10, FIRST_CALL, b"6")
        print(f"bundled plugins: {len(plugins)} ({', '.join(plugins)})")
        print(f"tusk -e 1, no plugins:                  {describe(none_samples)}")
        print(f"tusk -e 1, standard library bundled:    {describe(bundled_samples)}")
        print(f"tusk -e '{FIRST_CALL}': {describe(call_samples)}")
        extra = statistics.median(bundled_samples) - statistics.median(none_samples)
        print(f"extra start-up with the standard library: {extra * 1e3:+.2f} ms (target: at most +1 ms)")
        first_call = statistics.median(call_samples) - statistics.median(bundled_samples)
        print(f"first call of a bundled plugin: {first_call * 1e3:+.2f} ms (target: at most 5 ms)")
        print(f"very first runs (index and load cache cold): tusk -e 1 {cold * 1e3:.2f} ms, first call {cold_call * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
