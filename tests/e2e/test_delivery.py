"""Kafka -> HTTP function: delivery, retry, dead-letter and shutdown
(README: Running it; README: Outcomes), against librdkafka's mock cluster and fn_server."""
import os

from helpers import (SLOW, dlq_ids, http_function, kafka_pipeline, produce,
                     read_dlq, split_id, stop_bridge, wait_until)

TOPICS = {
    "bulk": 8, "flaky": 4, "poison": 2, "ordered": 4, "sigterm": 4,
    "throttled": 1, "rejected": 2, "partial": 1, "oversized": 1, "refill": 4,
}


def stop_cleanly(bridge, timeout=30):
    """SIGTERM and assert a clean exit (an ASan finding makes it non-zero)."""
    rc, took = stop_bridge(bridge, timeout * SLOW)
    assert rc == 0, f"fnbridge exited with {rc} after SIGTERM"
    return took


def test_100k_records_over_8_partitions_all_delivered_then_sigterm_exits_0(
        kafka, fn_server, bridges, group, tmp_path):
    produced = produce(kafka, "bulk", 100_000, "--partitions", 8, "--size", 256)
    assert len(produced.ranges) == 8
    fn = fn_server()
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline("bulk", kafka, "bulk", group,
                                      http_function(fn.url), dlq=dlq)])

    fn.log.wait_delivered(produced.ids, 120 * SLOW, proc=b)

    stop_cleanly(b)
    assert fn.log.refresh().statuses() == {200}
    assert read_dlq(dlq) == []


def test_a_small_prefetch_queue_refills_with_nothing_lost_or_doubled(
        kafka, fn_server, bridges, group, tmp_path):
    """librdkafka 2.0.2 stops fetching while its queue is full and fnbridge
    wakes the fetchers once it drains (connectors/kafka/kafka_wake.c). A 64 KiB
    queue fills at every fetch: every record still arrives exactly once
    (the wake-up must not make librdkafka refetch), and it was used."""
    produced = produce(kafka, "refill", 20_000, "--partitions", 4, "--size", 1024)
    fn = fn_server()
    pipeline = kafka_pipeline("refill", kafka, "refill", group, http_function(fn.url),
                              max_inflight={"records": 1000})
    pipeline["source"]["kafka"]["librdkafka"]["queued.max.messages.kbytes"] = 64
    b = bridges.start([pipeline], log_level="debug")

    fn.log.wait_delivered(produced.ids, 60 * SLOW, proc=b)

    stop_cleanly(b)
    doubled = {rid for rid, n in fn.log.refresh().seen.items() if n > 1}
    assert not doubled, f"{len(doubled)} records delivered twice, e.g. {sorted(doubled)[:5]}"
    assert "waking the fetchers" in b.stderr(), "the prefetch queue never needed a wake-up"


def test_function_failing_30_percent_of_requests_still_gets_every_record(
        kafka, fn_server, bridges, group, tmp_path):
    produced = produce(kafka, "flaky", 10_000, "--partitions", 4)
    fn = fn_server("--fail-rate", 0.3, "--seed", 7)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline(
        "flaky", kafka, "flaky", group, http_function(fn.url), dlq=dlq,
        retry={"max_attempts": 30, "backoff": {"initial": "5ms", "max": "50ms"}})])

    fn.log.wait_delivered(produced.ids, 60 * SLOW, proc=b)

    stop_cleanly(b)
    failed = {rid for status, rid, _ in fn.log.refresh().entries if status == 500}
    assert failed, "fn_server never failed a request: no retry was exercised"
    assert failed <= fn.log.ok, "a record that failed was never retried to success"
    assert read_dlq(dlq) == []


def test_poison_record_alone_is_dead_lettered_and_its_partition_keeps_moving(
        kafka, fn_server, bridges, group, tmp_path):
    produced = produce(kafka, "poison", 2000, "--partitions", 2)
    first, last = produced.ranges[0]
    poison_offset = first + (last - first) // 2
    poison = f"poison-0-{poison_offset}"
    fn = fn_server("--poison", poison)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline(
        "poison", kafka, "poison", group, http_function(fn.url), dlq=dlq,
        retry={"max_attempts": 2})])

    fn.log.wait_delivered(produced.ids - {poison}, 60 * SLOW, proc=b)
    wait_until(lambda: read_dlq(dlq), 30 * SLOW, "a dead-letter record")
    stop_cleanly(b)

    entries = read_dlq(dlq)
    assert len(entries) == 1, f"expected one dead-letter record, got {len(entries)}"
    entry = entries[0]
    assert entry["version"] == "1.0"
    assert entry["pipeline"] == "poison"
    assert entry["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert entry["requestContext"]["approximateInvokeCount"] == 2
    assert entry["responseContext"]["statusCode"] == 500
    assert entry["source"]["type"] == "kafka"
    assert entry["source"]["partitions"] == [{
        "topic": "poison", "partition": 0, "startOffset": poison_offset,
        "endOffset": poison_offset, "batchSize": 1}]
    assert dlq_ids(entries) == [poison]
    assert poison not in fn.log.refresh().ok
    after = {f"poison-0-{o}" for o in range(poison_offset + 1, last + 1)}
    assert after and after <= fn.log.ok, "records after the poison one were not delivered"


def test_first_deliveries_keep_partition_order_despite_retries(
        kafka, fn_server, bridges, group, tmp_path):
    produced = produce(kafka, "ordered", 8000, "--partitions", 4)
    fn = fn_server("--fail-rate", 0.3, "--seed", 11)
    b = bridges.start([kafka_pipeline(
        "ordered", kafka, "ordered", group, http_function(fn.url),
        dlq=tmp_path / "dlq.jsonl", batch={"max_records": 50},
        retry={"max_attempts": 50, "backoff": {"initial": "5ms", "max": "50ms"}})])

    fn.log.wait_delivered(produced.ids, 60 * SLOW, proc=b)
    stop_cleanly(b)

    first_ok = {}                       # partition -> offsets, in delivery order
    seen = set()
    for status, rid, _ in fn.log.refresh().entries:
        if status == 200 and rid not in seen:
            seen.add(rid)
            _, partition, offset = split_id(rid)
            first_ok.setdefault(partition, []).append(offset)
    assert 500 in fn.log.statuses(), "no failure injected: retries not exercised"
    assert sorted(first_ok) == sorted(produced.ranges)
    for partition, offsets in first_ok.items():
        out_of_order = [(a, b) for a, b in zip(offsets, offsets[1:]) if b <= a]
        assert not out_of_order, (f"partition {partition}: first deliveries out of "
                                  f"order, e.g. {out_of_order[:3]}")


def test_sigterm_mid_run_exits_0_and_commits_what_was_delivered(
        kafka, fn_server, bridges, group, tmp_path):
    produced = produce(kafka, "sigterm", 40_000, "--partitions", 4)
    fn = fn_server("--delay-ms", 20)
    b = bridges.start([kafka_pipeline("sigterm", kafka, "sigterm", group,
                                      http_function(fn.url), dlq=tmp_path / "dlq.jsonl")],
                      shutdown_timeout="10s")
    wait_until(lambda: len(fn.log.refresh().ok) >= 4000 or not b.running(),
               60 * SLOW, "4000 records delivered")
    assert b.running(), f"fnbridge exited early with {b.popen.returncode}"

    took = stop_cleanly(b, timeout=10 + 10 * SLOW)
    assert took < 10 + 2 * SLOW, f"stop took {took:.1f} s, shutdown_timeout is 10 s"
    before = set(fn.log.refresh().ok)
    n_entries = len(fn.log.entries)
    assert len(before) < produced.count, "the run finished before the SIGTERM"

    again = bridges.restart(b, "fnbridge-restart")
    fn.log.wait_delivered(produced.ids, 60 * SLOW, proc=again)
    stop_cleanly(again)

    redelivered = {rid for status, rid, _ in fn.log.entries[n_entries:] if rid in before}
    # At most one batch per partition may have been in flight at the stop.
    assert len(redelivered) <= 4 * 100, (
        f"{len(redelivered)} of {len(before)} records delivered before the SIGTERM "
        f"were delivered again: offsets were not committed")


def test_429_retry_after_is_honoured_and_records_delivered(
        kafka, fn_server, bridges, group, tmp_path):
    produced = produce(kafka, "throttled", 5)
    fn = fn_server("--rate-429", 0.5, "--retry-after", 1, "--seed", 3)
    b = bridges.start([kafka_pipeline(
        "throttled", kafka, "throttled", group, http_function(fn.url),
        dlq=tmp_path / "dlq.jsonl",
        retry={"max_attempts": 20, "backoff": {"initial": "10ms", "max": "50ms"}})])

    # Polled often: each log entry is stamped with when it was first seen.
    fn.log.wait_delivered(produced.ids, 60 * SLOW, proc=b, interval=0.01)
    stop_cleanly(b)

    entries = fn.log.entries
    gaps = []
    for i, (status, rid, seen_at) in enumerate(entries):
        if status == 429:
            later = [t for _, r, t in entries[i + 1:] if r == rid]
            assert later, f"{rid} was not attempted again after a 429"
            gaps.append(later[0] - seen_at)
    assert gaps, "fn_server never answered 429: change --seed"
    assert min(gaps) >= 0.9, f"retried {min(gaps):.3f} s after a 429 with Retry-After: 1"
    assert read_dlq(tmp_path / "dlq.jsonl") == []


def test_4xx_dead_letters_every_record_after_exactly_one_attempt(
        kafka, fn_server, bridges, group, tmp_path):
    produced = produce(kafka, "rejected", 40, "--partitions", 2)
    fn = fn_server("--status", 400)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline(
        "rejected", kafka, "rejected", group, http_function(fn.url), dlq=dlq,
        batch={"max_records": 10}, retry={"max_attempts": 5})])

    wait_until(lambda: set(dlq_ids(read_dlq(dlq))) >= produced.ids or not b.running(),
               60 * SLOW, "every record dead-lettered")
    stop_cleanly(b)

    entries = read_dlq(dlq)
    assert sorted(dlq_ids(entries)) == sorted(produced.ids), "each record once"
    for entry in entries:
        assert entry["requestContext"]["condition"] == "NonRetryableError"
        assert entry["requestContext"]["approximateInvokeCount"] == 1
        assert entry["responseContext"]["statusCode"] == 400
    fn.log.refresh()
    assert set(fn.log.seen) == produced.ids
    assert set(fn.log.seen.values()) == {1}, "a record rejected with 400 was retried"


def test_partial_batch_response_retries_the_failed_record_not_those_before_it(
        kafka, fn_server, bridges, group, tmp_path):
    produced = produce(kafka, "partial", 50)
    failing = "partial-0-20"
    fn = fn_server("--partial", failing)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline(
        "partial", kafka, "partial", group, http_function(fn.url), dlq=dlq,
        batch={"max_records": 100, "max_wait": "300ms"}, retry={"max_attempts": 3})])

    fn.log.wait_delivered(produced.ids - {failing}, 60 * SLOW, proc=b)
    wait_until(lambda: read_dlq(dlq), 30 * SLOW, "a dead-letter record")
    stop_cleanly(b)

    fn.log.refresh()
    assert fn.log.seen[failing] >= 2, "the record named in batchItemFailures was not retried"
    before = {f"partial-0-{o}": fn.log.seen[f"partial-0-{o}"] for o in range(20)}
    assert set(before.values()) == {1}, f"records before the failed one redelivered: {before}"
    assert failing not in fn.log.ok
    assert dlq_ids(read_dlq(dlq)) == [failing]


def test_oversized_record_is_dead_lettered_unsent_and_its_neighbours_delivered(
        kafka, fn_server, bridges, group, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(200 * 1024))
    before = produce(kafka, "oversized", 10)
    huge = produce(kafka, "oversized", 1, "--value-file", big)
    after = produce(kafka, "oversized", 10, "--start-seq", 11)
    (huge_id,) = huge.ids
    _, _, huge_offset = split_id(huge_id)
    fn = fn_server()
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline(
        "oversized", kafka, "oversized", group,
        http_function(fn.url, max_payload="64KiB"), dlq=dlq)])

    fn.log.wait_delivered(before.ids | after.ids, 60 * SLOW, proc=b)
    wait_until(lambda: read_dlq(dlq), 30 * SLOW, "a dead-letter record")
    stop_cleanly(b)

    entries = read_dlq(dlq)
    assert len(entries) == 1
    assert entries[0]["requestContext"]["condition"] == "MaximumPayloadSizeExceeded"
    assert entries[0]["requestContext"]["approximateInvokeCount"] == 0
    assert entries[0]["source"]["partitions"] == [{
        "topic": "oversized", "partition": 0, "startOffset": huge_offset,
        "endOffset": huge_offset, "batchSize": 1}]
    assert huge_id not in fn.log.refresh().seen, "the oversized record was sent"
