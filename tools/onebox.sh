#!/usr/bin/env bash
# One box, many users: `wrctl serve` (memory store, embedded queue) and one
# `wrctl load` process holding USERS waiting users (default 200,000) who
# poll plainly at the server's Retry-After. Prints the status latency the
# users saw, the server's peak RSS per waiting session and the load
# generator's per simulated user. Usage: tools/onebox.sh [BIN] [USERS] [RATE]
set -euo pipefail
bin=${1:-bin/wrctl}
users=${2:-200000}
rate=${3:-2000}
addr=127.0.0.1:${ONEBOX_PORT:-8099}
dir=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$dir"' EXIT
echo ">> wrctl serve on $addr (memory store, embedded queue, capacity 10, waitingTTL 5m)"
"$bin" serve --addr "$addr" --capacity 10 --waiting-ttl 5m >"$dir/serve.log" 2>&1 &
srv=$!
for _ in $(seq 100); do curl -fs "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
base=$(awk '/VmRSS/ {print $2}' /proc/$srv/status)
(while kill -0 $srv 2>/dev/null; do
  awk '/VmRSS/ {print $2}' /proc/$srv/status >>"$dir/rss"
  curl -fs "http://$addr/metrics" | awk '/^go_memstats_heap_inuse_bytes/ {print $2}' >>"$dir/heap"
  sleep 1
done) 2>/dev/null &
echo ">> wrctl load: $users users at $rate/s, plain polls (--status-wait 0), for at most $((users / rate + 60))s"
/usr/bin/time -f '%M' -o "$dir/load.maxrss" "$bin" load --server "http://$addr" -u "$users" -r "$rate" --hold 1s \
  -d "$((users / rate + 60))s" --status-wait 0 --progress lines --progress-interval 20s \
  --max-errors 0 -o json --out "$dir/report.json" >/dev/null
peak=$(sort -n "$dir/rss" | tail -1)
loadrss=$(cat "$dir/load.maxrss")
heap=$(sort -g "$dir/heap" | tail -1)
python3 - "$dir/report.json" "$users" "$base" "$peak" "$loadrss" "$heap" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); users = int(sys.argv[2])
base, peak, load = (int(x) * 1024 for x in sys.argv[3:6])
heap = float(sys.argv[6])
st = r["endpoints"]["status"]["latency"]
print(f"status polls {r['endpoints']['status']['count']}: p50 {st['p50Ms']:.1f} ms, p99 {st['p99Ms']:.1f} ms, max {st['maxMs']:.1f} ms (goal p99 < 50 ms)")
print(f"joined {r['users']['joined']}, late arrivals {r['users']['lateArrivals']}, errors {sum(sum(e.get('errors', {}).values()) for e in r['endpoints'].values())}")
print(f"server RSS: {base/2**20:.0f} MiB idle, {peak/2**20:.0f} MiB peak: {(peak-base)/users:.0f} B per waiting session (store, embedded queue's message, Go heap headroom)")
print(f"server heap in use at its peak: {heap/2**20:.0f} MiB: {heap/users:.0f} B per waiting session")
print(f"load generator: peak RSS {load/2**20:.0f} MiB: {load/users:.0f} B per simulated user; {r['memory']['bytesPerUser']} B of heap held per user")
PY
