#!/usr/bin/env bash
# A DeepEM cluster of N nodes on this machine, for a workstation or for trying the cluster out.
#
#   deploy/local/deepem-cluster.sh start N [--dir DIR] [--port P] [--metrics-port M] [-- NODE FLAGS...]
#   deploy/local/deepem-cluster.sh status [--dir DIR]
#   deploy/local/deepem-cluster.sh stop [--dir DIR]
#
# start: node 1 forms the cluster (the seed, on --port, default any free port), nodes 2..N join it. Every node takes
#   both roles, as three plain `deepem node` do, and all share one state folder (DIR/state), so whichever node holds
#   the campaign coordinator reads the same journal. Each node's log is DIR/node-I.log, its output DIR/node-I.out.
#   With --metrics-port M, node I serves /metrics and /health/* on port M+I-1 (M = 0: each on any free port; the
#   listing names them). Flags after -- go to every node
#   (for example --device cpu, or --config site.conf). Returns once every node is up, and prints the address
#   that pick/train/status take in --join.
# status: which nodes run, and the cluster's campaigns.
# stop: SIGTERM to every node (a graceful leave: slots finish their micrograph first), then waits for them.
#
# DIR defaults to ./deepem-cluster. DEEPEM names the program (default: the repository's ./deepem launcher).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
read -r -a DEEPEM_CMD <<< "${DEEPEM:-$ROOT/deepem}"
UP_TIMEOUT=${DEEPEM_UP_TIMEOUT:-120}
STOP_TIMEOUT=${DEEPEM_STOP_TIMEOUT:-320}

die() { echo "deepem-cluster: error: $*" >&2; exit "${2:-1}"; }
usage() { sed -n '4,6p' "${BASH_SOURCE[0]}" | sed 's/^#   /usage: /' >&2; exit 2; }

[[ $# -ge 1 ]] || usage
verb=$1; shift
count=0
if [[ $verb == start ]]; then
  [[ $# -ge 1 && $1 =~ ^[1-9][0-9]*$ ]] || usage
  count=$1; shift
fi
dir=deepem-cluster port=0 metrics=""
node_flags=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --metrics-port) metrics=$2; shift 2 ;;
    --) shift; node_flags=("$@"); break ;;
    *) usage ;;
  esac
done
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

pid_of() { cat "$dir/node-$1.pid" 2>/dev/null || true; }
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
# The node's "node HOST:PORT is up" line.
up_address() { sed -n 's/^node \([^ ]*\) is up.*/\1/p' "$dir/node-$1.out" 2>/dev/null | head -n 1; }
# Its metrics endpoint, from the same line ("; metrics at URL/metrics"), when it serves one.
metrics_url() { sed -n 's/^node [^ ]* is up.*; metrics at \([^ ;]*\);.*/\1/p' "$dir/node-$1.out" 2>/dev/null | head -n 1; }

wait_up() {
  local i=$1 pid deadline=$((SECONDS + UP_TIMEOUT))
  pid=$(pid_of "$i")
  until [[ -n $(up_address "$i") ]]; do
    if ! alive "$pid"; then
      tail -n 5 "$dir/node-$i.out" "$dir/node-$i.err" >&2 || true
      die "node $i stopped before it was up (see $dir/node-$i.err)"
    fi
    (( SECONDS < deadline )) || die "node $i was not up within $UP_TIMEOUT s (see $dir/node-$i.log)"
    sleep 0.5
  done
}

start_node() {
  local i=$1; shift
  local flags=(node --host 127.0.0.1 --state "$dir/state" --log "$dir/node-$i.log" "$@")
  if [[ $metrics == 0 ]]; then flags+=(--metrics-port 0)
  elif [[ -n $metrics ]]; then flags+=(--metrics-port $((metrics + i - 1)))
  fi
  # setsid: the node is not in this shell's process group, so a Ctrl-C here does not reach it; stop does.
  setsid "${DEEPEM_CMD[@]}" "${flags[@]}" "${node_flags[@]}" > "$dir/node-$i.out" 2> "$dir/node-$i.err" < /dev/null &
  echo $! > "$dir/node-$i.pid"
}

case $verb in
  start)
    for f in "$dir"/node-*.pid; do
      [[ -e $f ]] || continue
      alive "$(cat "$f")" && die "a cluster from $dir is still running: deepem-cluster.sh stop --dir $dir"
    done
    rm -f "$dir"/node-*.pid "$dir"/node-*.out "$dir"/node-*.err
    # Build once (the launcher rebuilds when sources changed) rather than in N nodes at once.
    "${DEEPEM_CMD[@]}" --version > /dev/null
    start_node 1 --port "$port"
    wait_up 1
    seed=$(up_address 1)
    for ((i = 2; i <= count; i++)); do start_node "$i" --port 0 --seed-nodes "$seed"; done
    for ((i = 2; i <= count; i++)); do wait_up "$i"; done
    echo "$count" > "$dir/nodes"
    echo "$seed" > "$dir/seed"
    echo "cluster of $count nodes up; seed $seed; state and logs in $dir"
    for ((i = 1; i <= count; i++)); do
      echo "  node $i: $(up_address "$i") (pid $(pid_of "$i"))${metrics:+; metrics at $(metrics_url "$i")}"
    done
    echo "use it with: deepem pick --join $seed ...   stop it with: $0 stop --dir $dir"
    ;;
  status)
    [[ -f $dir/nodes ]] || die "no cluster was started from $dir"
    running=0
    for ((i = 1; i <= $(cat "$dir/nodes"); i++)); do
      pid=$(pid_of "$i")
      if alive "$pid"; then echo "node $i: $(up_address "$i") running (pid $pid)"; running=$((running + 1)); else echo "node $i: stopped"; fi
    done
    (( running > 0 )) || exit 1
    "${DEEPEM_CMD[@]}" status --join "$(cat "$dir/seed")"
    ;;
  stop)
    pids=()
    for f in "$dir"/node-*.pid; do
      [[ -e $f ]] || continue
      pid=$(cat "$f")
      if alive "$pid"; then kill -TERM "$pid"; pids+=("$pid"); fi
    done
    deadline=$((SECONDS + STOP_TIMEOUT))
    for pid in "${pids[@]}"; do
      while alive "$pid"; do
        if (( SECONDS >= deadline )); then
          echo "deepem-cluster: warning: node pid $pid did not leave within $STOP_TIMEOUT s; killing it" >&2
          kill -KILL "$pid" 2>/dev/null || true
          break
        fi
        sleep 0.5
      done
    done
    rm -f "$dir"/node-*.pid
    echo "stopped ${#pids[@]} nodes"
    ;;
  *) usage ;;
esac
