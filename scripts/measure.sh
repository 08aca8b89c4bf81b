# shellcheck shell=bash
# What scripts/cpu-breakdown and scripts/instructions share (sourced, not
# run): a broker of their own with a fresh events topic, a Release
# schedbridge in front of it that accepts Cal.com webhooks signed with
# "bench-secret", its readiness, and the clean-up on exit.
#
#   measure_start_broker NAME     # work (a temporary folder), topic, brokers
#   measure_start_service [WRAPPER...]   # port, admin, svc (the pid)
#   measure_fail SENTENCE         # prints it and the service's log, exits 1
#
# The caller sets `bin` (the build's bin directory) and the array `envs`
# (NAME=VALUE for schedbridge) first. WRAPPER runs the service, e.g.
# `valgrind --tool=callgrind ...`.

measure_tool=$(basename "$0")
svc=""

measure_cleanup() {
  if [ -n "$svc" ]; then
    kill "$svc" 2> /dev/null || true
    # A wrapper (valgrind) writes its last file on the way out: up to 60 s,
    # then a service that hangs on shutdown is killed.
    for _ in $(seq 1 600); do kill -0 "$svc" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$svc" 2> /dev/null || true
    wait "$svc" 2> /dev/null || true
  fi
  if [ -n "${work:-}" ]; then
    scripts/kafka stop --dir "$work/kafka" > /dev/null 2>&1 || true
    rm -rf "$work"
  fi
}

measure_fail() {
  echo "scripts/$measure_tool: $1; the service's log:" >&2
  tail -20 "$work/service.log" >&2 2> /dev/null || true
  exit 1
}

measure_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

measure_start_broker() {
  work=$(mktemp -d "/tmp/schedbridge-$1-XXXXXX")
  topic="$1-events-$RANDOM"
  trap measure_cleanup EXIT  # before the broker starts: a failed start leaves nothing behind
  scripts/kafka start --port 0 --dir "$work/kafka" --topics "$topic scheduling.dlq.v1" > /dev/null
  brokers=$(cat "$work/kafka/bootstrap")
}

measure_start_service() {
  port=$(measure_free_port)
  admin=$(measure_free_port)
  env SCHEDBRIDGE_KAFKA_BROKERS="$brokers" SCHEDBRIDGE_TOPIC_EVENTS="$topic" \
    SCHEDBRIDGE_SECRET_CALCOM=bench-secret SCHEDBRIDGE_LOG_LEVEL=warn ${envs[@]+"${envs[@]}"} \
    "$@" "$bin/schedbridge" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
    2> "$work/service.log" &
  svc=$!
  # 60 s: under valgrind the start-up is slow.
  for _ in $(seq 1 300); do
    kill -0 "$svc" 2> /dev/null || measure_fail "the service exited"
    curl -sf "http://127.0.0.1:$admin/readyz" > /dev/null && return 0
    sleep 0.2
  done
  measure_fail "the service did not become ready in 60 s"
}
