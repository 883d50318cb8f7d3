#!/usr/bin/env bash
# Regenerates sample-logs/ from real nginx output (see sample-logs/README.md).
#
# Runs the ignored `regenerate_sample_logs` test of tests/it/e2e_nginx.rs: a private nginx (Debian's
# /usr/sbin/nginx, or $NGX502_NGINX; its own prefix/config/pid under /tmp/ngx502-sample, never the
# system service) in front of faulty loopback backends. Needs nginx and tzdata (Asia/Kolkata).
# The test then checks ngx502's report on the new files against what really happened, and fails if
# the demo would tell a wrong story.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ] && [ -z "${NGX502_NGINX:-}" ]; then
    echo "regen-sample-logs: nginx is not installed (apt-get install -y nginx)" >&2
    exit 1
fi
exec cargo test --test e2e_nginx -- --ignored --exact regenerate_sample_logs --nocapture "$@"
