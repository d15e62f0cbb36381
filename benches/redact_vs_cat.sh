#!/usr/bin/env bash
# Whole-process throughput of `envcloak redact` against `cat`, both reading
# the same log through a pipe, in the same run:
#
#   cat data.log | cat              >/dev/null     (the floor: a pipe and a copy)
#   cat data.log | envcloak redact  >/dev/null     (1,000 values loaded from .env)
#
#   bash benches/redact_vs_cat.sh          # SIZE_MB=100 VALUES=1000 RUNS=5
#
# The data: SIZE_MB of log-like lines (timestamps, levels, request ids,
# paths, durations) with one loaded value in about one line in 500; the
# values are 6 to 40 characters of the alphabets secrets use (hex, base64,
# words with dashes). Everything is made in a temporary directory with a
# fixed seed (python3). Each side runs RUNS times, alternating; the best
# run of each is reported (the least disturbed by other work on the
# machine), with the median beside it. The output is checked once: every
# inserted value replaced, none left.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE_MB=${SIZE_MB:-100}
VALUES=${VALUES:-1000}
RUNS=${RUNS:-5}

command -v python3 >/dev/null || { echo "redact_vs_cat.sh: python3 is needed" >&2; exit 2; }

echo "== cargo build --release -p envcloak-cli" >&2
cargo build --release --quiet -p envcloak-cli --bin envcloak
BIN=$ROOT/target/release/envcloak

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "== generating $SIZE_MB MB of log text and $VALUES values in $WORK" >&2
python3 - "$WORK" "$SIZE_MB" "$VALUES" <<'EOF'
import random, string, sys
work, size_mb, n_values = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20261130)
alphabets = [string.hexdigits[:16], string.ascii_letters + string.digits + "-_",
             string.ascii_lowercase + "-"]
values = set()
while len(values) < n_values:
    a = rng.choice(alphabets)
    values.add("".join(rng.choice(a) for _ in range(rng.randint(6, 40))))
values = sorted(values)
with open(f"{work}/.env", "w") as f:
    for i, v in enumerate(values):
        f.write(f"SECRET_{i:04d}={v}\n")
with open(f"{work}/values.txt", "w") as f:
    f.write("\n".join(values) + "\n")
levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
paths = ["/api/v1/users", "/api/v1/orders", "/healthz", "/login", "/static/app.js"]
words = ["request", "completed", "cache", "miss", "retrying", "connection", "pool",
         "upstream", "timeout", "user", "session", "refreshed", "query", "rows"]
target = size_mb * 1_000_000
inserted = 0
chunks, size = [], 0
while size < target:
    lines = []
    for _ in range(1000):
        line = (f"2026-11-30T{rng.randint(0,23):02d}:{rng.randint(0,59):02d}:"
                f"{rng.randint(0,59):02d}.{rng.randint(0,999):03d}Z {rng.choice(levels):5} "
                f"[worker-{rng.randint(1,16)}] {' '.join(rng.choices(words, k=rng.randint(3,9)))} "
                f"id={rng.getrandbits(64):016x} path={rng.choice(paths)}/{rng.randint(1,99999)} "
                f"status={rng.choice([200,200,200,201,304,404,500])} took={rng.randint(1,2000)}ms")
        if rng.randrange(500) == 0:
            line += f" token={rng.choice(values)}"
            inserted += 1
        lines.append(line)
    block = "\n".join(lines) + "\n"
    chunks.append(block)
    size += len(block)
with open(f"{work}/data.log", "w") as f:
    f.write("".join(chunks))
with open(f"{work}/inserted.txt", "w") as f:
    f.write(f"{inserted}\n")
EOF
BYTES=$(stat -c %s "$WORK/data.log")
INSERTED=$(cat "$WORK/inserted.txt")
cd "$WORK"

# Correctness, once: as many replacements as grep finds values (the
# inserted ones, and any short hex value that also occurs by chance in an
# id), and none left.
"$BIN" redact <data.log >redacted.log
REPLACED=$(grep -o '\[REDACTED:SECRET_[0-9]*\]' redacted.log | wc -l)
FOUND=$(grep -oF -f values.txt data.log | wc -l)
if [ "$REPLACED" -ne "$FOUND" ] || [ "$REPLACED" -lt "$INSERTED" ]; then
  echo "redact_vs_cat.sh: $REPLACED replacements; grep finds $FOUND values, $INSERTED inserted" >&2
  exit 1
fi
if grep -qF -f values.txt redacted.log; then
  echo "redact_vs_cat.sh: a value went through" >&2
  exit 1
fi
rm -f redacted.log

now() { date +%s%N; }
time_pipe() { # seconds for: cat data.log | "$@" >/dev/null
  local t0 t1
  t0=$(now)
  cat data.log | "$@" >/dev/null
  t1=$(now)
  echo $(((t1 - t0) / 1000)) # microseconds
}
cat_us=() redact_us=()
for ((i = 0; i < RUNS; i++)); do
  cat_us+=("$(time_pipe cat)")
  redact_us+=("$(time_pipe "$BIN" redact)")
done
best() { printf '%s\n' "$@" | sort -n | head -1; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
mbps() { awk -v b="$BYTES" -v us="$1" 'BEGIN { printf "%.0f", b / us }'; } # bytes/µs = MB/s

cb=$(best "${cat_us[@]}") cm=$(median "${cat_us[@]}")
rb=$(best "${redact_us[@]}") rm_=$(median "${redact_us[@]}")
echo
echo "data: $((BYTES / 1000000)) MB, $VALUES values loaded, $REPLACED occurrences ($INSERTED inserted; all replaced, none left)"
echo "runs: $RUNS each, alternating"
printf '%-32s %8s MB/s (median %s MB/s)\n' "cat data | cat >/dev/null" "$(mbps "$cb")" "$(mbps "$cm")"
printf '%-32s %8s MB/s (median %s MB/s)\n' "cat data | envcloak redact" "$(mbps "$rb")" "$(mbps "$rm_")"
awk -v c="$cb" -v r="$rb" -v cm="$cm" -v rm="$rm_" \
  'BEGIN { printf "redact / cat throughput: %.2f (best), %.2f (median)\n", c / r, cm / rm }'
