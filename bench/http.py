#!/usr/bin/env python3
"""HTTP requests per second and p50/p99 latency, side by side in one run, with wrk as the load
generator: a tusk route whose handler is a lambda returning a small JSON object (the http plugin,
in-process as first-party plugins run), the same route in plain axum (the ceiling, the plugin's
own server stack without the interpreter), and the same handler in Node's `http` module.

Every server answers GET /hello with {"message": "hello", "n": 1} as application/json; each is
started, warmed up for 2 s, measured with `wrk -t2 -cC -dDs --latency`, then stopped. Besides
the rate and latencies it prints the server's CPU time per request (all its threads, from
/proc, during the measured run): on a shared machine the rate follows the CPU the server gets,
while the CPU per request is what the server itself costs.

    python3 bench/http.py [--duration 10] [--connections 64] [--no-build] [--rounds 3] [--nice -10]

`--nice N` runs every server and wrk at that niceness (`nice -n N`; below 0 needs root): on a
machine shared with builds, a negative value keeps them from taking the cores mid-run, the same
for every server. `--rounds N` runs the four servers N times in turn and also prints each one's
median.

Needs wrk (`apt-get install wrk`) and node; builds tusk, the plugin and the axum example in
release mode (CARGO_TARGET_DIR is honoured).
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"

TUSK_SCRIPT = """plugins: {{http: {{workers: {workers}}}}}
server: @http_server({port})
hello: @http_route("GET", "/hello", req => {{message: "hello", n: 1}})
"""

NODE_SCRIPT = """
const http = require("http");
http.createServer((req, res) => {
  if (req.url === "/hello") {
    const body = JSON.stringify({message: "hello", n: 1});
    res.writeHead(200, {"content-type": "application/json"});
    res.end(body);
  } else {
    res.writeHead(404); res.end();
  }
}).listen(%d, "127.0.0.1");
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def millis(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process (all its threads) has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, duration: int, connections: int, prefix: list, pid: int) -> dict:
    subprocess.run([*prefix, "wrk", "-t2", f"-c{connections}", "-d2s", url], check=True, capture_output=True)
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(
        [*prefix, "wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url],
        check=True, capture_output=True, text=True,
    ).stdout
    cpu = cpu_seconds(pid) - cpu_before
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = millis(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = millis(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        raise SystemExit(f"errors during the run:\n{out}")
    return {"rate": rate, "p50": p50, "p99": p99, "cpu_us": cpu * 1e6 / requests}


def run(name: str, command: list, port: int, duration: int, connections: int, prefix: list, env=None) -> dict:
    process = subprocess.Popen([*prefix, *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_for(port, process)
        url = f"http://127.0.0.1:{port}/hello"
        body = subprocess.run(["curl", "-s", url], capture_output=True, text=True).stdout
        if body.replace(" ", "") != '{"message":"hello","n":1}':
            raise SystemExit(f"{name} answered {body!r}")
        result = measure(url, duration, connections, prefix, process.pid)
        result["name"] = name
        return result
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="run every server this many times, interleaved")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the servers and wrk (nice -n N)")
    args = parser.parse_args()
    prefix = ["nice", "-n", str(args.nice)] if args.nice else []
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if not args.no_build:
        for targets in (["-p", "tusk-cli", "-p", "tusk-plugin-http"], ["-p", "tusk-plugin-http", "--example", "axum_baseline"]):
            subprocess.run(["cargo", "build", "--release", *targets], cwd=ROOT, check=True)
    rounds = []
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        plugin = temp / "plugins" / "http"
        plugin.mkdir(parents=True)
        source = ROOT / "stdlib-plugins" / "http"
        shutil.copy(source / "plugin.toml", plugin / "plugin.toml")
        shutil.copy(source / "config.schema.json", plugin / "config.schema.json")
        shutil.copy(TARGET / "libtusk_plugin_http.so", plugin / "libtusk_plugin_http.so")
        env = dict(os.environ, TUSK_PLUGIN_PATH=str(temp / "plugins"), XDG_CACHE_HOME=str(temp / "cache"))
        # Trusted, so in-process as the bundled first-party plugin runs.
        grants = temp / "grants.toml"
        grants.write_text("[http]\ntrusted = true\n")
        node = temp / "server.js"
        # Every round runs each server once, so a change in the machine's load during the runs
        # falls on all of them alike.
        for _ in range(args.rounds):
            results = []
            for workers in (2, 1):
                port = free_port()
                script = temp / f"server{workers}.tsk"
                script.write_text(TUSK_SCRIPT.format(port=port, workers=workers))
                tusk = [str(TARGET / "tusk"), "--grants", str(grants), str(script)]
                name = f"tusk (lambda handler, {workers} worker{'s' if workers > 1 else ''})"
                results.append(run(name, tusk, port, args.duration, args.connections, prefix, env))
            port = free_port()
            axum = [str(TARGET / "examples" / "axum_baseline"), str(port)]
            results.append(run("plain axum", axum, port, args.duration, args.connections, prefix))
            port = free_port()
            node.write_text(NODE_SCRIPT % port)
            results.append(run("node http", ["node", str(node)], port, args.duration, args.connections, prefix))
            rounds.append(results)
    niceness = f", nice -n {args.nice}" if args.nice else ""
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s --latency{niceness}, GET /hello -> {{\"message\":\"hello\",\"n\":1}}")
    for number, results in enumerate(rounds, 1):
        if len(rounds) > 1:
            print(f"round {number}:")
        report(results)
    if len(rounds) > 1:
        print(f"median of {len(rounds)} rounds (each column its own median):")
        report([
            {key: (statistics.median(r[i][key] for r in rounds) if key != "name" else rounds[0][i]["name"])
             for key in rounds[0][i]}
            for i in range(len(rounds[0]))
        ])


def report(results: list) -> None:
    axum = next(r for r in results if r["name"] == "plain axum")
    print(f"{'server':38} {'req/s':>10} {'vs axum':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}")
    for r in results:
        print(f"{r['name']:38} {r['rate']:10.0f} {r['rate'] / axum['rate']:8.0%} {r['p50']:8.2f} {r['p99']:8.2f} "
              f"{r['cpu_us']:11.1f}")
    tusk = max(results[:2], key=lambda r: r["rate"])
    node = results[3]
    print(f"targets: tusk >= 50% of axum: {'met' if tusk['rate'] >= 0.5 * axum['rate'] else 'NOT met'}; "
          f"tusk ahead of node: {'met' if tusk['rate'] > node['rate'] else 'NOT met'}")


if __name__ == "__main__":
    main()
