#!/usr/bin/env python3
"""Round trips per second of a SELECT of one row by primary key, side by side in one run:

- tusk with the postgres plugin (`@postgres.query(url, "… WHERE id = $1", [i])`),
- tusk with the query plugin on PostgreSQL (`@query("… WHERE id = ?", i)`),
- tusk with the query plugin on SQLite (in-memory, the table made by the script),
- Python with psycopg 3 (dict rows) on PostgreSQL and with sqlite3 (dict rows) in memory.

Each tusk script is one `reduce` over `range(0, N)` that runs the query and adds up a column of
the row it got, with the plugins installed next to a release `tusk` and trusted (in-process, as
first-party plugins run). A tusk rate is N divided by the time of the run with N queries minus
the time of the same script with no query (start-up, plugin load, connection, table set-up);
Python times its loop itself. Both sides connect over TCP to 127.0.0.1 with TLS off
(sslmode=disable) and build one dictionary/object per row.

    python3 bench/sql.py [--queries 20000] [--sqlite-queries 200000] [--rounds 3] [--no-build]
                         [--python /path/to/python]

The Python side needs psycopg (`pip install 'psycopg[binary]'` into a virtual environment
outside the repository, e.g. /tmp/tusk-sql-bench-venv, and pass its python with --python).
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
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
URL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
TABLE = "tusk_bench_sql"
ROWS = 1000

SETUP_SQL = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE TABLE {TABLE} (id int PRIMARY KEY, name text NOT NULL, score float8 NOT NULL);
INSERT INTO {TABLE} SELECT g, 'name ' || g, g * 0.5 FROM generate_series(1, {ROWS}) g;
"""

POSTGRES_SCRIPT = """total: reduce(range(0, {n}), 0, (acc, i) => acc + @postgres.query("{url}", "SELECT id, name, score FROM {table} WHERE id = $1", [i % {rows} + 1])[0].id)
"""

QUERY_POSTGRES_SCRIPT = """plugins: {{query: {{default: "postgresql", postgresql: {{url: "{url}", tls: "disable"}}}}}}
total: reduce(range(0, {n}), 0, (acc, i) => acc + @query("SELECT id, name, score FROM {table} WHERE id = ?", i % {rows} + 1)[0].id)
"""

QUERY_SQLITE_SCRIPT = """made: @query("CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL)")
filled: @query("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) INSERT INTO {table} SELECT n, 'name ' || n, n * 0.5 FROM g")
total: reduce(range(0, {n}), 0, (acc, i) => acc + @query("SELECT id, name, score FROM {table} WHERE id = ?", i % {rows} + 1)[0].id)
"""

PYTHON_PSYCOPG = """
import sys, time, psycopg
from psycopg.rows import dict_row
n = int(sys.argv[1])
with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable", row_factory=dict_row, autocommit=True) as conn:
    cur = conn.cursor()
    total = 0
    start = time.perf_counter()
    for i in range(n):
        cur.execute("SELECT id, name, score FROM {table} WHERE id = %s", (i % {rows} + 1,))
        total += cur.fetchone()["id"]
    print(time.perf_counter() - start, total)
"""

PYTHON_SQLITE = """
import sys, time, sqlite3
n = int(sys.argv[1])
conn = sqlite3.connect(":memory:")
conn.row_factory = lambda cursor, row: {{column[0]: value for column, value in zip(cursor.description, row)}}
conn.execute("CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL)")
conn.execute("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) INSERT INTO {table} SELECT n, 'name ' || n, n * 0.5 FROM g")
total = 0
start = time.perf_counter()
for i in range(n):
    total += conn.execute("SELECT id, name, score FROM {table} WHERE id = ?", (i % {rows} + 1,)).fetchone()["id"]
print(time.perf_counter() - start, total)
"""


def expected_total(n: int) -> int:
    return sum(i % ROWS + 1 for i in range(n))


def install(folder: Path) -> None:
    for name in ("postgres", "query"):
        plugin = folder / name
        plugin.mkdir(parents=True)
        source = ROOT / "stdlib-plugins" / name
        shutil.copy(source / "plugin.toml", plugin / "plugin.toml")
        shutil.copy(source / "config.schema.json", plugin / "config.schema.json")
        shutil.copy(TARGET / f"libtusk_plugin_{name}.so", plugin / f"libtusk_plugin_{name}.so")


def run_tusk(env: dict, script: Path, n: int) -> float:
    started = time.perf_counter()
    result = subprocess.run([str(TARGET / "tusk"), "get", str(script), "total"], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or result.stdout.strip() != str(expected_total(n)):
        raise SystemExit(f"tusk {script.name} (n={n}) failed: {result.stdout}{result.stderr}")
    return elapsed


def tusk_rate(env: dict, folder: Path, template: str, n: int) -> float:
    times = {}
    for count in (0, n):
        script = folder / f"bench_{count}.tsk"
        script.write_text(template.format(n=count, url=URL, table=TABLE, rows=ROWS))
        times[count] = run_tusk(env, script, count)
    return n / (times[n] - times[0])


def python_rate(python: str, code: str, n: int) -> float:
    result = subprocess.run([python, "-c", code.format(table=TABLE, rows=ROWS), str(n)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"python failed: {result.stderr}")
    elapsed, total = result.stdout.split()
    if int(total) != expected_total(n):
        raise SystemExit(f"python gave {total}, expected {expected_total(n)}")
    return n / float(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=20000, help="queries per PostgreSQL run")
    parser.add_argument("--sqlite-queries", type=int, default=200000, help="queries per SQLite run (they are ~50x faster)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--python", default="/tmp/tusk-sql-bench-venv/bin/python")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(
            ["cargo", "build", "--release", "-p", "tusk-cli", "-p", "tusk-plugin-postgres", "-p", "tusk-plugin-query"],
            cwd=ROOT,
            check=True,
        )
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", "SET client_min_messages = warning;" + SETUP_SQL], check=True)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            install(scratch / "plugins")
            grants = scratch / "config" / "tusk" / "grants.toml"
            grants.parent.mkdir(parents=True)
            grants.write_text(
                "\n".join(
                    f'[{name}]\ntrusted = true\nallow_net = ["127.0.0.1:5432"]\n' for name in ("postgres", "query")
                )
            )
            env = dict(os.environ, TUSK_PLUGIN_PATH=str(scratch / "plugins"), XDG_CONFIG_HOME=str(scratch / "config"), XDG_CACHE_HOME=str(scratch / "cache"), XDG_DATA_HOME=str(scratch / "data"))
            n, lite, rounds = args.queries, args.sqlite_queries, args.rounds
            # Every round runs each contender once, so that a change in the machine's load hits
            # them alike; the medians over the rounds are reported.
            contenders = [
                ("tusk @postgres.query (PostgreSQL)", lambda: tusk_rate(env, scratch, POSTGRES_SCRIPT, n)),
                ("tusk @query (PostgreSQL)", lambda: tusk_rate(env, scratch, QUERY_POSTGRES_SCRIPT, n)),
                ("Python psycopg 3 (PostgreSQL)", lambda: python_rate(args.python, PYTHON_PSYCOPG, n)),
                ("tusk @query (SQLite, in memory)", lambda: tusk_rate(env, scratch, QUERY_SQLITE_SCRIPT, lite)),
                ("Python sqlite3 (in memory)", lambda: python_rate(args.python, PYTHON_SQLITE, lite)),
            ]
            samples = {label: [] for label, _ in contenders}
            for _ in range(rounds):
                for label, measure in contenders:
                    samples[label].append(measure())
            results = [(label, statistics.median(samples[label])) for label, _ in contenders]
    finally:
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", f"DROP TABLE IF EXISTS {TABLE}"], check=True)
    print(f"SELECT of one row by primary key: {n} per PostgreSQL run, {lite} per SQLite run, median of {rounds} rounds")
    for label, rate in results:
        print(f"  {label:<36} {rate:>10,.0f} round trips/s")
    rates = dict(results)
    for ours, theirs in (
        ("tusk @postgres.query (PostgreSQL)", "Python psycopg 3 (PostgreSQL)"),
        ("tusk @query (PostgreSQL)", "Python psycopg 3 (PostgreSQL)"),
        ("tusk @query (SQLite, in memory)", "Python sqlite3 (in memory)"),
    ):
        ratio = rates[ours] / rates[theirs]
        print(f"  {ours} / {theirs}: {ratio:.2f}x ({'ahead' if ratio > 1 else 'behind'})")


if __name__ == "__main__":
    main()
