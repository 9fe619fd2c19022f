# Sourced by the scripts that run the bundled simulator (demo.sh, e2e.sh, warehouse.sh).

# start_simulator BINARY LOG [ARGS...]: starts the simulator on a free port of 127.0.0.1 and
# sets sim_pid and api_url (the caller's EXIT trap kills $sim_pid); fails, showing the log,
# when it does not start within 10 s.
start_simulator() {
  local binary=$1 log=$2
  shift 2
  "$binary" --port 0 "$@" >"$log" 2>&1 &
  sim_pid=$!
  api_url=""
  for _ in $(seq 1 100); do
    api_url=$(sed -n 's/^bitbucket-simulator listening on \(http[^ ]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$api_url" ] && return 0
    sleep 0.1
  done
  echo "the simulator did not start:" >&2
  cat "$log" >&2
  return 1
}

# move_clock HOURS: the simulator's now becomes its anchor plus HOURS.
move_clock() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="POST"))' \
    "${api_url%/2.0}/_simulator/clock?offset_hours=$1"
}
