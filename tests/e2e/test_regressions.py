"""Regression tests for bugs found in review, one per bug, against the mock
Kafka cluster, fn_server and the real binary."""
import pytest

from helpers import (SLOW, http_function, kafka_pipeline, produce, read_dlq,
                     run_fnbridge, stop_bridge, wait_until, write_config)

TOPICS = {"ra-huge": 1, "ra-max": 1, "revoke-backoff": 2}


@pytest.mark.parametrize("topic,retry_after", [
    ("ra-huge", "99999999999"),             # 3000 years: parked the record
    ("ra-max", "9223372036854775807"),      # seconds * 1000 overflowed int64
])
def test_huge_retry_after_is_honoured_only_up_to_max_record_age(
        kafka, fn_server, bridges, group, tmp_path, topic, retry_after):
    produced = produce(kafka, topic, 1)
    (rid,) = produced.ids
    fn = fn_server("--rate-429", 1, "--retry-after", retry_after)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline(
        topic, kafka, topic, group, http_function(fn.url), dlq=dlq,
        retry={"max_attempts": 50, "max_record_age": "2s",
               "backoff": {"initial": "10ms", "max": "50ms"}})])

    # The log is read often: each entry is stamped with when it was seen.
    wait_until(lambda: (fn.log.refresh() and read_dlq(dlq)) or not b.running(),
               30 * SLOW, "the record dead-lettered once its age ran out", interval=0.01)
    assert b.running(), f"fnbridge exited with {b.popen.returncode}"
    rc, _ = stop_bridge(b, 30 * SLOW)
    assert rc == 0

    (entry,) = read_dlq(dlq)
    assert entry["requestContext"]["condition"] == "MaximumRecordAgeExceeded"
    attempts = [t for status, r, t in fn.log.refresh().entries if r == rid]
    assert len(attempts) == 2, f"{len(attempts)} attempts"
    assert attempts[1] - attempts[0] >= 1.5, (
        f"retried {attempts[1] - attempts[0]:.2f} s after Retry-After: {retry_after}")


def test_more_pipelines_than_the_dispatcher_serves_is_an_error(tmp_path):
    # The 65th pipeline was silently never served: its records were read,
    # never delivered, and the source stalled at max_inflight.
    pipelines = [{
        "name": f"p{i}",
        "source": {"kafka": {"brokers": "127.0.0.1:1", "topics": ["t"],
                             "group_id": f"g{i}"}},
        "function": http_function("http://127.0.0.1:1/"),
    } for i in range(65)]
    config = write_config(tmp_path / "fnbridge.yaml", pipelines, tmp_path / "state")
    r = run_fnbridge("run", "-c", config, timeout=20)
    assert r.returncode == 2, r.stderr
    assert "p64" in r.stderr and "64" in r.stderr


def test_revoke_does_not_wait_for_batches_in_backoff(
        kafka, fn_server, bridges, group, tmp_path):
    produce(kafka, "revoke-backoff", 20, "--partitions", 2)
    fn = fn_server("--status", 500)

    def pipeline(name):
        return [kafka_pipeline(
            "revoke-backoff", kafka, "revoke-backoff", group, http_function(fn.url),
            dlq=tmp_path / f"{name}-dlq.jsonl",
            retry={"max_attempts": 100,
                   "backoff": {"initial": "20s", "max": "20s", "jitter": "none"}})]
    # The revoke may wait up to this long for what is in flight.
    a = bridges.start(pipeline("a"), name="fnbridge-a", shutdown_timeout="3s")
    # Both partitions' batches failed once and now wait 20 s for a retry.
    wait_until(lambda: len({r.rsplit("-", 1)[0] for _, r, _ in fn.log.refresh().entries}) == 2
               or not a.running(), 60 * SLOW, "a first attempt on both partitions")
    assert a.running()

    b = bridges.start(pipeline("b"), name="fnbridge-b", shutdown_timeout="3s")
    wait_until(lambda: "assigned 1 partition" in b.stderr()
               or not (a.running() and b.running()), 60 * SLOW,
               "the second member to get a partition")
    assert a.running() and b.running()
    # Nothing was in flight: the revoke had nothing to wait for. Before the
    # fix it waited out its timeout for the batches in backoff and warned.
    assert "records unfinished" not in a.stderr(), a.stderr()
    for bridge in (b, a):
        rc, _ = stop_bridge(bridge, 30 * SLOW)
        assert rc == 0
