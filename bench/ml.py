#!/usr/bin/env python3
"""Model inference through the tensorflow and nlp plugins beside onnxruntime, in one run:

- all-MiniLM-L6-v2 sentence embeddings (tokenize + model + pooling), a batch of 1 and of 32
  sentences, through `@nlp.embed` against Python onnxruntime (1 thread) with the Python
  `tokenizers` package on the same ONNX file and tokenizer.json, padded to the batch's longest
  sentence on both sides; the embeddings are compared too;
- the tiny MLP (4 -> 8 -> 3): predictions per second through `predict` with a model handle
  against onnxruntime's `session.run` on the same file;
- MiniLM's load time (tract's read + optimise + plan, from `@tensorflow.info`) against
  onnxruntime's session creation, and the peak memory of a tusk process holding the model.

Each tusk figure is the time of a script running N + 1 calls minus the same script with one call
(start-up, plugin and model load, first call), divided by N. The plugins are release builds installed next to
a release `tusk` and trusted (in-process, as first-party plugins run). tract runs single-threaded.

    scripts/models/build.sh                      # the models, once
    python3 bench/ml.py [--rounds 3] [--no-build] [--python /tmp/tusk-ml-bench-venv/bin/python]

The Python side needs onnxruntime, tokenizers and numpy in a virtual environment outside the
repository (`python3 -m venv /tmp/tusk-ml-bench-venv && /tmp/tusk-ml-bench-venv/bin/pip install
onnxruntime tokenizers numpy`).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
MODELS = Path(os.environ.get("TUSK_MODELS_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tusk/models")
MINILM = MODELS / "all-MiniLM-L6-v2"
TINY = ROOT / "stdlib-plugins/tensorflow/tests/fixtures/tiny_mlp.onnx"

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The stock market fell sharply today after the announcement.",
    "How do I reset the password of my account?",
    "Configuration files should be easy to read and to write.",
    "The quick brown fox jumps over the lazy dog.",
    "Rust programs are fast and memory safe.",
    "It rained all weekend, so we stayed inside and read books.",
    "Please send the quarterly report before Friday noon.",
]
BATCH = (SENTENCES * 2)[:32]

EMBED_ONE = """total: reduce(range(0, {n}), 0, (acc, i) => acc + len(@nlp.embed("{sentence} " + str(i % 7))))
"""
EMBED_BATCH = """$batch: {batch}
total: reduce(range(0, {n}), 0, (acc, i) => acc + len(@nlp.embed($batch)))
"""
EMBED_CHECK = """out: @nlp.embed({batch})
"""
TINY_PREDICT = """$m: load_model("{path}")
total: reduce(range(0, {n}), 0, (acc, i) => acc + len(predict($m, [i % 10, 1.5, -2, 0.25])))
"""
LOAD = """load_ms: @tensorflow.info(load_model("{path}")).load_ms
total: len(@nlp.embed("hello"))
"""

PYTHON = r"""
import json, sys, time
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
mode, n, model, tokenizer = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
started = time.perf_counter()
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
load = time.perf_counter() - started
if mode == "tiny":
    x = np.array([[3, 1.5, -2, 0.25]], np.float32)
    started = time.perf_counter()
    for i in range(n):
        x[0, 0] = i % 10
        session.run(None, {"x": x})
    print(json.dumps({"seconds": time.perf_counter() - started, "load": load}))
    sys.exit()
tok = Tokenizer.from_file(tokenizer)
tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest of the batch, as the plugin pads
names = {i.name for i in session.get_inputs()}
def embed(texts):
    encodings = tok.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], np.int64)
    feed = {"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in encodings], np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], np.int64)}
    return session.run(["sentence_embedding"], {k: v for k, v in feed.items() if k in names})[0]
texts = json.loads(sys.argv[5])
if mode == "check":
    print(json.dumps({"embeddings": embed(texts).tolist()}))
    sys.exit()
embed(texts)  # warm up, as the tusk side's baseline run loads and runs once
started = time.perf_counter()
for i in range(n):
    if mode == "one":
        embed([texts[0] + " " + str(i % 7)])
    else:
        embed(texts)
print(json.dumps({"seconds": time.perf_counter() - started, "load": load}))
"""


def install(folder: Path) -> None:
    for name in ("tensorflow", "nlp"):
        plugin = folder / name
        plugin.mkdir(parents=True)
        source = ROOT / "stdlib-plugins" / name
        shutil.copy(source / "plugin.toml", plugin / "plugin.toml")
        shutil.copy(source / "config.schema.json", plugin / "config.schema.json")
        shutil.copy(TARGET / f"libtusk_plugin_{name}.so", plugin / f"libtusk_plugin_{name}.so")


def run_tusk(env: dict, script: Path, key: str = "total", measure_memory: bool = False):
    command = [str(TARGET / "tusk"), "get", str(script), key]
    if measure_memory:
        command = ["/usr/bin/time", "-f", "maxrss_kb=%M"] + command
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"tusk {script.name} failed: {result.stdout}{result.stderr}")
    memory = re.search(r"maxrss_kb=(\d+)", result.stderr)
    return elapsed, result.stdout.strip(), int(memory.group(1)) if memory else None


def tusk_seconds_per_call(env: dict, folder: Path, template: str, n: int, **fields) -> float:
    # The baseline makes one call, so start-up, the plugin and model load and the first call
    # (Python's warm-up) are in both runs and cancel out.
    times = {}
    for count in (1, n + 1):
        script = folder / f"bench_{count}.tsk"
        script.write_text(template.format(n=count, **fields))
        times[count] = run_tusk(env, script)[0]
    return (times[n + 1] - times[1]) / n


def python_run(python: str, mode: str, n: int, model: Path, texts=()) -> dict:
    result = subprocess.run(
        [python, "-c", PYTHON, mode, str(n), str(model), str(MINILM / "tokenizer.json"), json.dumps(list(texts))],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"python failed: {result.stderr}")
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", type=int, default=200, help="batch-of-1 embeddings per run")
    parser.add_argument("--batch", type=int, default=20, help="batch-of-32 embeddings per run")
    parser.add_argument("--tiny", type=int, default=20000, help="tiny-MLP predictions per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--python", default="/tmp/tusk-ml-bench-venv/bin/python")
    args = parser.parse_args()
    if not (MINILM / "model.onnx").is_file():
        raise SystemExit(f"{MINILM}/model.onnx is missing: run scripts/models/build.sh")
    if not args.no_build:
        subprocess.run(
            ["cargo", "build", "--release", "-p", "tusk-cli", "-p", "tusk-plugin-tensorflow", "-p", "tusk-plugin-nlp"],
            cwd=ROOT,
            check=True,
        )
    model = MINILM / "model.onnx"
    batch_literal = json.dumps(BATCH)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        install(scratch / "plugins")
        grants = scratch / "config" / "tusk" / "grants.toml"
        grants.parent.mkdir(parents=True)
        grants.write_text("[tensorflow]\ntrusted = true\n\n[nlp]\ntrusted = true\n")
        env = dict(
            os.environ,
            TUSK_PLUGIN_PATH=str(scratch / "plugins"),
            XDG_CONFIG_HOME=str(scratch / "config"),
            XDG_DATA_HOME=str(scratch / "data"),
            TUSK_MODELS_DIR=str(MODELS),
        )
        # The same embeddings on both sides.
        check = scratch / "check.tsk"
        check.write_text(EMBED_CHECK.format(batch=batch_literal))
        ours = json.loads(subprocess.run([str(TARGET / "tusk"), "get", str(check), "out", "--format", "json"], env=env, capture_output=True, text=True, check=True).stdout)
        theirs = python_run(args.python, "check", 0, model, BATCH)["embeddings"]
        delta = max(abs(a - b) for row_a, row_b in zip(ours, theirs) for a, b in zip(row_a, row_b))
        contenders = [
            ("tusk @nlp.embed, batch 1", lambda: tusk_seconds_per_call(env, scratch, EMBED_ONE, args.one, sentence=SENTENCES[6])),
            ("onnxruntime, batch 1", lambda: python_run(args.python, "one", args.one, model, [SENTENCES[6]])["seconds"] / args.one),
            ("tusk @nlp.embed, batch 32", lambda: tusk_seconds_per_call(env, scratch, EMBED_BATCH, args.batch, batch=batch_literal)),
            ("onnxruntime, batch 32", lambda: python_run(args.python, "batch", args.batch, model, BATCH)["seconds"] / args.batch),
            ("tusk predict, tiny MLP", lambda: tusk_seconds_per_call(env, scratch, TINY_PREDICT, args.tiny, path=TINY)),
            ("onnxruntime, tiny MLP", lambda: python_run(args.python, "tiny", args.tiny, TINY)["seconds"] / args.tiny),
        ]
        samples = {label: [] for label, _ in contenders}
        loads = {"tract": [], "onnxruntime": []}
        memory = None
        for _ in range(args.rounds):
            for label, measure in contenders:
                samples[label].append(measure())
            load = scratch / "load.tsk"
            load.write_text(LOAD.format(path=model))
            _, out, memory = run_tusk(env, load, "load_ms", measure_memory=True)
            loads["tract"].append(float(out) / 1000)
            loads["onnxruntime"].append(python_run(args.python, "tiny", 0, model)["load"])
    print(f"MiniLM embeddings (all-MiniLM-L6-v2, {model.stat().st_size / 1e6:.0f} MB ONNX), median of {args.rounds} rounds; "
          f"max |tusk - onnxruntime| over the batch's embeddings: {delta:.1e}")
    seconds = {label: statistics.median(values) for label, values in samples.items()}
    for label, value in seconds.items():
        if "tiny" in label:
            print(f"  {label:<28} {1 / value:>12,.0f} predictions/s ({value * 1e6:.1f} µs each)")
        else:
            print(f"  {label:<28} {value * 1000:>12.2f} ms per call")
    for ours, theirs in (("tusk @nlp.embed, batch 1", "onnxruntime, batch 1"), ("tusk @nlp.embed, batch 32", "onnxruntime, batch 32"), ("tusk predict, tiny MLP", "onnxruntime, tiny MLP")):
        print(f"  {ours} / {theirs}: {seconds[ours] / seconds[theirs]:.2f}x the time")
    print(f"  model load: tract {statistics.median(loads['tract']) * 1000:.0f} ms, onnxruntime session {statistics.median(loads['onnxruntime']) * 1000:.0f} ms")
    print(f"  peak memory of `tusk get` holding MiniLM (one embedding): {memory / 1024:.0f} MB")


if __name__ == "__main__":
    main()
