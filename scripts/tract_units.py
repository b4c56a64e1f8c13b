#!/usr/bin/env python3
"""Checks that tract and tokenizers compile once for the whole test run.

`cargo test --workspace` builds tract (the heaviest dependency: minutes) for the workspace, and
the plugin tests then build the tensorflow and nlp plugins alone (`cargo build -p …`, through the
test kit), as does the tusk command's test of the standard plugins. Cargo reuses the workspace's
tract only if every crate under it gets the same features in all those builds, which is what the
"feature alignment" dependencies of tusk-ml-common and tusk-plugin-nlp arrange. A dependency
added elsewhere can change the workspace's features; this script shows where the builds differ:

    python3 scripts/tract_units.py

It reads cargo's unit graphs (an unstable cargo option, enabled here with RUSTC_BOOTSTRAP=1 for
cargo only; nothing is compiled) and exits 1 when a crate would be built more than once.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["tract_core", "tract_onnx", "tract_tensorflow", "tokenizers"]
BUILDS = {
    "cargo test --workspace": ["test", "--workspace", "--no-run"],
    "tensorflow plugin alone": ["build", "-p", "tusk-plugin-tensorflow"],
    "nlp plugin alone": ["build", "-p", "tusk-plugin-nlp"],
    "the tusk command's standard-plugin test": ["build"]
    + [arg for name in ("logging", "pipeline", "tensorflow", "nlp") for arg in ("-p", f"tusk-plugin-{name}")],
}


def unit_graph(args):
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    out = subprocess.run(["cargo", *args, "--unit-graph", "-Z", "unstable-options"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["units"]


def signatures(units):
    memo, described = {}, {}

    def sig(i):
        if i in memo:
            return memo[i]
        u = units[i]
        profile = {k: v for k, v in u["profile"].items() if k != "name"}  # cargo's hash ignores the name
        own = [u["pkg_id"].split("#")[-1], u["target"]["name"], u["mode"], sorted(u["features"]), profile, u["platform"]]
        deps = sorted(sig(d["index"]) for d in u["dependencies"])
        s = hashlib.sha1(json.dumps([own, deps], sort_keys=True).encode()).hexdigest()[:12]
        memo[i], described[s] = s, (own, deps)
        return s

    roots = {name: {sig(i) for i, u in enumerate(units) if u["target"]["name"] == name and u["mode"] == "build"}
             for name in CRATES}
    return roots, described


def first_differences(sig, mine, theirs, seen):
    """The deepest units under `sig` that the other build does not have."""
    if sig in theirs or sig in seen:
        return
    seen.add(sig)
    own, deps = mine[sig]
    missing = [d for d in deps if d not in theirs]
    if not missing:
        print(f"    {own[0]} {own[1]} ({own[2]}): features {own[3]}, debuginfo {own[4].get('debuginfo')}")
        for other, _ in theirs.values():
            if other[:2] == own[:2]:
                print(f"      the workspace has: features {other[3]}, debuginfo {other[4].get('debuginfo')}")
    for d in missing:
        first_differences(d, mine, theirs, seen)


def main():
    graphs = {name: signatures(unit_graph(args)) for name, args in BUILDS.items()}
    reference_name = next(iter(BUILDS))
    reference_roots, reference_units = graphs[reference_name]
    ok = True
    for name, (roots, units) in graphs.items():
        for crate in CRATES:
            extra = roots[crate] - reference_roots[crate]
            if extra:
                ok = False
                print(f"{crate}: the {name} build compiles it again; first differences:")
                for sig in extra:
                    first_differences(sig, units, reference_units, set())
    print("each of", ", ".join(CRATES), "compiles once" if ok else "compiles more than once")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
