#!/usr/bin/env bash
# Peak memory against input size: does a report's RSS stay flat as the logs grow, at each failure rate?
#
#   bash benches/memory.sh                               # 256M 1G 4G × 0.5 % 5 % 30 %, `upstream` format
#   SIZES="1G 10G" RATES=0.005 bash benches/memory.sh    # one rate, larger cells
#
# Each cell is an access log of SIZE (genlogs --failure-rate RATE) with its error log, reported once
# with `ngx502 report -q -j2 access.log error.log` under GNU time: peak RSS (anonymous memory and the
# mapped file pages resident at the same moment) and wall time. The last columns divide the RSS by
# what was read and by the failed requests (client-facing 502/504 from the generator's truth.json), so
# a row that grows with the input shows which of the two it follows; "growth" is the RSS added per
# failed request added since the row above (same rate, smaller cell): the slope, without the RSS
# every run has.
#
# Environment:
#   SIZES     access.log sizes (genlogs --size), default "256M 1G 4G"
#   RATES     genlogs --failure-rate values, default "0.005 0.05 0.3"
#   FORMAT    access-log format, default upstream
#   DATA      where the logs go (default /tmp/ngx502-memory); a cell is regenerated only when missing
#   PRUNE=1   delete each cell once measured (a 10G cell at 30 % is 14 GB of logs)
#   OUT       the markdown table (default $DATA/memory.md)
#   NGX, GENLOGS  binaries to use instead of building them (both must be given)
set -euo pipefail

SIZES="${SIZES:-256M 1G 4G}"
RATES="${RATES:-0.005 0.05 0.3}"
FORMAT="${FORMAT:-upstream}"
DATA="${DATA:-/tmp/ngx502-memory}"
OUT="${OUT:-$DATA/memory.md}"
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -x /usr/bin/time ]] || { echo "benches/memory.sh needs GNU time (apt-get install time)" >&2; exit 2; }
binaries
mkdir -p "$DATA"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

ROWS=()
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
for r in $RATES; do
  prev_kb="" prev_failed=""
  for size in $SIZES; do
    generate "$size" "$FORMAT" "$r"
    dir="$(cell_dir "$size" "$FORMAT" "$r")"
    access="$dir/access.log" err="$dir/error.log"
    read_bytes=$(($(stat -c %s "$access") + $(stat -c %s "$err")))
    failed=$(sed -n 's/.*"client_failures": *\([0-9]*\).*/\1/p' "$dir/truth.json" | head -n 1)
    say "$FORMAT $r $size"
    /usr/bin/time -f '%M %e' -o "$TMP/time" "$NGX" report -q -j2 "$access" "$err" >/dev/null
    read -r kb secs <"$TMP/time"
    ROWS+=("$(awk -v r="$r" -v a="$(stat -c %s "$access")" -v e="$(stat -c %s "$err")" -v b="$read_bytes" \
      -v f="$failed" -v kb="$kb" -v s="$secs" -v pkb="$prev_kb" -v pf="$prev_failed" 'BEGIN {
        growth = (pf != "" && f > pf) ? sprintf("%.0f", (kb - pkb) * 1024 / (f - pf)) : "-"
        printf "| %.1f %% | %.0f + %.1f MB | %d | %.0f | %.0f | %.0f | %s | %.2f | %.0f |",
          100 * r, a / 1e6, e / 1e6, f, kb / 1024, kb / (b / 1e6), f ? kb * 1024 / f : 0, growth, s, b / 1e6 / s }')")
    prev_kb="$kb" prev_failed="$failed"
    [[ "${PRUNE:-0}" == 1 ]] && rm -rf "$dir"
  done
done
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

{
  echo "Machine: $(machine); load average $LOAD_START at the start, $LOAD_END at the end"
  echo "Cells: \`$FORMAT\` access logs (genlogs --failure-rate, seed 42) with their error logs; one run each, \`report -q -j2\`"
  echo "Version: $("$NGX" --version | head -n 1)"
  echo
  echo "| 502/504 | access + error | failed requests | peak RSS MB | RSS KB per MB read | RSS bytes per failed request | growth, bytes per failed request | s | MB/s |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT"
say "table written to $OUT"
