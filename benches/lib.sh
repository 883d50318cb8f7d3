# What the benchmark scripts share: the binaries, the generated cells and the measuring helpers.
# Sourced by benches/peers.sh and benches/memory.sh; `generate` and `rss` need DATA and TMP set.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '>> %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
q() { printf '%q' "$1"; }

# binaries: sets NGX and GENLOGS, unless both were given, to release builds without polars (the
# report needs none: it is only the Parquet/CSV export).
binaries() {
  [[ -n "${NGX:-}" && -n "${GENLOGS:-}" ]] && return
  say "building ngx502 and genlogs (release, --no-default-features)"
  (cd "$ROOT" && cargo build --release --quiet --no-default-features --bin ngx502 --example genlogs)
  local target
  target="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
  target="${target:-$ROOT/target}"
  NGX="$target/release/ngx502"
  GENLOGS="$target/release/examples/genlogs"
}

# cell_dir SIZE FORMAT RATE [heavy]: where a cell's logs are.
cell_dir() { echo "$DATA/$1-$2-$3${4:+-$4}"; }

# generate SIZE FORMAT RATE [heavy]: writes the cell once (access.log, its .gz when WITH_GZ=1,
# error.log, truth.json), then reads it so it is in the page cache.
generate() {
  local dir; dir="$(cell_dir "$@")"
  if [[ ! -f "$dir/truth.json" ]]; then
    say "generating $dir"
    mkdir -p "$dir"
    local gz=""
    [[ "${WITH_GZ:-0}" == 1 ]] && gz="--gzip"
    "$GENLOGS" --size "$1" --out "$dir" --format "$2" --failure-rate "$3" $gz --quiet ${4:+--error-heavy}
  fi
  cat "$dir"/access.log* "$dir"/error.log >/dev/null
}

# rss CMD: peak RSS in MB of one run.
rss() { /usr/bin/time -f '%M' -o "$TMP/rss" bash -c "$1" >/dev/null 2>&1 && awk '{printf "%.0f", $1 / 1024}' "$TMP/rss"; }

# machine: one line naming the CPU, the memory, the kernel and the load now.
machine() {
  local cpu mem
  cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "$(nproc) CPUs ($cpu), $mem RAM, $(uname -sr)"
}
