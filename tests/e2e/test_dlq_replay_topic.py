"""`fnbridge dlq replay --from-topic` (README: Replaying dead letters), with
real parts: a pipeline from the mock Kafka cluster to an HTTP function that
fails fills a dead-letter topic through the kafka sink; replay turns each
message back into its record and sends it through the pipeline to a
function that is now healthy, partly failing (batchItemFailures naming
records), or killed mid-run. Records are known by the `seq` kproduce put
in their values; what is checked is always the same: every record reached
the function or is still in the dead-letter topic or the parked topic, and
the replay group's committed offsets say how far it got."""
import base64
import json
import random
import signal
import subprocess
import threading
import time

from confluent_kafka import Consumer, TopicPartition

from helpers import (FNBRIDGE, SLOW, event_records, http_function, kafka_pipeline,
                     produce, run_fnbridge, stop_cleanly, wait_until, write_config)
from mqtt_helpers import CaptureFunction

TOPICS = {"lines": 1, "lines.dlq": 1, "healthy": 2, "healthy.dlq": 2, "partly": 2, "partly.dlq": 2,
          "partly.dlq.parked": 1, "dry": 1, "dry.dlq": 1, "kill": 2, "kill.dlq": 2,
          "kill.dlq.parked": 1, "twice": 1, "twice.dlq": 1}
GROUP = "fnbridge-replay-orders"
RECORDS_PER_EVENT = 5


def seq_of(record):
    return json.loads(base64.b64decode(record["value"]))["seq"]


def record_id(r):
    return f"{r['topic']}-{r['partition']}-{r['offset']}"


class Function:
    """An HTTP function (lambda format) that names the records whose seq is
    in `failing` (or every record, with fail_all) in batchItemFailures, and
    remembers the records it took."""

    def __init__(self, delay=0.0):
        self.failing = set()
        self.fail_all = False
        self.delay = delay
        self.taken = set()       # seqs answered as succeeded
        self.records = []        # every record received, as sent
        self.arrived = 0         # events received (counted before the delay)
        self.lock = threading.Lock()
        self.fn = CaptureFunction(self.respond)
        self.url = self.fn.url

    def respond(self, event):
        with self.lock:
            self.arrived += 1
        if self.delay:
            time.sleep(self.delay)
        recs = event_records(event)
        failed = [r for r in recs if self.fail_all or seq_of(r) in self.failing]
        with self.lock:
            self.records += recs
            self.taken |= {seq_of(r) for r in recs if r not in failed}
        if self.fail_all:
            return 500, b'{"errorMessage":"down"}'
        answer = {"batchItemFailures": [{"itemIdentifier": record_id(r)} for r in failed]}
        return 200, json.dumps(answer).encode()

    def close(self):
        self.fn.close()


def pipeline(kafka, topic, group, url):
    return kafka_pipeline("orders", kafka, topic, group, http_function(url),
                          batch={"max_records": RECORDS_PER_EVENT, "max_wait": "20ms"},
                          retry={"max_attempts": 2, "bisect_on_error": False,
                                 "backoff": {"initial": "10ms", "max": "20ms"}},
                          dead_letter={"kafka": {"topic": f"{topic}.dlq"}})


def watermarks(kafka, topic):
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "wm"})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10 * SLOW)[1]
                for p in range(kafka.topics[topic])]
    finally:
        c.close()


def committed(kafka, topic, group=GROUP):
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(kafka.topics[topic])]
        return [tp.offset for tp in c.committed(tps, timeout=10 * SLOW)]
    finally:
        c.close()


def reached(kafka, topic, ends):
    """The replay group's committed offsets are ends (an empty partition:
    nothing to commit)."""
    return all(c == e or (e == 0 and c == -1001)
               for c, e in zip(committed(kafka, topic), ends))


def read_all(kafka, topic):
    """Every message of topic now: [(partition, offset, key, value, headers)]."""
    ends = watermarks(kafka, topic)
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"read-{time.time()}",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(len(ends))])
    got = []
    try:
        def done():
            msg = c.poll(0.2)
            if msg is not None and not msg.error():
                got.append((msg.partition(), msg.offset(), msg.key(), msg.value(),
                            dict((k, v.decode("latin-1")) for k, v in msg.headers() or [])))
            return len(got) >= sum(ends)
        wait_until(done, 30 * SLOW, f"{sum(ends)} messages in {topic}", interval=0)
    finally:
        c.close()
    return got


def seqs(messages):
    return [json.loads(m[3])["seq"] for m in messages]


def fill(kafka, bridges, group, topic, count, start_seq):
    """count records through a failing function into topic.dlq."""
    failing = Function()
    failing.fail_all = True
    try:
        b = bridges.start([pipeline(kafka, topic, group, failing.url)], name="daemon")
        produced = produce(kafka, topic, count, "--start-seq", start_seq, "--headers")
        wait_until(lambda: sum(watermarks(kafka, f"{topic}.dlq")) >= count
                   or not b.running(), 60 * SLOW, f"{count} records dead-lettered")
        stop_cleanly(b)
    finally:
        failing.close()
    assert sum(watermarks(kafka, f"{topic}.dlq")) == count
    return produced, set(range(start_seq, start_seq + count))


def config_for(tmp_path, kafka, topic, group, url):
    return write_config(tmp_path / "replay.json", [pipeline(kafka, topic, group, url)],
                        tmp_path / "replay-state")


def replay(config, topic, *args, timeout=120):
    return run_fnbridge("dlq", "replay", "-c", config, "--pipeline", "orders",
                        "--from-topic", f"{topic}.dlq", *args, timeout=timeout)


def summary(stdout, what):
    """(lines, records) of one summary row."""
    for line in stdout.splitlines():
        if line.strip().startswith(what):
            rest = line.split(":", 1)[1].split()
            return int(rest[0]), int(rest[1].lstrip("("))
    raise AssertionError(f"no {what!r} row in {stdout!r}")


def test_healthy_function_takes_every_record_and_the_group_reaches_the_end(
        kafka, bridges, group, tmp_path):
    produced, want = fill(kafka, bridges, group, "healthy", 30, 0)
    fn = Function()
    try:
        config = config_for(tmp_path, kafka, "healthy", group, fn.url)
        r = replay(config, "healthy")
        assert r.returncode == 0, r.stdout + r.stderr
        assert summary(r.stdout, "succeeded:") == (30, 30)
        assert summary(r.stdout, "failed again:") == (0, 0)
        assert fn.taken == want
        # Each record is the one first read: its coordinates, its own
        # headers, none of fnbridge.dlq.*.
        assert {record_id(r) for r in fn.records} == produced.ids
        for rec in fn.records:
            names = [n for h in rec["headers"] for n in h]
            assert names and not any(n.startswith("fnbridge.dlq.") for n in names), names
        assert reached(kafka, "healthy.dlq", watermarks(kafka, "healthy.dlq"))
        seen = len(fn.records)
        r = replay(config, "healthy")
        assert r.returncode == 0 and summary(r.stdout, "succeeded:") == (0, 0), r.stdout
        assert len(fn.records) == seen
    finally:
        fn.close()


def test_partly_failing_writes_back_with_replay_count_then_parks_past_the_limit(
        kafka, bridges, group, tmp_path):
    produced, want = fill(kafka, bridges, group, "partly", 20, 100)
    fn = Function()
    fn.failing = {103, 111, 117}
    try:
        config = config_for(tmp_path, kafka, "partly", group, fn.url)
        start = watermarks(kafka, "partly.dlq")
        r = replay(config, "partly")
        assert r.returncode == 1, r.stdout + r.stderr
        assert summary(r.stdout, "succeeded:") == (17, 17)
        assert summary(r.stdout, "failed again:") == (3, 3)
        assert fn.taken == want - fn.failing
        assert sum(watermarks(kafka, "partly.dlq")) == 23
        # Committed up to where it began: what it wrote back is for the next run.
        assert reached(kafka, "partly.dlq", start), committed(kafka, "partly.dlq")
        back = [m for m in read_all(kafka, "partly.dlq") if m[4]["fnbridge.dlq.replay_count"] != "0"]
        assert sorted(seqs(back)) == sorted(fn.failing)
        for m in back:
            h = m[4]
            assert h["fnbridge.dlq.replay_count"] == "1"
            assert h["fnbridge.dlq.pipeline"] == "orders"
            assert f"{h['fnbridge.dlq.topic']}-{h['fnbridge.dlq.partition']}-" \
                   f"{h['fnbridge.dlq.offset']}" in produced.ids
            assert h["fnbridge.dlq.attempts"] == "2"

        # Past the limit: not sent, kept aside in partly.dlq.parked.
        sent = len(fn.records)
        r = replay(config, "partly", "--max-replays", "1")
        assert r.returncode == 1, r.stdout + r.stderr
        assert summary(r.stdout, "kept aside:") == (3, 3)
        assert len(fn.records) == sent, "a record past the limit is not sent"
        parked = read_all(kafka, "partly.dlq.parked")
        assert sorted(seqs(parked)) == sorted(fn.failing)
        assert all(m[4]["fnbridge.dlq.replay_count"] == "1" for m in parked)
        assert reached(kafka, "partly.dlq", watermarks(kafka, "partly.dlq"))
        r = replay(config, "partly")
        assert r.returncode == 0 and summary(r.stdout, "succeeded:") == (0, 0), r.stdout
    finally:
        fn.close()


def test_dry_run_counts_and_commits_nothing(kafka, bridges, group, tmp_path):
    _, want = fill(kafka, bridges, group, "dry", 8, 200)
    fn = Function()
    try:
        config = config_for(tmp_path, kafka, "dry", group, fn.url)
        r = replay(config, "dry", "--dry-run")
        assert r.returncode == 0, r.stdout + r.stderr
        assert summary(r.stdout, "would send:") == (8, 8)
        assert "dry.dlq[0]@0: pipeline=orders record=dry-0-" in r.stdout
        assert fn.records == []
        assert committed(kafka, "dry.dlq") == [-1001], "nothing committed"
        assert sum(watermarks(kafka, "dry.dlq")) == 8, "nothing written"
        r = replay(config, "dry")
        assert r.returncode == 0 and fn.taken == want, r.stdout + r.stderr
    finally:
        fn.close()


def test_a_second_replay_of_the_pipeline_is_refused_while_one_runs(
        kafka, bridges, group, tmp_path):
    """Replay assigns itself every partition: two at once would both send
    every letter. The second is refused, naming the lock; the first ends
    with every record taken once."""
    _, want = fill(kafka, bridges, group, "twice", 4, 300)
    fn = Function(delay=1.0)
    try:
        config = config_for(tmp_path, kafka, "twice", group, fn.url)
        (tmp_path / "replay-state").mkdir()     # as the daemon leaves it
        first = subprocess.Popen([FNBRIDGE, "dlq", "replay", "-c", config, "--pipeline",
                                  "orders", "--from-topic", "twice.dlq"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: fn.arrived >= 1 or first.poll() is not None, 60 * SLOW,
                       "the first replay to call the function")
            second = replay(config, "twice")
            assert second.returncode == 2, second.stdout + second.stderr
            assert "--from-topic twice.dlq: another `fnbridge dlq replay --from-topic` of " \
                "pipeline orders is running" in second.stderr, second.stderr
            assert "replay/orders/twice.dlq.lock" in second.stderr
            out, err = first.communicate(timeout=120)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        assert first.returncode == 0, out + err
        assert fn.taken == want and len(fn.records) == 4, fn.records
        # Done: the lock is free again (a dry run takes none; a real run must get it).
        again = replay(config, "twice")
        assert again.returncode == 0 and "warning" not in again.stderr, again.stderr
    finally:
        fn.close()


def test_a_topic_name_kafka_would_refuse_is_refused_before_any_path(kafka, tmp_path):
    config = config_for(tmp_path, kafka, "twice", "g-bad-name", "http://127.0.0.1:9/")
    for bad in ("../../etc", "a/b", "", "..", "x" * 250):
        r = run_fnbridge("dlq", "replay", "-c", config, "--pipeline", "orders",
                         "--from-topic", bad)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert "not a Kafka topic name" in r.stderr, (bad, r.stderr)
    assert not (tmp_path / "replay-state").exists(), "nothing created for a refused name"


def test_kill_9_at_any_moment_loses_nothing(kafka, bridges, group, tmp_path):
    _, want = fill(kafka, bridges, group, "kill", 60, 300)
    fn = Function(delay=0.3)
    fn.failing = {s for s in want if s % 7 == 0}
    rng = random.Random(13)
    try:
        config = config_for(tmp_path, kafka, "kill", group, fn.url)
        argv = [FNBRIDGE, "dlq", "replay", "-c", str(config), "--pipeline", "orders",
                "--from-topic", "kill.dlq"]
        killed = 0
        for round_ in range(6):
            err = tmp_path / f"replay{round_}.err"
            with open(err, "w") as stderr:
                p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
            # The moment: before it sent anything, or once k more events
            # reached the function (held there by its delay, in flight).
            k, base = rng.choice([0, 1, 2, 4, 7]), fn.arrived
            if k:
                wait_until(lambda: fn.arrived >= base + k or p.poll() is not None,
                           60 * SLOW, f"{k} events sent")
            killed += p.poll() is None
            p.send_signal(signal.SIGKILL)
            rc = p.wait(30)
            assert rc in (-signal.SIGKILL, 0, 1), err.read_text()[-3000:]
        print(f"killed {killed} of 6 replays mid-run; {len(fn.records)} records sent")
        assert killed >= 4, "the replays ended before the kill: nothing was tested"
        fn.failing = set()
        r = replay(config, "kill")
        # 1 when records that failed in three killed runs were kept aside.
        assert r.returncode in (0, 1), r.stdout + r.stderr
        assert summary(r.stdout, "failed again:") == (0, 0)
        parked = seqs(read_all(kafka, "kill.dlq.parked")) \
            if sum(watermarks(kafka, "kill.dlq.parked")) else []
        missing = want - fn.taken - set(parked)
        assert not missing, f"lost: {sorted(missing)}"
        assert reached(kafka, "kill.dlq", watermarks(kafka, "kill.dlq"))
        r = replay(config, "kill")
        assert r.returncode == 0 and summary(r.stdout, "succeeded:") == (0, 0), r.stdout
    finally:
        fn.close()


def test_a_file_letter_failing_again_goes_to_the_pipelines_kafka_sink(
        kafka, bridges, group, tmp_path):
    """The letters of a dead-letter file (the pipeline's sink was a file
    before) replayed into a pipeline whose sink is now kafka: those that
    fail again go to its topic, not to a dead-letter file it never reads."""
    failing = Function()
    failing.fail_all = True
    dlq = tmp_path / "old" / "orders.jsonl"
    file_sink = kafka_pipeline("orders", kafka, "lines", group, http_function(failing.url),
                               dlq=dlq, batch={"max_records": RECORDS_PER_EVENT,
                                               "max_wait": "20ms"},
                               retry={"max_attempts": 1, "bisect_on_error": False})
    try:
        b = bridges.start([file_sink], name="daemon")
        produce(kafka, "lines", 10, "--start-seq", 400)
        wait_until(lambda: dlq.exists() and dlq.read_text().count("\n") >= 1 and
                   sum(len(event_records(json.loads(l)["payload"]))
                       for l in dlq.read_text().splitlines()) >= 10 or not b.running(),
                   60 * SLOW, "10 records dead-lettered to the file")
        stop_cleanly(b)
    finally:
        failing.close()
    n_lines = len(dlq.read_text().splitlines())
    fn = Function()
    fn.fail_all = True
    try:
        config = config_for(tmp_path, kafka, "lines", group, fn.url)
        r = run_fnbridge("dlq", "replay", "-c", config, "--pipeline", "orders",
                         "--from", dlq, timeout=120)
        assert r.returncode == 1, r.stdout + r.stderr
        assert summary(r.stdout, "failed again:") == (n_lines, 10)
        assert "written back to kafka topic lines.dlq at" in r.stdout
        assert not (tmp_path / "replay-state" / "dlq").exists(), \
            "nothing goes to a dead-letter file the pipeline does not use"
        msgs = read_all(kafka, "lines.dlq")
        assert len(msgs) == n_lines
        for m in msgs:
            letter = json.loads(m[3])
            assert letter["replayCount"] == 1 and letter["pipeline"] == "orders"
            assert m[4]["fnbridge.dlq.replay_count"] == "1"
            assert m[4]["fnbridge.dlq.line"] == "1"
        assert sorted(s for m in msgs for s in map(seq_of, event_records(
            json.loads(m[3])["payload"]))) == list(range(400, 410))
        assert dlq.stat().st_size == 0, "every line left the file"
        # A pipeline whose sink is a file has no topic to replay from.
        file_config = write_config(tmp_path / "file.json", [file_sink], tmp_path / "fs")
        r = run_fnbridge("dlq", "replay", "-c", file_config, "--pipeline", "orders",
                         "--from-topic", "lines.dlq")
        assert r.returncode == 2 and "needs a kafka dead-letter sink" in r.stderr, r.stderr
        # Without --from, the pipeline has no file to read from.
        r = run_fnbridge("dlq", "replay", "-c", config, "--pipeline", "orders")
        assert r.returncode == 2 and "--from-topic TOPIC or --from FILE" in r.stderr, r.stderr
    finally:
        fn.close()
