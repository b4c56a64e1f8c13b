#!/usr/bin/env bash
# Fills fuzz/corpus/{lex,parse,eval} with seeds: the repository's examples and test cases, the
# string literals of the lexer, parser and evaluator unit tests, and the real TuskLang files of
# the shared conformance set (copied at run time, never committed). Seeds are named by their
# content hash, so running it again adds only what is new.
set -euo pipefail

fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$fuzz_dir")"
conformance="${TUSK_CONFORMANCE:-/work/shared/conformance/tusktsk}"
targets=(lex parse eval)

for target in "${targets[@]}"; do
    mkdir -p "$fuzz_dir/corpus/$target"
done

added=0
add_seed() { # file
    local file="$1" hash
    [ -s "$file" ] || return 0
    hash="$(sha1sum "$file" | cut -c1-40)"
    for target in "${targets[@]}"; do
        if [ ! -e "$fuzz_dir/corpus/$target/seed-$hash" ]; then
            cp "$file" "$fuzz_dir/corpus/$target/seed-$hash"
            added=$((added + 1))
        fi
    done
}

# Whole files: examples, end-to-end cases, crate test data, the real TuskLang files.
while IFS= read -r -d '' file; do
    add_seed "$file"
done < <(
    find "$repo/examples" "$repo/tests/cases" "$repo/crates" "$conformance" \
        -name '*.tsk' -type f -print0 2>/dev/null || true
)

# The sources written inline in the unit tests: every string literal of the tests modules
# (plain and raw), unescaped the way rustc would, one seed each.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" "$repo"/crates/{lexer,parser,eval}/src/tests.rs <<'PY'
import hashlib, pathlib, re, sys

out = pathlib.Path(sys.argv[1])
literal = re.compile(r'r(#*)"(.*?)"\1|"((?:[^"\\]|\\.)*)"', re.S)
escapes = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}

def unescape(body):
    text, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            text.append(c); i += 1; continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in escapes:
            text.append(escapes[nxt]); i += 2
        elif nxt == "u" and body[i + 2:i + 3] == "{":
            end = body.index("}", i)
            text.append(chr(int(body[i + 3:end].replace("_", ""), 16))); i = end + 1
        elif nxt == "x":
            text.append(chr(int(body[i + 2:i + 4], 16))); i += 4
        elif nxt == "\n":  # a line continuation skips the break and the next line's indent
            i += 2
            while i < len(body) and body[i] in " \t\n\r":
                i += 1
        else:
            text.append(c); i += 1
    return "".join(text)

for path in sys.argv[2:]:
    try:
        source = pathlib.Path(path).read_text()
    except OSError:
        continue
    for match in literal.finditer(source):
        text = match.group(2) if match.group(2) is not None else unescape(match.group(3))
        if len(text) < 2:
            continue
        data = text.encode()
        (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
PY
for file in "$tmp"/*; do
    [ -e "$file" ] && add_seed "$file"
done

for target in "${targets[@]}"; do
    echo "corpus/$target: $(find "$fuzz_dir/corpus/$target" -type f | wc -l) files"
done
echo "added $added seed copies"
