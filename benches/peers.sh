#!/usr/bin/env bash
# Times ngx502 against its peers and the I/O floors on one generated nginx access log.
#
#   bash benches/peers.sh                      # ~1 GB, best of 3
#   SIZE=200M RUNS=5 bash benches/peers.sh     # smaller / more runs
#   INSTALL_PEERS=1 bash benches/peers.sh      # apt-get install goaccess hyperfine; cargo install rhit
#
# Environment:
#   SIZE          access.log size for examples/genlogs (default 1G; e.g. 200M, 2G)
#   RUNS          timed runs per tool; the best (lowest wall time) is reported (default 3)
#   FORMAT        genlogs --format: combined (default; what GoAccess/rhit read) or upstream
#   SEED          genlogs --seed (default 42)
#   DATA          where the logs go (default /tmp/ngx502-bench); reused when size/format/seed match
#   REGEN=1       regenerate the logs even if DATA already holds matching ones
#   INSTALL_PEERS=1  install the missing peers (goaccess, hyperfine via apt; rhit via cargo)
#   OUT           also write the markdown table here (default $DATA/results.md)
#
# Wall time and peak RSS come from /usr/bin/time (GNU time, `%e %M`). Each tool reads a file that is
# already in the page cache (the script cats every input once first), so the numbers are CPU-bound
# throughput, not disk speed. MB/s and lines/s are always relative to the *uncompressed* access.log,
# also for the rows that read the .gz.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZE="${SIZE:-1G}"
RUNS="${RUNS:-3}"
FORMAT="${FORMAT:-combined}"
SEED="${SEED:-42}"
DATA="${DATA:-/tmp/ngx502-bench}"
OUT="${OUT:-$DATA/results.md}"

say() { printf '>> %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

# --- peers ---------------------------------------------------------------------------------------
if [[ "${INSTALL_PEERS:-0}" == 1 ]]; then
  missing=()
  have goaccess || missing+=(goaccess)
  have hyperfine || missing+=(hyperfine)
  [[ -x /usr/bin/time ]] || missing+=(time)
  if ((${#missing[@]})); then
    say "installing ${missing[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! have rhit; then
    say "installing rhit (cargo install --locked rhit)"
    cargo install --locked --quiet rhit || say "rhit did not install; it will be listed as not installed"
  fi
fi
if [[ ! -x /usr/bin/time ]]; then
  echo "benches/peers.sh needs GNU time at /usr/bin/time (apt-get install time, or INSTALL_PEERS=1)" >&2
  exit 2
fi

# --- build ----------------------------------------------------------------------------------------
say "building ngx502 and genlogs (release)"
(cd "$ROOT" && cargo build --release --quiet && cargo build --release --quiet --example genlogs)
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
TARGET_DIR="${TARGET_DIR:-$ROOT/target}"
NGX="$TARGET_DIR/release/ngx502"
GENLOGS="$TARGET_DIR/release/examples/genlogs"

# --- data -----------------------------------------------------------------------------------------
stamp="size=$SIZE format=$FORMAT seed=$SEED"
if [[ "${REGEN:-0}" == 1 || ! -f "$DATA/access.log.gz" || "$(cat "$DATA/.stamp" 2>/dev/null)" != "$stamp" ]]; then
  say "generating $SIZE of $FORMAT logs into $DATA"
  mkdir -p "$DATA"
  "$GENLOGS" --size "$SIZE" --out "$DATA" --format "$FORMAT" --seed "$SEED" --gzip
  echo "$stamp" >"$DATA/.stamp"
else
  say "reusing $DATA ($stamp)"
fi
ACCESS="$DATA/access.log"
GZ="$DATA/access.log.gz"
ERRLOG="$DATA/error.log"
BYTES=$(stat -c %s "$ACCESS")
LINES=$(wc -l <"$ACCESS")

say "warming the page cache"
cat "$ACCESS" "$GZ" "$ERRLOG" >/dev/null

# --- timing ---------------------------------------------------------------------------------------
# run NAME CMD...: best-of-RUNS wall time and that run's peak RSS, appended to RESULTS.
RESULTS=()
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
run() {
  local name="$1"; shift
  local best="" rss="" i
  for ((i = 1; i <= RUNS; i++)); do
    if ! /usr/bin/time -f '%e %M' -o "$TMP/time" bash -c "$*" >/dev/null 2>"$TMP/stderr"; then
      say "$name failed: $(tail -n 3 "$TMP/stderr")"
      RESULTS+=("$name|failed||||")
      return
    fi
    read -r wall kb <"$TMP/time"
    if [[ -z "$best" ]] || awk "BEGIN{exit !($wall < $best)}"; then best="$wall"; rss="$kb"; fi
  done
  say "$(printf '%-34s %8.2fs %8.1f MB' "$name" "$best" "$(awk "BEGIN{print $rss/1024}")")"
  RESULTS+=("$name|$best|$rss")
}
missing() { RESULTS+=("$1|not installed"); say "$1: not installed"; }

say "timing (best of $RUNS)"
q() { printf '%q' "$1"; }
run "ngx502 report (access + error)" "$(q "$NGX") report $(q "$ACCESS") $(q "$ERRLOG")"
run "ngx502 report (access.gz + error)" "$(q "$NGX") report $(q "$GZ") $(q "$ERRLOG")"
run "zcat access.log.gz (gzip floor)" "zcat $(q "$GZ")"
if have goaccess; then
  run "goaccess --log-format=COMBINED" "goaccess $(q "$ACCESS") --log-format=COMBINED --no-global-config -o $(q "$TMP/goaccess.json")"
else
  missing "goaccess"
fi
if have rhit; then
  run "rhit" "rhit $(q "$ACCESS")"
else
  missing "rhit"
fi
run "awk (count 502/504 by \$9)" "awk '\$9==502||\$9==504{c[\$9]++} END{for(s in c) print s, c[s]}' $(q "$ACCESS")"
run "wc -l" "wc -l $(q "$ACCESS")"
run "cat > /dev/null" "cat $(q "$ACCESS")"

# --- table ----------------------------------------------------------------------------------------
ref=""
for r in "${RESULTS[@]}"; do
  IFS='|' read -r name secs _ <<<"$r"
  if [[ "$name" == "ngx502 report (access + error)" && "$secs" =~ ^[0-9.]+$ ]]; then ref="$secs"; fi
done
{
  echo "| tool | seconds | MB/s | lines/s | peak RSS MB | time vs ngx502 |"
  echo "|---|---:|---:|---:|---:|---:|"
  for r in "${RESULTS[@]}"; do
    IFS='|' read -r name secs kb <<<"$r"
    if [[ ! "$secs" =~ ^[0-9.]+$ ]]; then
      echo "| $name | $secs | | | | |"
      continue
    fi
    awk -v n="$name" -v s="$secs" -v kb="$kb" -v b="$BYTES" -v l="$LINES" -v ref="$ref" 'BEGIN {
      t = (s > 0) ? s : 0.005
      ratio = (ref != "" && ref > 0) ? sprintf("%.2fx", s / ref) : "-"
      printf "| %s | %.2f | %.0f | %.2fM | %.0f | %s |\n", n, s, b / 1e6 / t, l / t / 1e6, kb / 1024, ratio
    }'
  done
} >"$TMP/table.md"

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
{
  echo "Machine: $(nproc) CPUs ($cpu), $mem RAM, $(uname -sr)"
  echo "Input: $ACCESS ($FORMAT, $(awk "BEGIN{printf \"%.0f\", $BYTES/1e6}") MB, $LINES lines; .gz $(awk "BEGIN{printf \"%.0f\", $(stat -c %s "$GZ")/1e6}") MB), error.log $(awk "BEGIN{printf \"%.1f\", $(stat -c %s "$ERRLOG")/1e6}") MB; best of $RUNS, warm cache"
  echo "Versions: $("$NGX" --version 2>/dev/null | head -n 1 || echo ngx502 ?)$(have goaccess && echo ", goaccess $(goaccess --version 2>/dev/null | sed -n 's/.*GoAccess - \([0-9][0-9.]*[0-9]\).*/\1/p' | head -n 1)")$(have rhit && echo ", $(rhit --version 2>/dev/null | head -n 1)"), awk = $(basename "$(readlink -f "$(command -v awk)")")"
  echo
  cat "$TMP/table.md"
} | tee "$OUT"
say "table written to $OUT"
