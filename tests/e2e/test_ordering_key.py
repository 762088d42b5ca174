"""`ordering: key` (README: Outcomes): on one partition, batches of
different keys run in parallel while each key keeps its order, through
retries, partial batch responses and a SIGKILL; the committed offset never
passes a record the function had not answered.

Everything is measured at the function: fn_server --trace writes when each
record arrived and when its answer left (CLOCK_MONOTONIC, as Python's
time.monotonic_ns), and its /stats counts the requests it served at once."""
import json
import random
import threading
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition

from helpers import (SLOW, http_function, kafka_pipeline, new_lines, read_dlq, split_id,
                     stop_cleanly, wait_until)

TOPICS = {"keyed": 1, "keyed-retry": 1}
KEYS = [f"key-{i:02d}" for i in range(16)]


# ------------------------------------------------------------------ helpers


def produce_keyed(kafka, topic, keys):
    """Produces one record per entry of keys (its key) to partition 0, in
    order; returns {offset: key} from the delivery reports."""
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 5,
                         "enable.idempotence": True})
    by_offset, errors = {}, []

    def report(err, msg):
        if err:
            errors.append(err)
        else:
            by_offset[msg.offset()] = msg.key().decode()
    for seq, key in enumerate(keys):
        producer.produce(topic, key=key, value=json.dumps({"seq": seq}), partition=0,
                         on_delivery=report)
        producer.poll(0)
    assert producer.flush(60 * SLOW) == 0, "records still unsent after the flush"
    assert not errors, f"produce failed: {errors[:3]}"
    assert sorted(by_offset) == list(range(len(keys))), "offsets are not 0..n-1"
    assert [by_offset[o] for o in range(len(keys))] == list(keys), "stored out of order"
    return by_offset


class Trace:
    """fn_server --trace, read incrementally. Requests are numbered in
    arrival order; per record, the first request it came in and the first
    request that delivered it: answered it 200 with no record of its key
    before it in that request failing (a partial batch response that fails
    a record fails the later records of its key too: under ordering they
    must be sent again, after it)."""

    def __init__(self, path, key_of):
        self.path = path
        self.key_of = key_of    # offset -> key
        self.pos = 0
        self.arrived = {}       # request -> (in_ns, [offsets in event order])
        self.answered = {}      # request -> out_ns
        self.first_in = {}      # offset -> (request, position in it)
        self.first_ok = {}      # offset -> request
        self.failed = {}        # offset -> requests that answered it other than 200
        self.behind_failure = {}  # offset -> a request that answered it 200
                                  # after failing an earlier record of its key
        self.failed_keys = {}   # request -> keys with a failed record so far

    def refresh(self):
        lines, self.pos = new_lines(self.path, self.pos)
        for line in lines:
            fields = line.split(" ")
            ns, kind, req = int(fields[0]), fields[1], int(fields[2])
            offset = split_id(fields[-1])[2]
            if kind == "in":
                _, offsets = self.arrived.setdefault(req, (ns, []))
                self.first_in.setdefault(offset, (req, len(offsets)))
                offsets.append(offset)
                continue
            self.answered[req] = ns
            key = self.key_of[offset]
            failed_keys = self.failed_keys.setdefault(req, set())
            if fields[3] != "200":
                self.failed.setdefault(offset, []).append(req)
                failed_keys.add(key)
            elif key in failed_keys:
                self.behind_failure.setdefault(offset, req)
            else:
                self.first_ok.setdefault(offset, req)
        return self

    def in_ns(self, req):
        return self.arrived[req][0]

    def ok_ns(self, offset):
        return self.answered[self.first_ok[offset]]

    def max_overlap(self):
        """Most answered requests between arrival and answer at one instant
        (those of a killed client may never be answered)."""
        edges = sorted([(self.arrived[req][0], 1) for req in self.answered] +
                       [(ns, -1) for ns in self.answered.values()])
        now = best = 0
        for _, step in edges:
            now += step
            best = max(best, now)
        return best


class CommitWatcher:
    """Polls the group's committed offset of partition 0 from the cluster
    (OffsetFetch, without joining the group) and keeps (seen_ns, offset):
    seen_ns is taken once the answer is in, so the commit happened before."""

    def __init__(self, kafka, topic, group):
        self.consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group,
                                  "enable.auto.commit": False})
        self.tp = TopicPartition(topic, 0)
        self.seen = []
        self.errors = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.is_set():
            try:
                (tp,) = self.consumer.committed([self.tp], timeout=5 * SLOW)
                seen_ns = time.monotonic_ns()
                if tp.error is None and tp.offset >= 0:
                    self.seen.append((seen_ns, tp.offset))
            except Exception:       # coordinator moving, request timed out
                self.errors += 1
            self.stopping.wait(0.02)

    def latest(self):
        return self.seen[-1][1] if self.seen else -1

    def stop(self):
        self.stopping.set()
        self.thread.join(30 * SLOW)
        self.consumer.close()


def fn_stats(fn):
    with urllib.request.urlopen(f"{fn.url}stats", timeout=10) as r:
        return json.load(r)


def keyed_pipeline(name, kafka, topic, group, fn, tmp_path, **extra):
    pipeline = kafka_pipeline(name, kafka, topic, group, http_function(fn.url),
                              dlq=tmp_path / f"{name}-dlq.jsonl", **extra)
    source = pipeline["source"]["kafka"]
    source["ordering"] = "key"
    # Frequent commits: more of them for the watcher to check.
    source["librdkafka"]["auto.commit.interval.ms"] = 100
    return pipeline


def offsets_by_key(by_offset):
    keyed = {}
    for offset in sorted(by_offset):
        keyed.setdefault(by_offset[offset], []).append(offset)
    return keyed


# ------------------------------------------------------------------- checks


def check_every_record_delivered(trace, by_offset):
    missing = sorted(set(by_offset) - set(trace.first_ok))
    behind = [(o, trace.behind_failure[o]) for o in missing if o in trace.behind_failure]
    assert not behind, (
        f"{len(behind)} records were answered 200 only in requests that failed an "
        f"earlier record of their key, and never sent again (so counted delivered "
        f"ahead of it), e.g. (offset, request): {behind[:5]}")
    assert not missing, f"{len(missing)} records never answered 200, e.g. {missing[:5]}"


def check_first_arrivals_in_key_order(trace, by_offset):
    """Per key, the first arrival of each record is in offset order."""
    for key, offsets in offsets_by_key(by_offset).items():
        arrivals = sorted(offsets, key=lambda o: trace.first_in[o])
        assert arrivals == offsets, (
            f"{key}: first deliveries out of offset order, e.g. "
            f"{[(a, b) for a, b in zip(arrivals, arrivals[1:]) if b < a][:3]}")


def check_no_overtaking(trace, by_offset):
    """A record of a key first reaches the function either in the same
    request as the record before it, or once that one was delivered; and it
    is delivered with that one, or in a request sent after it was. So a
    retried record is delivered before the later records of its key."""
    for key, offsets in offsets_by_key(by_offset).items():
        for a, b in zip(offsets, offsets[1:]):
            req_b = trace.first_in[b][0]
            a_in_req_b = a in trace.arrived[req_b][1]
            assert a_in_req_b or trace.ok_ns(a) < trace.in_ns(req_b), (
                f"{key}: offset {b} was sent (request {req_b}) before offset {a} "
                f"was delivered (request {trace.first_ok[a]})")
            ok_a, ok_b = trace.first_ok[a], trace.first_ok[b]
            assert ok_a == ok_b or trace.ok_ns(a) < trace.in_ns(ok_b), (
                f"{key}: offset {b} was delivered (request {ok_b}) before offset {a} "
                f"(request {ok_a})")


def check_commits_behind_answers(trace, watcher, n):
    """Every record below an observed committed offset had been delivered
    (as Trace counts it) before that commit was observed."""
    latest_ok = [0] * (n + 1)        # latest_ok[c]: when all offsets < c were delivered
    for offset in range(n):
        ok = trace.ok_ns(offset) if offset in trace.first_ok else float("inf")
        latest_ok[offset + 1] = max(latest_ok[offset], ok)
    for seen_ns, committed in watcher.seen:
        assert committed <= n, f"committed offset {committed} past the end ({n})"
        if latest_ok[committed] < seen_ns:
            continue
        early = next(o for o in range(committed)
                     if o not in trace.first_ok or trace.ok_ns(o) >= seen_ns)
        raise AssertionError(
            f"committed offset {committed} was seen before offset {early} "
            f"(key {trace.key_of[early]}) was delivered "
            f"(request {trace.first_ok.get(early, 'none')})")


# -------------------------------------------------------------------- tests


def test_key_ordering_runs_keys_in_parallel_and_survives_sigkill(
        kafka, fn_server, bridges, group, tmp_path):
    rng = random.Random(8)
    n = 4000
    # Two hot keys (about 26% and 13% of the records) outlast the others:
    # towards the end a held lane is all that keeps their batches apart.
    weights = [6, 3] + [1] * 14
    by_offset = produce_keyed(kafka, "keyed", rng.choices(KEYS, weights, k=n))
    trace = Trace(tmp_path / "trace.txt", by_offset)
    # Uneven delays (10..60 ms): a key's next batch would be sent while its
    # last one is still running if lanes were not held (with even delays,
    # 16 lanes taking turns through 8 slots hide that).
    fn = fn_server("--delay-ms", 10, "--delay-spread-ms", 50, "--trace", trace.path)
    watcher = CommitWatcher(kafka, "keyed", group)
    try:
        pipeline = keyed_pipeline("keyed", kafka, "keyed", group, fn, tmp_path,
                                  batch={"max_records": 25, "max_wait": "20ms"},
                                  concurrency=8)
        t0_ns = time.monotonic_ns()
        first = bridges.start([pipeline], name="fnbridge-1")
        # Killed once a good part was delivered and committed, well short of
        # the end: 4000 records take 160 invocations of 35 ms on average, 8
        # at a time at first, then fewer as only the hot keys are left.
        wait_until(lambda: (len(trace.refresh().first_ok) >= 1200 and
                            watcher.latest() > 0) or not first.running(),
                   60 * SLOW, "1200 records delivered and an offset committed")
        assert first.running(), f"fnbridge-1 exited with {first.popen.returncode}"
        first.kill()
        killed_ns = time.monotonic_ns()
        delivered_at_kill = len(trace.refresh().first_ok)
        committed_at_kill = watcher.latest()
        assert delivered_at_kill < n, "every record was delivered before the kill"

        second = bridges.restart(first, "fnbridge-2")
        # A commit at the end with records missing means they were skipped:
        # nothing more would come, and the checks below say which.
        wait_until(lambda: len(trace.refresh().first_ok) == n or watcher.latest() == n
                   or not second.running(), 120 * SLOW,
                   "every record delivered after the restart")
        assert second.running(), f"fnbridge-2 exited with {second.popen.returncode}"
        done_ns = time.monotonic_ns()
        stop_cleanly(second)
        wait_until(lambda: watcher.latest() == n, 30 * SLOW,
                   f"the committed offset to reach {n}")
    finally:
        watcher.stop()
    stats = fn_stats(fn)
    trace.refresh()

    check_commits_behind_answers(trace, watcher, n)
    check_every_record_delivered(trace, by_offset)
    check_first_arrivals_in_key_order(trace, by_offset)
    check_no_overtaking(trace, by_offset)
    assert read_dlq(tmp_path / "keyed-dlq.jsonl") == []
    commits = sorted({c for _, c in watcher.seen})
    assert any(0 < c < n for seen_ns, c in watcher.seen if seen_ns < killed_ns), \
        "no commit observed before the kill"
    assert len(commits) >= 5, f"only {len(commits)} distinct commits observed: {commits}"
    redelivered = sum(1 for _, offsets in trace.arrived.values() for _ in offsets) - n
    delay_s = sum(trace.answered[r] - trace.arrived[r][0] for r in trace.answered) / 1e9
    print(f"function concurrency: max {stats['max_in_flight']} requests at once "
          f"(/stats), {trace.max_overlap()} from the trace; {stats['requests']} requests; "
          f"killed after {(killed_ns - t0_ns) / 1e9:.1f} s with {delivered_at_kill} delivered "
          f"and {committed_at_kill} committed; all delivered {(done_ns - t0_ns) / 1e9:.1f} s "
          f"after the start; {redelivered} redeliveries; {len(watcher.seen)} commit observations, "
          f"{len(commits)} distinct, {watcher.errors} failed polls; {delay_s:.1f} s "
          f"of function time in all")
    assert stats["max_in_flight"] >= 4, (
        f"the function saw at most {stats['max_in_flight']} invocations at once")


def test_a_retried_record_is_not_overtaken_by_later_records_of_its_key(
        kafka, fn_server, bridges, group, tmp_path):
    # 40 records per key, keys taking turns: a lane holds 40 records, a
    # batch of 64 takes one lane whole and part of the next, so batches mix
    # keys and a failed record is followed in its batch by records of its
    # key (to retry with it) and of another key (to deliver).
    keys = [KEYS[i % 16] for i in range(16 * 40)]
    by_offset = produce_keyed(kafka, "keyed-retry", keys)
    n = len(keys)
    keyed = offsets_by_key(by_offset)
    # Whole-request failures once, and partial batch responses once, each
    # naming an early record of some key.
    fail_once = [keyed[KEYS[k]][1] for k in (2, 9)]
    partial_once = [keyed[KEYS[k]][i] for k, i in ((1, 0), (4, 3), (7, 10), (12, 25))]
    trace = Trace(tmp_path / "trace.txt", by_offset)
    args = ["--delay-ms", 20, "--trace", trace.path]
    for o in fail_once:
        args += ["--fail-once", f"keyed-retry-0-{o}"]
    for o in partial_once:
        args += ["--partial-once", f"keyed-retry-0-{o}"]
    fn = fn_server(*args)
    pipeline = keyed_pipeline("retry", kafka, "keyed-retry", group, fn, tmp_path,
                              batch={"max_records": 64, "max_wait": "20ms"},
                              retry={"max_attempts": 10,
                                     "backoff": {"initial": "50ms", "max": "200ms"}})
    watcher = CommitWatcher(kafka, "keyed-retry", group)
    try:
        b = bridges.start([pipeline])
        # Committed to the end with records not delivered: fnbridge counted
        # them delivered; the checks below say which.
        wait_until(lambda: len(trace.refresh().first_ok) == n or watcher.latest() == n
                   or not b.running(), 60 * SLOW, "every record delivered")
        assert b.running(), f"fnbridge exited with {b.popen.returncode}"
        stop_cleanly(b)
        wait_until(lambda: watcher.latest() == n, 30 * SLOW,
                   f"the committed offset to reach {n}")
    finally:
        watcher.stop()
    trace.refresh()

    check_every_record_delivered(trace, by_offset)
    check_first_arrivals_in_key_order(trace, by_offset)
    check_no_overtaking(trace, by_offset)
    check_commits_behind_answers(trace, watcher, n)
    not_failed = set(fail_once + partial_once) - set(trace.failed)
    assert not not_failed, f"injected failures that did not happen: {not_failed}"
    assert read_dlq(tmp_path / "retry-dlq.jsonl") == []
    # The partial failures had later records of their key in the same
    # request (retried with them, not delivered ahead of them).
    followed = [o for o in partial_once
                if any(later in trace.arrived[req][1]
                       for req in trace.failed[o] for later in keyed[by_offset[o]]
                       if later > o)]
    assert followed, "no partial failure had a later record of its key in its batch"
    print(f"{len(followed)} of {len(partial_once)} partial failures had later records "
          f"of their key in the same batch; {len(trace.arrived)} requests")
