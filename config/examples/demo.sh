#!/usr/bin/env bash
# demo.sh - what `make demo` runs. Part 1: a local Kafka cluster
# (librdkafka's mock cluster), a few order events, fnbridge with
# kafka-demo.yaml invoking order_handler.py; then the same orders to a
# Lambda handler run as warm local workers (local-lambda.yaml, exec
# runtime-api) and one event sent by `fnbridge invoke`. Part 2: a local mosquitto, a
# few simulated sensors, fnbridge with iot-sensors.yaml invoking
# sensor_handler.py, and a device's request answered over MQTT. Part 3: a
# local S3-compatible store (s3rver), a few uploads, fnbridge with
# s3-uploads.yaml invoking upload_handler.py with S3 events. Shows what
# the functions received and returned; stops everything it started,
# whatever happens.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../../build}
export DEMO_DIR=$(mktemp -d /tmp/fnbridge-demo.XXXXXX)
export DEMO_HANDLER=$here/order_handler.py
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DEMO_DIR"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# stop_fnbridge PID LOG: SIGTERM, wait, show its log; exits on a failure.
stop_fnbridge() {
    kill -TERM "$1"
    local status=0
    wait "$1" || status=$?
    echo "fnbridge exited with status $status; its log:"
    sed 's/^/  /' "$2"
    [ "$status" = 0 ] || exit "$status"
}

# has_line PATTERN FILE: FILE exists and holds a line matching PATTERN (a
# background job may not have created its output file yet).
has_line() { [ -f "$2" ] && grep -q "$1" "$2"; }

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        if ((SECONDS >= deadline)); then echo "demo: timed out waiting for: $*" >&2; exit 1; fi
        sleep 0.1
    done
}

say "Starting a local Kafka cluster (3 brokers, topic orders with 3 partitions)"
"$build/tools/mock_kafka" --brokers 3 --topic orders:3 >"$DEMO_DIR/mock.out" 2>"$DEMO_DIR/mock.err" &
pids+=($!)
wait_for 10 has_line '^BOOTSTRAP ' "$DEMO_DIR/mock.out"
export DEMO_BROKERS=$(sed -n 's/^BOOTSTRAP //p' "$DEMO_DIR/mock.out")
echo "bootstrap servers: $DEMO_BROKERS"

say "Producing 8 orders (one with a negative amount, which the function rejects)"
cat >"$DEMO_DIR/orders.txt" <<'ORDERS'
alice|{"id": 1001, "customer": "alice", "amount": 20.00, "vat": 0.2}
bob|{"id": 1002, "customer": "bob", "amount": 5.50, "vat": 0.1}
carol|{"id": 1003, "customer": "carol", "amount": 99.90, "vat": 0.2}
dave|{"id": 1004, "customer": "dave", "amount": -3.00}
alice|{"id": 1005, "customer": "alice", "amount": 12.00, "vat": 0.2}
erin|{"id": 1006, "customer": "erin", "amount": 42.00, "vat": 0.05}
bob|{"id": 1007, "customer": "bob", "amount": 7.25, "vat": 0.1}
carol|{"id": 1008, "customer": "carol", "amount": 1.00, "vat": 0.2}
ORDERS
kcat -q -b "$DEMO_BROKERS" -t orders -P -K '|' <"$DEMO_DIR/orders.txt"
cat "$DEMO_DIR/orders.txt"

say "Running: fnbridge run -c config/examples/kafka-demo.yaml"
"$build/fnbridge" check -c "$here/kafka-demo.yaml"
"$build/fnbridge" run -c "$here/kafka-demo.yaml" 2>"$DEMO_DIR/fnbridge.log" &
fnbridge_pid=$!
pids+=($fnbridge_pid)

results_done() {
    [ -f "$DEMO_DIR/results.txt" ] && [ "$(wc -l <"$DEMO_DIR/results.txt")" -ge 7 ] &&
        [ -s "$DEMO_DIR/dlq/orders.jsonl" ]
}
wait_for 45 results_done

say "What the function did (results.txt; count of times it saw each order)"
sort "$DEMO_DIR/results.txt" | uniq -c
cat <<'NOTE'
   Order 1004 failed, so it and the orders after it in its partition were
   retried (order is kept per partition, and delivery is at-least-once);
   retries and bisection then isolated 1004 alone, which was dead-lettered.
NOTE

say "What was dead-lettered (state dlq/orders.jsonl, one line per failed batch)"
python3 - "$DEMO_DIR/dlq/orders.jsonl" <<'PY'
import base64, json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    for recs in d["payload"]["records"].values():
        for r in recs:
            print(f'{d["requestContext"]["condition"]} after '
                  f'{d["requestContext"]["approximateInvokeCount"]} attempts: '
                  f'{base64.b64decode(r["value"]).decode()} '
                  f'(partition {r["partition"]}, offset {r["offset"]})')
PY

say "Stopping fnbridge with SIGTERM (it finishes in-flight work and commits)"
stop_fnbridge "$fnbridge_pid" "$DEMO_DIR/fnbridge.log"

say "The same orders to a Lambda handler run locally: fnbridge run -c config/examples/local-lambda.yaml"
cat <<'NOTE'
   function.py's handler(event, context) runs under a Lambda custom runtime
   (runtime/bootstrap.py), started by fnbridge as a warm worker that speaks
   the Lambda Runtime API: no platform, no container.
NOTE
export KAFKA_BROKERS=$DEMO_BROKERS STATE_DIR=$DEMO_DIR/lambda-state RESULTS=$DEMO_DIR/lambda-results.txt
(cd "$here/../.." && exec "$build/fnbridge" run -c config/examples/local-lambda.yaml) \
    2>"$DEMO_DIR/lambda.log" &
lambda_pid=$!
pids+=($lambda_pid)
lambda_done() { [ -f "$RESULTS" ] && [ "$(wc -l <"$RESULTS")" -ge 8 ]; }
wait_for 45 lambda_done
sort "$RESULTS"
stop_fnbridge "$lambda_pid" "$DEMO_DIR/lambda.log"

say "One event by hand: fnbridge invoke -c config/examples/local-lambda.yaml --pipeline orders --event -"
event='{"eventSource":"SelfManagedKafka","records":{"orders-0":[{"topic":"orders","partition":0,"offset":99,"value":"eyJpZCI6IDIwMDB9"},{"topic":"orders","partition":0,"offset":100,"value":"bm90IGpzb24="}]}}'
echo "$event"
status=0
answer=$(cd "$here/../.." && echo "$event" |
    "$build/fnbridge" invoke -c config/examples/local-lambda.yaml --pipeline orders --event -) || status=$?
echo "$answer"
echo "(exit status $status: the handler answered; the record that is not JSON is named in batchItemFailures)"

# ------------------------------------------------------------ part 2: IoT

say "Part 2: starting a local MQTT broker (mosquitto)"
mqtt_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$DEMO_DIR/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
CONF
mosquitto -c "$DEMO_DIR/mosquitto.conf" >"$DEMO_DIR/mosquitto.log" 2>&1 &
pids+=($!)
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null; }
wait_for 10 port_open
export MQTT_URL=mqtt://127.0.0.1:$mqtt_port SENSOR_HANDLER=$here/sensor_handler.py
echo "broker: $MQTT_URL"

say "Running: fnbridge run -c config/examples/iot-sensors.yaml"
"$build/fnbridge" run -c "$here/iot-sensors.yaml" 2>"$DEMO_DIR/iot.log" &
iot_pid=$!
pids+=($iot_pid)
wait_for 20 has_line 'connected to' "$DEMO_DIR/iot.log"

say "Three sensors publish readings (QoS 1, MQTT 5, user property site)"
pub() { mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -q 1 -V mqttv5 "$@"; }
for reading in "1 21.5 north" "2 19.0 south" "3 34.2 north" "1 22.0 north" "2 31.5 south"; do
    set -- $reading
    echo "sensors/$1/temperature  {\"celsius\": $2}  (site $3)"
    pub -t "sensors/$1/temperature" -m "{\"celsius\": $2}" -D publish user-property site "$3"
done

say "Sensor 3 asks for its status and waits for the answer on replies/3"
stdbuf -oL mosquitto_sub -d -h 127.0.0.1 -p "$mqtt_port" -V mqttv5 -t replies/3 -C 1 -W 30 -F 'REPLY %t %p' \
    >"$DEMO_DIR/reply.txt" 2>&1 &
sub_pid=$!
pids+=($sub_pid)
wait_for 10 has_line SUBACK "$DEMO_DIR/reply.txt"   # -d: the subscription is in place
pub -t sensors/3/status -m '{"request": "status"}' \
    -D publish response-topic replies/3 -D publish correlation-data req-1
wait "$sub_pid" || true
echo "sensor 3 got on $(sed -n 's/^REPLY //p' "$DEMO_DIR/reply.txt")"

sensors_done() { [ -f "$DEMO_DIR/sensor-results.txt" ] && [ "$(wc -l <"$DEMO_DIR/sensor-results.txt")" -ge 6 ]; }
wait_for 30 sensors_done
say "What the function did (sensor-results.txt)"
cat "$DEMO_DIR/sensor-results.txt"

say "Stopping fnbridge with SIGTERM"
stop_fnbridge "$iot_pid" "$DEMO_DIR/iot.log"

# ------------------------------------------------------------ part 3: S3

say "Part 3: starting a local S3-compatible store (s3rver) with a bucket 'uploads'"
s3rver=${S3RVER:-$here/../../tests/node/node_modules/.bin/s3rver}
s3_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$DEMO_DIR/s3data"
# s3rver's continuation tokens use DES, which Node's OpenSSL 3 keeps in its legacy provider.
NODE_OPTIONS=--openssl-legacy-provider "$s3rver" -d "$DEMO_DIR/s3data" -a 127.0.0.1 \
    -p "$s3_port" --configure-bucket uploads --silent >"$DEMO_DIR/s3rver.log" 2>&1 &
pids+=($!)
s3_open() { (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null; }
wait_for 20 s3_open
export S3_ENDPOINT=http://127.0.0.1:$s3_port S3_BUCKET=uploads UPLOAD_HANDLER=$here/upload_handler.py
echo "store: $S3_ENDPOINT"
s3() { curl -sf -X "$1" "$S3_ENDPOINT/uploads/$2" "${@:3}" >/dev/null; }

say "Uploading three files under incoming/ (one is not a .csv, so the pipeline ignores it)"
s3 PUT "incoming/january.csv" --data-binary $'day,sales\n1,120\n2,98\n'
s3 PUT "incoming/q1%20report.csv" --data-binary $'quarter,total\nq1,5120\n'
s3 PUT "incoming/notes.txt" --data-binary 'not a csv'
echo "incoming/january.csv, incoming/q1 report.csv, incoming/notes.txt"

say "Running: fnbridge run -c config/examples/s3-uploads.yaml"
"$build/fnbridge" run -c "$here/s3-uploads.yaml" 2>"$DEMO_DIR/s3.log" &
s3_pid=$!
pids+=($s3_pid)
uploads_seen() { [ -f "$DEMO_DIR/upload-results.txt" ] && [ "$(wc -l <"$DEMO_DIR/upload-results.txt")" -ge "$1" ]; }
wait_for 30 uploads_seen 2

say "Overwriting january.csv and deleting the q1 report while fnbridge watches"
s3 PUT "incoming/january.csv" --data-binary $'day,sales\n1,120\n2,98\n3,143\n'
s3 DELETE "incoming/q1%20report.csv"
wait_for 30 uploads_seen 4

say "What the function did (upload-results.txt)"
cat "$DEMO_DIR/upload-results.txt"

say "Stopping fnbridge with SIGTERM"
stop_fnbridge "$s3_pid" "$DEMO_DIR/s3.log"
