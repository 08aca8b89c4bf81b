#!/usr/bin/env bash
# Peak RSS of a spool draining a large backlog (README, "Durable spool"):
#   tests/bench/spool_rss.sh [MiB]     (default 1024; needs build/, ~MiB free in $TMPDIR)
# Fills a temporary spool with sealed records, then opens and drains it into a
# publisher that acks at once under /usr/bin/time -v. The backlog is deleted
# afterwards. Not part of the test suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mib=${1:-1024}
ninja -C "$root/build" schedbridge_spool_drain > /dev/null
tool="$root/build/bin/schedbridge_spool_drain"
dir=$(mktemp -d "${TMPDIR:-/tmp}/schedbridge-spool-rss-XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$tool" write "$dir" "$mib"
du -sh "$dir"
/usr/bin/time -v "$tool" drain "$dir" 2> "$dir/time.txt"
grep -E "Maximum resident set size|Elapsed" "$dir/time.txt"
