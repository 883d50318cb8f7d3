#!/usr/bin/env bash
# Regenerates sample-logs/ from real nginx output (see sample-logs/README.md).
#
# Runs the ignored `regenerate_sample_logs` test of tests/it/e2e_nginx.rs: a private nginx (Debian's
# /usr/sbin/nginx, or $NGX502_NGINX; its own prefix/config/pid under /tmp/ngx502-sample, never the
# system service) in front of faulty loopback backends. Needs nginx and tzdata (Asia/Kolkata).
# Then sample-streams/docker-compose.log is written from those files, wrapped and interleaved as
# `docker compose logs` delivers them. The tests then check ngx502's report on the new files against what really happened, and fails if
# the demo would tell a wrong story.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ] && [ -z "${NGX502_NGINX:-}" ]; then
    echo "regen-sample-logs: nginx is not installed (apt-get install -y nginx)" >&2
    exit 1
fi
cargo test --test it -- --ignored --exact e2e_nginx::regenerate_sample_logs --nocapture "$@"
# The same traffic as `docker compose logs` delivers it: sample-streams/docker-compose.log.
exec cargo test --test it -- --ignored --exact e2e_streams::regenerate_sample_stream --nocapture "$@"
