"""max_inflight holds across batching, retries, an open circuit and the rate
limit (README: Delivery guarantees, Bounded memory): with a Kafka backlog
ten times max_inflight.records and a function that fails (the circuit
opens), then answers slowly behind a rate limit, the source never holds
more records than the bound, the function never sees more calls at once
than `concurrency`, and every record is delivered. The MQTT and S3 sources
keep the same bound with a backlog several times it: MQTT reads no more
messages off its socket than the room left (the broker holds the rest),
S3 stops emitting and waits.

What the source holds is read from its debug line "in flight: N records,
B bytes (the most so far)", written whenever that count grows (the admin
server is not needed for it)."""
import re


from helpers import (SLOW, http_function, kafka_pipeline, produce, stop_cleanly,
                     wait_until)
from mqtt_helpers import mosquitto, mqtt_pipeline, publish  # noqa: F401 (fixture)
from s3_helpers import S3rver, s3_pipeline

TOPICS = {"mi_backlog": 4}
MAX_RECORDS = 400
MAX_BYTES = 64 * 1024 * 1024
CONCURRENCY = 4



def held(log):
    """Each (records, bytes) the source reported as its most so far."""
    return [(int(n), int(b)) for n, b in re.findall(
        r'in flight: (\d+) records, (\d+) bytes \(the most so far\)', log)]


def test_the_source_never_holds_more_than_max_inflight(
        kafka, timed, bridges, group, tmp_path):
    # Calls 1-6 fail (the circuit opens at the third and its first probe
    # fails too); then each answer takes 20 ms, at most 25 calls a second.
    fn = timed(lambda n, ids: (500, 0) if n <= 4 else (200, 0.02))
    produced = produce(kafka, "mi_backlog", 10 * MAX_RECORDS, "--partitions", 4,
                       "--size", 512)
    b = bridges.start([kafka_pipeline(
        "mi", kafka, "mi_backlog", group, http_function(fn.url), dlq=tmp_path / "dlq.jsonl",
        batch={"max_records": 50, "max_wait": "20ms"}, concurrency=CONCURRENCY,
        max_inflight={"records": MAX_RECORDS, "bytes": MAX_BYTES},
        retry={"max_attempts": 100, "backoff": {"initial": "10ms", "max": "50ms"}},
        circuit_breaker={"failures": 3, "cooldown": "500ms"},
        rate_limit={"invocations_per_second": 25, "burst": 2})], log_level="debug")

    fn.wait_delivered(produced.ids, 120 * SLOW, proc=b)
    stop_cleanly(b)

    log = b.stderr()
    most = held(log)
    assert most, "the source never said what it holds"
    records, nbytes = max(most)
    assert records <= MAX_RECORDS, f"the source held {records} records (max {MAX_RECORDS})"
    assert nbytes <= MAX_BYTES
    assert records >= MAX_RECORDS // 2, f"only {records} held: the backlog never pressed"
    assert "circuit breaker open after 3 failed invocations" in log
    assert fn.max_in_flight <= CONCURRENCY


def check_bound(log, bound):
    most = held(log)
    assert most, "the source never said what it holds"
    records = max(n for n, _ in most)
    assert records <= bound, f"the source held {records} records (max {bound})"
    assert records >= bound // 2, f"only {records} held: the backlog never pressed"
    return records


# Small enough that one read chunk (MQTT: 256 packets a round, S3: 64
# records between hand-overs) would pass it.
SMALL_BOUND = 40


def test_mqtt_reads_no_more_than_max_inflight_leaves_room_for(
        mosquitto, timed, bridges, tmp_path):
    broker = mosquitto()
    fn = timed(lambda n, ids: (200, 0.05))
    b = bridges.start([mqtt_pipeline(
        "mi-mqtt", broker.url, "mi-mqtt", fn.url,
        dlq=tmp_path / "dlq.jsonl", batch={"max_records": 10, "max_wait": "20ms"},
        concurrency=2, max_inflight={"records": SMALL_BOUND})], log_level="debug")
    broker.wait_subscribed("mi-mqtt", "sensors/#", proc=b)
    sent = publish(broker.url, "sensors/mi", 10 * SMALL_BOUND, "--qos", 1, prefix="mi-")
    wait_delivered_count(fn, sent.count, 120 * SLOW, b)
    stop_cleanly(b)
    most = check_bound(b.stderr(), SMALL_BOUND)
    print(f"MQTT: {sent.count} messages, the most held at once {most} "
          f"(max_inflight.records {SMALL_BOUND})")


def test_s3_emits_no_more_than_max_inflight_leaves_room_for(procs, timed, bridges, tmp_path):
    store = S3rver(procs, buckets=("mi-backlog",))
    keys = [f"k/{i:04d}" for i in range(8 * SMALL_BOUND)]
    store.seed("mi-backlog", keys)
    fn = timed(lambda n, ids: (200, 0.05))
    b = bridges.start([s3_pipeline(
        "mi-s3", store.endpoint, "mi-backlog", fn.url, dlq=tmp_path / "dlq.jsonl",
        batch={"max_records": 10, "max_wait": "20ms"}, concurrency=2,
        max_inflight={"records": SMALL_BOUND})], log_level="debug")
    # An S3 id is bucket/key@sequencer: every key delivered once at least.
    wait_delivered_count(fn, len(keys), 120 * SLOW, b, key=lambda rid: rid.split("@")[0])
    stop_cleanly(b)
    most = check_bound(b.stderr(), SMALL_BOUND)
    print(f"S3: {len(keys)} objects, the most held at once {most} "
          f"(max_inflight.records {SMALL_BOUND})")


def wait_delivered_count(fn, count, timeout, proc, key=lambda rid: rid):
    """Waits until count distinct records (by key of their id) were
    answered 200."""
    def done():
        if not proc.running():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
        return len({key(rid) for rid in fn.delivered()}) >= count
    wait_until(done, timeout, f"{count} records delivered")
