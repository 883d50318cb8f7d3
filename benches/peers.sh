#!/usr/bin/env bash
# The benchmark matrix: ngx502 against the I/O floors and its peers on every data shape.
#
#   bash benches/peers.sh                         # 64 MB per cell, best of 3: a few minutes on 2 cores
#   SIZE=256M RUNS=5 bash benches/peers.sh        # larger cells / more runs
#   INSTALL_PEERS=1 bash benches/peers.sh         # apt-get install goaccess hyperfine time; cargo install rhit
#
# Cells: access-log FORMATS (combined, upstream, json) × failure RATES (0.5 %, 5 %, 30 % of requests
# end in 502/504) × the plain log and its .gz, each with its error log; plus one error-log-only row
# (an error-heavy incident log: 30 % failures, FastCGI stderr traces, retries).
# Each cell times `ngx502 report ACCESS ERROR` with -j2 and -j1 next to the floor, which reads the same
# bytes: `wc -l` of the plain access log and the error log, `zcat | wc -l` of the .gz and `wc -l` of the
# error log (the ratio to `wc -l` of the access log alone is shown too). The peers (mawk one-liner, rhit, GoAccess) read the plain
# access log; rhit and GoAccess only the formats they can parse (combined, upstream).
#
# Environment:
#   SIZE      access.log size per cell (genlogs --size; default 64M)
#   RUNS      hyperfine runs per command, the fastest is reported (default 3)
#   FORMATS   default "combined upstream json"
#   RATES     genlogs --failure-rate values, default "0.005 0.05 0.3"
#   PEERS=0   skip mawk, rhit and GoAccess (ngx502 and the floors only)
#   DATA      where the logs go (default /tmp/ngx502-bench); a cell is regenerated only when missing
#   OUT       the markdown tables (default $DATA/results.md)
#   NGX, GENLOGS  binaries to use instead of building them (both must be given)
#
# Wall times come from hyperfine (the minimum of RUNS runs after one warm-up, so every input is in
# the page cache: CPU-bound throughput, not disk speed); peak RSS from one run under GNU time. MB/s
# and lines/s are of the uncompressed access log (of the error log in its own row), also for .gz.
set -euo pipefail

SIZE="${SIZE:-64M}"
RUNS="${RUNS:-3}"
FORMATS="${FORMATS:-combined upstream json}"
RATES="${RATES:-0.005 0.05 0.3}"
PEERS="${PEERS:-1}"
DATA="${DATA:-/tmp/ngx502-bench}"
OUT="${OUT:-$DATA/results.md}"
WITH_GZ=1
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${INSTALL_PEERS:-0}" == 1 ]]; then
  missing=()
  have goaccess || missing+=(goaccess)
  have hyperfine || missing+=(hyperfine)
  have mawk || missing+=(mawk)
  [[ -x /usr/bin/time ]] || missing+=(time)
  if ((${#missing[@]})); then
    say "installing ${missing[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  have rhit || nice cargo install --locked --quiet rhit || say "rhit did not install; its column stays empty"
fi
for tool in hyperfine /usr/bin/time; do
  have "$tool" || { echo "benches/peers.sh needs $tool (INSTALL_PEERS=1 installs it)" >&2; exit 2; }
done

binaries
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# best CMD: the fastest of RUNS runs, in seconds.
best() {
  hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$TMP/h.json" "$1" >/dev/null 2>"$TMP/err" ||
    { say "failed: $1: $(tail -n 2 "$TMP/err")"; echo "-"; return; }
  sed -n 's/.*"min": *\([0-9.e+-]*\).*/\1/p' "$TMP/h.json" | head -n 1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b <= 0) print "-"; else printf "%.1fx", a / b }'; }
rate() { awk -v s="$1" -v n="$2" -v d="$3" 'BEGIN { if (s == "-" || s <= 0) print "-"; else printf "%.0f", n / s / d }'; }
rate2() { awk -v s="$1" -v n="$2" 'BEGIN { if (s == "-" || s <= 0) print "-"; else printf "%.2f", n / s / 1e6 }'; }
secs() { [[ "$1" == "-" ]] && echo "-" || printf '%.3f' "$1"; }
# cpu: user + system seconds (mean) of the command `best` timed last.
cpu() {
  local user sys
  user=$(sed -n 's/.*"user": *\([0-9.e+-]*\).*/\1/p' "$TMP/h.json" | head -n 1)
  sys=$(sed -n 's/.*"system": *\([0-9.e+-]*\).*/\1/p' "$TMP/h.json" | head -n 1)
  awk -v u="$user" -v s="$sys" 'BEGIN { if (u == "" || s == "") print "-"; else printf "%.3f", u + s }'
}

ROWS=()
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
for format in $FORMATS; do
  for r in $RATES; do
    generate "$SIZE" "$format" "$r"
    dir="$(cell_dir "$SIZE" "$format" "$r")"
    access="$dir/access.log" gz="$dir/access.log.gz" err="$dir/error.log"
    bytes=$(stat -c %s "$access") lines=$(wc -l <"$access") err_mb=$(awk "BEGIN{printf \"%.1f\", $(stat -c %s "$err")/1e6}")
    failed=$(sed -n 's/.*"client_failures": *\([0-9]*\).*/\1/p' "$dir/truth.json" | head -n 1)
    share=$(awk -v f="$failed" -v n="$lines" 'BEGIN{printf "%.1f%%", 100 * f / n}')
    mawk_s="-" rhit_s="-" goaccess_s="-"
    if [[ "$PEERS" == 1 ]]; then
      have mawk && mawk_s=$(best "mawk '\$9==502||\$9==504{c[\$9]++} END{for(s in c) print s, c[s]}' $(q "$access")")
      if [[ "$format" != json ]]; then
        have rhit && rhit_s=$(best "rhit $(q "$access") >/dev/null")
        have goaccess && goaccess_s=$(best "goaccess $(q "$access") --log-format=COMBINED --no-global-config -o $(q "$TMP/goaccess.json")")
      fi
    fi
    for input in plain gz; do
      if [[ "$input" == plain ]]; then
        a="$access" access_cmd="wc -l $(q "$access")" floor_cmd="wc -l $(q "$access") $(q "$err")"
      else
        a="$gz" access_cmd="zcat $(q "$gz") | wc -l" floor_cmd="zcat $(q "$gz") | wc -l; wc -l $(q "$err")"
      fi
      say "$format $r $input"
      floor=$(best "$floor_cmd")
      access_floor=$(best "$access_cmd")
      j2=$(best "$(q "$NGX") report -j2 $(q "$a") $(q "$err")")
      j2_cpu=$(cpu)
      j1=$(best "$(q "$NGX") report -j1 $(q "$a") $(q "$err")")
      mb=$(rss "$(q "$NGX") report -j2 $(q "$a") $(q "$err")")
      peers="| - | - | -"
      [[ "$input" == plain ]] && peers="| $(secs "$mawk_s") | $(secs "$rhit_s") | $(secs "$goaccess_s")"
      ROWS+=("$(ratio "$j2" "$floor")|| $format | $share | $input | $((bytes / 1000000)) MB + $err_mb MB | $(ratio "$j2" "$floor") | $(ratio "$j2" "$access_floor") | $(secs "$j2") | $j2_cpu | $(secs "$j1") | $(ratio "$j1" "$j2") | $(rate "$j2" "$bytes" 1e6) | $(rate2 "$j2" "$lines") | $(secs "$floor") | $mb $peers |")
    done
  done
done

# The error-log-only row: an incident's error log (30 % failures, error-heavy), no access log.
generate "$SIZE" upstream 0.3 heavy
dir="$(cell_dir "$SIZE" upstream 0.3 heavy)" err="$dir/error.log"
ebytes=$(stat -c %s "$err") elines=$(wc -l <"$err")
say "error log alone"
efloor=$(best "wc -l $(q "$err")")
ej2=$(best "$(q "$NGX") report -j2 $(q "$err")")
ej1=$(best "$(q "$NGX") report -j1 $(q "$err")")
emb=$(rss "$(q "$NGX") report -j2 $(q "$err")")
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

{
  echo "Machine: $(machine); load average $LOAD_START at the start, $LOAD_END at the end"
  echo "Cells: $SIZE of access log each (genlogs --failure-rate, seed 42) with its error log; best of $RUNS (hyperfine), warm cache"
  echo "Versions: $("$NGX" --version | head -n 1), $(hyperfine --version)$(have goaccess && echo ", goaccess $(goaccess --version | sed -n 's/.*GoAccess - \([0-9][0-9.]*[0-9]\).*/\1/p' | head -n 1)")$(have rhit && echo ", $(rhit --version | head -n 1)"), awk = mawk"
  echo
  echo "| format | 502/504 | input | size (access + error) | vs floor | vs access floor | -j2 s | -j2 CPU s | -j1 s | -j1/-j2 | MB/s | M lines/s | floor s | RSS MB | mawk s | rhit s | GoAccess s |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}" | sort -t'|' -k1,1 -g -r | sed 's/^[^|]*|//'
  echo
  echo "Floor: the same bytes counted, \`wc -l access.log error.log\` for plain cells, \`zcat access.log.gz | wc -l; wc -l error.log\` for .gz cells; the access floor leaves out the error log. -j2 CPU s: user + system, mean of the runs."
  echo
  echo "| error log alone | size | -j2 s | -j1 s | -j1/-j2 | MB/s | M lines/s | wc -l s | vs wc -l | RSS MB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  echo "| upstream, 30 %, --error-heavy | $((ebytes / 1000000)) MB | $(secs "$ej2") | $(secs "$ej1") | $(ratio "$ej1" "$ej2") | $(rate "$ej2" "$ebytes" 1e6) | $(rate2 "$ej2" "$elines") | $(secs "$efloor") | $(ratio "$ej2" "$efloor") | $emb |"
} | tee "$OUT"
say "tables written to $OUT"
