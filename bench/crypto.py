#!/usr/bin/env python3
"""AES-256-GCM (or ChaCha20-Poly1305, `--aead chacha20_poly1305`) encryption and SHA-256 through the encryption plugin, side by side in one run
with Python's `cryptography` package (OpenSSL underneath) and hashlib:

- tusk: `@encrypt("aes_256_gcm", data, key)` (a random nonce per call, the `tsk1:` envelope in
  base64url), `@encryption.seal("aes_256_gcm", data, key)` (raw bytes: nonce || ciphertext ||
  tag, in a byte string the plugin writes once), `@encryption.open` of one sealed value and
  `hash(data)` (SHA-256 as hex), in a `reduce` over `range(0, N)`;
- Python: `AESGCM(key).encrypt(os.urandom(12), data, None)` (raw bytes out), the same with the
  nonce in front (`nonce + ct`, the bytes `seal` returns), the same plus the
  same envelope as tusk (`"tsk1:aes256gcm:" + urlsafe_b64encode(nonce + ct)`, so both sides
  do the same job), `AESGCM.decrypt` of one sealed value (`open`'s peer), `cryptography`'s `hashes.Hash(SHA256())` with `.hexdigest`-equivalent hex,
  and `hashlib.sha256(data).hexdigest()`.

Each message size runs every contender once per round; the medians over the rounds are
reported as calls per second and MB/s of plaintext. A tusk rate is N divided by the time of
the run with N calls minus the time of the same script with none (start-up, plugin load, the
data literal); Python times its loop itself. The plugin is installed next to a release `tusk`
and trusted (in-process, as first-party plugins run).

    python3 bench/crypto.py [--sizes 64,1024,65536,1048576] [--rounds 3] [--no-build]
                            [--python /tmp/tusk-crypto-bench-venv/bin/python] [--raw-only]
                            [--aead aes_256_gcm|chacha20_poly1305] [--baseline TARGET_DIR]

`--aead chacha20_poly1305` runs the same contenders with ChaCha20-Poly1305 (Python's
`ChaCha20Poly1305` as the peer; the kinds keep their `aes` names). `--baseline` adds the
plugin's contenders once more with the `tusk` and plugin of another release target directory
(say a build of main), interleaved with the others in every round, labelled `base`.

The Python side needs `cryptography` (`python3 -m venv /tmp/tusk-crypto-bench-venv &&
/tmp/tusk-crypto-bench-venv/bin/pip install cryptography`).
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
KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

# The data is a literal of the document (ASCII, so text and bytes have the same length).
TUSK_AES = """data: "{data}"
total: reduce(range(0, {n}), 0, (acc, i) => acc + len(@encrypt("{alg}", data, "{key}")))
"""
TUSK_SEAL = """data: "{data}"
total: reduce(range(0, {n}), 0, (acc, i) => acc + len(@encryption.seal("{alg}", data, "{key}")))
"""
TUSK_OPEN = """data: "{data}"
sealed: @encryption.seal("{alg}", data, "{key}")
total: reduce(range(0, {n}), 0, (acc, i) => acc + len(@encryption.open("{alg}", sealed, "{key}")))
"""
# Script name, envelope id, Python class, label.
AEADS = {
    "aes_256_gcm": ("aes256gcm", "AESGCM", "AES-256-GCM"),
    "chacha20_poly1305": ("chacha20poly1305", "ChaCha20Poly1305", "ChaCha20-Poly1305"),
}
TUSK_SHA = """data: "{data}"
total: reduce(range(0, {n}), 0, (acc, i) => acc + len(hash(data)))
"""

PYTHON = """
import base64, hashlib, os, sys, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
kind, size, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (size // 36 + 1))[:size]
aead = {"AESGCM": AESGCM, "ChaCha20Poly1305": ChaCha20Poly1305}[sys.argv[4]](bytes.fromhex("{key}"))
prefix = "tsk1:" + sys.argv[5] + ":"
total = 0
start = time.perf_counter()
if kind == "aes":
    for _ in range(n):
        total += len(aead.encrypt(os.urandom(12), data, None))
elif kind == "aes-sealed":
    for _ in range(n):
        nonce = os.urandom(12)
        total += len(nonce + aead.encrypt(nonce, data, None))
elif kind == "aes-open":
    nonce = os.urandom(12)
    sealed = aead.encrypt(nonce, data, None)
    for _ in range(n):
        total += len(aead.decrypt(nonce, sealed, None))
elif kind == "aes-envelope":
    for _ in range(n):
        nonce = os.urandom(12)
        total += len(prefix + base64.urlsafe_b64encode(nonce + aead.encrypt(nonce, data, None)).rstrip(b"=").decode())
elif kind == "sha-cryptography":
    for _ in range(n):
        digest = hashes.Hash(hashes.SHA256())
        digest.update(data)
        total += len(digest.finalize().hex())
elif kind == "sha-hashlib":
    for _ in range(n):
        total += len(hashlib.sha256(data).hexdigest())
print(time.perf_counter() - start, total)
"""


def data_of(size: int) -> str:
    return ("abcdefghijklmnopqrstuvwxyz0123456789" * (size // 36 + 1))[:size]


def envelope_len(size: int, envelope_id: str) -> int:
    payload = 12 + size + 16
    return len(f"tsk1:{envelope_id}:") + (payload * 4 + 2) // 3


def expected(kind: str, size: int, n: int, envelope_id: str = "aes256gcm") -> int:
    if kind == "aes":
        return n * (size + 16)
    if kind in ("aes-sealed", "tusk-seal", "base-seal"):
        return n * (12 + size + 16)
    if kind in ("aes-open", "tusk-open", "base-open"):
        return n * size
    if kind in ("aes-envelope", "tusk-aes", "base-aes"):
        return n * envelope_len(size, envelope_id)
    return n * 64


def install(folder: Path, target: Path = TARGET) -> None:
    plugin = folder / "encryption"
    plugin.mkdir(parents=True)
    source = ROOT / "stdlib-plugins" / "encryption"
    shutil.copy(source / "plugin.toml", plugin / "plugin.toml")
    shutil.copy(source / "config.schema.json", plugin / "config.schema.json")
    shutil.copy(target / "libtusk_plugin_encryption.so", plugin / "libtusk_plugin_encryption.so")


def run_tusk(env: dict, script: Path, want: int, tusk: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run([str(tusk), "get", str(script), "total"], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or result.stdout.strip() != str(want):
        raise SystemExit(f"tusk {script.name} failed (wanted {want}): {result.stdout}{result.stderr}")
    return elapsed


def tusk_rate(env: dict, folder: Path, template: str, kind: str, size: int, n: int, aead: str, tusk: Path = TARGET / "tusk") -> float:
    envelope_id = AEADS[aead][0]
    times = {}
    for count in (0, n):
        script = folder / f"bench_{kind}_{size}_{count}.tsk"
        script.write_text(template.format(n=count, data=data_of(size), key=KEY_HEX, alg=aead))
        times[count] = run_tusk(env, script, expected(kind, size, count, envelope_id), tusk)
    return n / (times[n] - times[0])


def python_rate(python: str, kind: str, size: int, n: int, aead: str) -> float:
    envelope_id, python_class, _ = AEADS[aead]
    command = [python, "-c", PYTHON.replace("{key}", KEY_HEX), kind, str(size), str(n), python_class, envelope_id]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"python failed: {result.stderr}")
    elapsed, total = result.stdout.split()
    if int(total) != expected(kind, size, n, envelope_id):
        raise SystemExit(f"python {kind} gave {total}, expected {expected(kind, size, n, envelope_id)}")
    return n / float(elapsed)


def calls_for(size: int) -> int:
    # About 256 MB of plaintext per run, at least 2,000 and at most 200,000 calls.
    return max(2000, min(200000, (256 << 20) // size))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="64,1024,65536,1048576", help="message sizes in bytes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--python", default="/tmp/tusk-crypto-bench-venv/bin/python")
    parser.add_argument("--raw-only", action="store_true", help="only seal/open and their Python peers")
    parser.add_argument("--aead", choices=sorted(AEADS), default="aes_256_gcm", help="the AEAD measured")
    parser.add_argument("--baseline", type=Path, help="another release target dir (tusk and the plugin), run as `base` contenders")
    args = parser.parse_args()
    aead = args.aead
    operation = AEADS[aead][2]
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "tusk-cli", "-p", "tusk-plugin-encryption"], cwd=ROOT, check=True)
    version = subprocess.run([args.python, "-c", "import cryptography, ssl; print(cryptography.__version__, ssl.OPENSSL_VERSION)"], capture_output=True, text=True)
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        install(scratch / "plugins")
        grants = scratch / "config" / "tusk" / "grants.toml"
        grants.parent.mkdir(parents=True)
        grants.write_text("[encryption]\ntrusted = true\n")
        env = dict(os.environ, TUSK_PLUGIN_PATH=str(scratch / "plugins"), XDG_CONFIG_HOME=str(scratch / "config"), XDG_CACHE_HOME=str(scratch / "cache"), XDG_DATA_HOME=str(scratch / "data"))
        base_env = base_tusk = None
        if args.baseline:
            install(scratch / "base-plugins", args.baseline)
            base_env = dict(env, TUSK_PLUGIN_PATH=str(scratch / "base-plugins"), XDG_CACHE_HOME=str(scratch / "base-cache"))
            base_tusk = args.baseline / "tusk"
        rows = []
        for size in sizes:
            n = calls_for(size)
            contenders = [
                (operation, "tusk @encrypt (envelope)", lambda: tusk_rate(env, scratch, TUSK_AES, "tusk-aes", size, n, aead)),
                (operation, "tusk @encryption.seal (bytes)", lambda: tusk_rate(env, scratch, TUSK_SEAL, "tusk-seal", size, n, aead)),
                (operation, "Python cryptography (raw bytes)", lambda: python_rate(args.python, "aes", size, n, aead)),
                (operation, "Python cryptography nonce + ct", lambda: python_rate(args.python, "aes-sealed", size, n, aead)),
                (operation, "Python cryptography + envelope", lambda: python_rate(args.python, "aes-envelope", size, n, aead)),
                (operation, "tusk @encryption.open (bytes)", lambda: tusk_rate(env, scratch, TUSK_OPEN, "tusk-open", size, n, aead)),
                (operation, "Python cryptography decrypt", lambda: python_rate(args.python, "aes-open", size, n, aead)),
                ("SHA-256", "tusk hash()", lambda: tusk_rate(env, scratch, TUSK_SHA, "tusk-sha", size, n, aead)),
                ("SHA-256", "Python cryptography", lambda: python_rate(args.python, "sha-cryptography", size, n, aead)),
                ("SHA-256", "Python hashlib", lambda: python_rate(args.python, "sha-hashlib", size, n, aead)),
            ]
            if args.baseline:
                contenders[2:2] = [
                    (operation, "base @encrypt (envelope)", lambda: tusk_rate(base_env, scratch, TUSK_AES, "base-aes", size, n, aead, base_tusk)),
                    (operation, "base @encryption.seal (bytes)", lambda: tusk_rate(base_env, scratch, TUSK_SEAL, "base-seal", size, n, aead, base_tusk)),
                ]
                contenders.insert(-3, (operation, "base @encryption.open (bytes)", lambda: tusk_rate(base_env, scratch, TUSK_OPEN, "base-open", size, n, aead, base_tusk)))
            if args.raw_only:
                contenders = [entry for entry in contenders if "envelope" not in entry[1] and entry[0] != "SHA-256"]
            samples = {label: [] for _, label, _ in contenders}
            # Every round runs each contender once, so that a change in the machine's load
            # hits them alike.
            for _ in range(args.rounds):
                for _, label, measure in contenders:
                    samples[label].append(measure())
            for operation, label, _ in contenders:
                rate = statistics.median(samples[label])
                rows.append((size, n, operation, label, rate, rate * size / 1e6))
    print(f"python: {version.stdout.strip()}; median of {args.rounds} rounds")
    print(f"{'size':>8} {'calls':>7}  {'operation':<12} {'contender':<34} {'calls/s':>12} {'MB/s':>9}")
    for size, n, operation, label, rate, mbs in rows:
        print(f"{size:>8} {n:>7}  {operation:<12} {label:<34} {rate:>12,.0f} {mbs:>9,.1f}")
    by = {(size, label): rate for size, _, _, label, rate, _ in rows}
    for size in sizes:
        for ours, theirs in (
            ("tusk @encryption.open (bytes)", "Python cryptography decrypt"),
            ("tusk @encrypt (envelope)", "Python cryptography (raw bytes)"),
            ("tusk @encrypt (envelope)", "Python cryptography + envelope"),
            ("tusk @encryption.seal (bytes)", "Python cryptography (raw bytes)"),
            ("tusk @encryption.seal (bytes)", "Python cryptography nonce + ct"),
            ("tusk @encryption.seal (bytes)", "base @encryption.seal (bytes)"),
            ("tusk @encryption.open (bytes)", "base @encryption.open (bytes)"),
            ("tusk @encrypt (envelope)", "base @encrypt (envelope)"),
            ("tusk hash()", "Python cryptography"),
            ("tusk hash()", "Python hashlib"),
        ):
            if (size, ours) not in by or (size, theirs) not in by:
                continue
            ratio = by[(size, ours)] / by[(size, theirs)]
            print(f"  {size:>8} B: {ours} / {theirs}: {ratio:.2f}x ({'ahead' if ratio > 1 else 'behind'})")


if __name__ == "__main__":
    main()
