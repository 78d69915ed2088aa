#!/usr/bin/env bash
# The CI smoke test: the SQS emulator, the FIFO queue, one `wrctl serve` on
# it, and a short `wrctl load` whose thresholds fail the run when breached.
# Everything listens on free 127.0.0.1 ports.
# Usage: tools/smoke.sh BIN NODE FAUXQS_DIR
set -euo pipefail
bin=$1 node=$2 fauxqs=$3
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
work=$(mktemp -d)
pids=()
cleanup() {
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# await FILE PATTERN: wait for a line matching PATTERN and print it.
await() {
  for _ in $(seq 300); do
    if line=$(grep -m1 -E "$2" "$1" 2>/dev/null); then echo "$line"; return 0; fi
    sleep 0.1
  done
  echo "smoke: timed out waiting for $2 in $1:" >&2; cat "$1" >&2; return 1
}

"$node" --no-warnings "$fauxqs/serve.mjs" 0 >"$work/sqs.log" 2>&1 & pids+=($!)
sqs=$(await "$work/sqs.log" '"url"' | sed -E 's/.*"url":"([^"]+)".*/\1/')
echo ">> smoke: SQS emulator on $sqs"
"$bin" queue create --name smoke.fifo --sqs-endpoint "$sqs" >/dev/null

"$bin" serve --addr 127.0.0.1:0 --queue sqs --queue-name smoke.fifo --sqs-endpoint "$sqs" \
  --capacity 20 --poll-interval 1s --log-format json --token-secret smoke-secret-smoke-secret-smoke-secret \
  >"$work/serve.log" 2>&1 & pids+=($!)
addr=$(await "$work/serve.log" '"msg":"listening"' | sed -E 's/.*"addr":"([^"]+)".*/\1/')
echo ">> smoke: wrctl serve on $addr (capacity 20)"

echo ">> smoke: wrctl load, 400 users at 100/s over 2 events"
"$bin" load --server "http://$addr" --users 400 --rate 100 --events 2 --hold 100ms..500ms --poll-interval 100ms \
  --progress lines --progress-interval 2s \
  --capacity 20 --threshold 'errors==0' --threshold 'capacity_violations==0' --threshold 'inversions==0' \
  --threshold 'join_p99<500ms' --threshold 'dropped_arrivals==0'
echo ">> smoke: passed"
