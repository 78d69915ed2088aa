#!/usr/bin/env bash
# The CI smoke test: the SQS emulator, the FIFO queue, one `wrctl serve` on
# it, and a short `wrctl load` whose thresholds fail the run when breached.
# Usage: tools/smoke.sh BIN NODE FAUXQS_DIR
set -euo pipefail
bin=$1 node=$2 fauxqs=$3
sqs_port=${SMOKE_SQS_PORT:-4577}
addr=${SMOKE_ADDR:-127.0.0.1:8097}
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

wait_port() { # host port
  for _ in $(seq 300); do (echo >"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done
  echo "smoke: nothing listening on $1:$2" >&2; return 1
}

pids=()
cleanup() { for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done; }
trap cleanup EXIT

echo ">> smoke: SQS emulator on 127.0.0.1:$sqs_port"
"$node" --no-warnings "$fauxqs/serve.mjs" "$sqs_port" >/dev/null & pids+=($!)
wait_port 127.0.0.1 "$sqs_port"
"$bin" queue create --name smoke.fifo --sqs-endpoint "http://127.0.0.1:$sqs_port" >/dev/null

echo ">> smoke: wrctl serve on $addr (capacity 20)"
"$bin" serve --addr "$addr" --queue sqs --queue-name smoke.fifo --sqs-endpoint "http://127.0.0.1:$sqs_port" \
  --capacity 20 --poll-interval 1s --log-level warn --token-secret smoke-secret-smoke-secret-smoke-secret & pids+=($!)
wait_port "${addr%:*}" "${addr##*:}"

echo ">> smoke: wrctl load, 400 users at 100/s"
"$bin" load --server "http://$addr" --users 400 --rate 100 --events 2 --hold 100ms..500ms --poll-interval 100ms \
  --progress lines --progress-interval 2s \
  --threshold 'errors==0' --threshold 'capacity_violations==0' --threshold 'inversions==0' \
  --threshold 'join_p99<500ms' --threshold 'dropped_arrivals==0'
echo ">> smoke: passed"
