#!/usr/bin/env bash
# Whole-process benchmark of the CLI: `envcloak run -- true` with a
# 100-variable .env.enc (key in .env.key), against `env true` (the floor of
# starting a process that execs `true`), the quickstart example, and, when a
# throwaway Python venv can be made, "python decrypt + parse" (Fernet from
# `cryptography`, `dotenv_values` from python-dotenv) as an anchor.
#
#   bash benches/cli.sh            # prints a markdown table (also saved to target/bench-cli.md)
#
# Medians from hyperfine (no shell: -N), peak RSS from `/usr/bin/time -v`
# (the largest of 5 runs). Environment knobs: RUNS (default 300),
# BENCH_VENV (default target/bench-venv), BENCH_NO_PYTHON=1 to skip the
# Python row. Installs hyperfine and GNU time with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-300}

apt_install() {
  apt-get install -y "$@" >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y "$@" >/dev/null 2>&1; }
}
command -v hyperfine >/dev/null || apt_install hyperfine
[ -x /usr/bin/time ] || apt_install time
command -v hyperfine >/dev/null || { echo "cli.sh: hyperfine is needed" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "cli.sh: /usr/bin/time (package time) is needed" >&2; exit 2; }

echo "== cargo build --release" >&2
cargo build --release --quiet --bin envcloak --example quickstart
BIN=$ROOT/target/release/envcloak
QUICKSTART=$ROOT/target/release/examples/quickstart

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PROJ=$WORK/project
mkdir -p "$PROJ"

# The shape of benches/common/mod.rs (dotenv_text): per block of ten
# variables a comment, bare values, quotes, an expansion, `export` with an
# inline comment, and a blank line.
gen_env() {
  local n=$1 b k secret word debug
  local words=(billing search auth mailer cache api worker metrics)
  for ((b = 0; b < n / 10; b++)); do
    printf -v k 'SVC%04d' "$b"
    secret=$(printf 'envcloak-bench-%d' "$b" | sha256sum | head -c 43)
    word=${words[b % 8]}
    if ((b % 3 == 0)); then debug=true; else debug=false; fi
    printf '# --- service %04d: %s settings ---\n' "$b" "$word"
    printf '%s_HOST=db-%d.internal.example.com\n' "$k" "$b"
    printf '%s_PORT=%d\n' "$k" $((5000 + b % 1000))
    printf '%s_DEBUG=%s\n' "$k" "$debug"
    printf '%s_NAME="Service number %d (%s, staging)"\n' "$k" "$b" "$word"
    printf '%s_SECRET=%s\n' "$k" "$secret"
    printf '%s_URL="postgres://app:${%s_SECRET}@${%s_HOST}:5432/app_%d"\n' "$k" "$k" "$k" "$b"
    printf 'export %s_TIMEOUT=30s # seconds\n' "$k"
    printf "%s_GREETING='Hello \$USER, this stays literal'\n" "$k"
    printf '%s_HOSTS=a%d.example.com,b%d.example.com,c%d.example.com\n' "$k" "$b" "$b" "$b"
    printf '%s_CALLBACK=https://${%s_HOST}/callback?id=%d\n\n' "$k" "$k" "$b"
  done
}

# No key or profile from the caller's environment.
unset ENVCLOAK_KEY ENVCLOAK_KEY_FILE ENVCLOAK_KEY_CMD ENVCLOAK_PROFILE ENVCLOAK_PASSWORD || true

cd "$PROJ"
gen_env 100 >.env
"$BIN" encrypt >/dev/null 2>&1 # .env -> .env.enc, creating .env.key (0600)
rm .env
[ -s .env.enc ] && [ -s .env.key ] || { echo "cli.sh: envcloak encrypt made no .env.enc/.env.key" >&2; exit 1; }
vars=$("$BIN" ls --format json | grep -c '"key"')
[ "$vars" -eq 100 ] || { echo "cli.sh: expected 100 variables, envcloak ls shows $vars" >&2; exit 1; }
"$BIN" run -- sh -c 'test "$SVC0005_HOST" = db-5.internal.example.com' ||
  { echo "cli.sh: envcloak run did not pass the decrypted variables" >&2; exit 1; }

names=("env true" "envcloak run -- true" "quickstart example")
cmds=("env true" "$BIN run -- true" "$QUICKSTART")

PY=
if [ "${BENCH_NO_PYTHON:-}" != 1 ]; then
  VENV=${BENCH_VENV:-$ROOT/target/bench-venv}
  if { [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >/dev/null 2>&1; } &&
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      cryptography python-dotenv >/dev/null 2>&1; then
    PY=$VENV/bin/python
    cat >"$WORK/decrypt_parse.py" <<'EOF'
import io
from cryptography.fernet import Fernet
from dotenv import dotenv_values

key = open(".env.key").read().strip().split(",")[0]
token = open(".env.enc", "rb").read().strip()
values = dotenv_values(stream=io.StringIO(Fernet(key).decrypt(token).decode()))
assert len(values) == 100 and values["SVC0005_HOST"] == "db-5.internal.example.com"
EOF
    "$PY" "$WORK/decrypt_parse.py"
    names+=("python decrypt + parse")
    cmds+=("$PY $WORK/decrypt_parse.py")
  else
    echo "cli.sh: no Python venv with cryptography and python-dotenv; skipping that row" >&2
  fi
fi

echo "== hyperfine ($RUNS runs each)" >&2
args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --style none --warmup 20 --runs "$RUNS" --export-json "$WORK/times.json" "${args[@]}" >&2

echo "== peak RSS (/usr/bin/time -v, largest of 5 runs)" >&2
: >"$WORK/rss.txt"
for i in "${!names[@]}"; do
  max=0
  for _ in 1 2 3 4 5; do
    # shellcheck disable=SC2086 # the command is split on spaces, as hyperfine -N does
    kb=$(/usr/bin/time -v ${cmds[$i]} 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}')
    if ((kb > max)); then max=$kb; fi
  done
  printf '%s\t%s\n' "${names[$i]}" "$max" >>"$WORK/rss.txt"
done

{
  echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -n1); $(rustc --version)"
  echo "$(hyperfine --version); $RUNS runs each after 20 warm-up runs; one session, figures from the same run."
  echo
  python3 - "$WORK/times.json" "$WORK/rss.txt" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
rss = dict(line.rstrip("\n").split("\t") for line in open(sys.argv[2]))
floor = next(r for r in results if r["command"] == "env true")["median"]
print("| command | median (ms) | mean ± σ (ms) | ratio to `env true` (median) | peak RSS (MiB) |")
print("|---|---:|---:|---:|---:|")
for r in results:
    name = r["command"]
    print(f"| `{name}` | {r['median'] * 1e3:.2f} | {r['mean'] * 1e3:.2f} ± {r['stddev'] * 1e3:.2f} "
          f"| {r['median'] / floor:.2f}x | {int(rss[name]) / 1024:.1f} |")
EOF
} | tee "$ROOT/target/bench-cli.md"
