"""`fnbridge dlq replay` (README: Replaying dead letters), with real parts: a
pipeline from the mock Kafka cluster to an HTTP function that fails
produces the dead letters; replay re-drives them through a function that
is now healthy, partly failing, blocking (to kill -9 the replay mid-line)
or slow while the daemon keeps appending to the same file. Records are
known by the `seq` kproduce put in their values; the check that matters is
always the same: every record reached the function or is still in the
dead-letter file or the parked file."""
import base64
import json
import os
import random
import signal
import threading
import time
from pathlib import Path

from helpers import (FNBRIDGE, SLOW, event_records, http_function, kafka_pipeline,
                     produce, run_fnbridge, stop_cleanly, wait_until, write_config)
from mqtt_helpers import CaptureFunction

TOPICS = {"healthy": 2, "partly": 2, "dry": 2, "junk": 2, "lock": 2, "kill": 2, "live": 1}


def seqs_of(event):
    """The kproduce sequence numbers of an event's records (lambda format)."""
    return [json.loads(base64.b64decode(r["value"]))["seq"] for r in event_records(event)]


class Function:
    """An HTTP function whose behaviour the test changes as it goes: fail
    events holding a seq of `failing` (500), block while `gate` is closed,
    and remember which seqs it took (answered 200)."""

    def __init__(self, delay=0.0):
        self.failing = set()
        self.fail_all = False
        self.gate = threading.Event()
        self.gate.set()
        self.taken = []          # seqs answered 200, per event
        self.seen = 0            # events received
        self.delay = delay
        self.lock = threading.Lock()
        self.fn = CaptureFunction(self.respond)
        self.url = self.fn.url

    def respond(self, event):
        with self.lock:
            self.seen += 1
        self.gate.wait(60)
        if self.delay:
            time.sleep(self.delay)
        seqs = seqs_of(event)
        if self.fail_all or self.failing & set(seqs):
            return 500, b'{"errorMessage":"still failing"}'
        with self.lock:
            self.taken.append(seqs)
        return 200, b""

    def taken_seqs(self):
        with self.lock:
            return {s for seqs in self.taken for s in seqs}

    def close(self):
        self.gate.set()
        self.fn.close()


def lines_of(path):
    """The dead-letter lines a reader sees: blank (cleared) lines skipped."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().split("\n") if l.strip()]


def dlq_seqs(path):
    return [s for entry in lines_of(path) for s in seqs_of(entry["payload"])]


def pipeline(kafka, topic, group, url, dlq, max_records=5):
    return kafka_pipeline("orders", kafka, topic, group, http_function(url), dlq=dlq,
                          batch={"max_records": max_records, "max_wait": "20ms"},
                          retry={"max_attempts": 2, "bisect_on_error": False,
                                 "backoff": {"initial": "10ms", "max": "20ms"}})


def dead_letters(kafka, bridges, group, tmp_path, count, start_seq, topic):
    """count records produced and dead-lettered by a function that fails;
    returns (dlq path, produced seqs)."""
    failing = Function()
    failing.fail_all = True
    dlq = tmp_path / "dlq" / "orders.jsonl"
    try:
        b = bridges.start([pipeline(kafka, topic, group, failing.url, dlq)], name="daemon")
        produce(kafka, topic, count, "--start-seq", start_seq)
        want = set(range(start_seq, start_seq + count))
        wait_until(lambda: want <= set(dlq_seqs(dlq)) or not b.running(), 60 * SLOW,
                   f"{count} records dead-lettered")
        stop_cleanly(b)
    finally:
        failing.close()
    return dlq, want


def replay_config(tmp_path, kafka, group, url, dlq, name="replay.json"):
    """The same pipeline (same name, same dead-letter file) with the
    function the replay should use."""
    return write_config(tmp_path / name, [pipeline(kafka, "orders", group, url, dlq)],
                        tmp_path / "replay-state")


def replay(config, *args, timeout=120):
    return run_fnbridge("dlq", "replay", "-c", config, "--pipeline", "orders", *args,
                        timeout=timeout)


def summary(stdout, what):
    """(lines, records) of one summary row."""
    for line in stdout.splitlines():
        if line.strip().startswith(what):
            rest = line.split(":", 1)[1].split()
            lines = int(rest[0].rstrip(","))
            return lines, int(rest[1].lstrip("(")) if len(rest) > 1 and rest[1][0] == "(" else None
    raise AssertionError(f"no {what!r} row in {stdout!r}")


def test_healthy_function_takes_every_letter_and_the_file_ends_empty(
        kafka, bridges, group, tmp_path):
    dlq, want = dead_letters(kafka, bridges, group, tmp_path, 20, 0, "healthy")
    n_lines = len(lines_of(dlq))
    fn = Function()
    try:
        r = replay(replay_config(tmp_path, kafka, group, fn.url, dlq))
        assert r.returncode == 0, r.stdout + r.stderr
        assert fn.taken_seqs() == want
        assert summary(r.stdout, "succeeded:") == (n_lines, 20)
        assert summary(r.stdout, "failed again:") == (0, 0)
        assert dlq.stat().st_size == 0, "every line done: the file is compacted"
        # The event is exactly the one sent the first time.
        assert all(len(e["records"]) >= 1 for e in fn.fn.events)
    finally:
        fn.close()


def test_partly_failing_writes_back_with_replay_count_then_parks_past_the_limit(
        kafka, bridges, group, tmp_path):
    dlq, want = dead_letters(kafka, bridges, group, tmp_path, 20, start_seq=100, topic="partly")
    before = lines_of(dlq)
    fn = Function()
    fn.failing = {103, 117}
    bad = [e for e in before if fn.failing & set(seqs_of(e["payload"]))]
    bad_records = sum(len(seqs_of(e["payload"])) for e in bad)
    config = replay_config(tmp_path, kafka, group, fn.url, dlq)
    try:
        r = replay(config)
        assert r.returncode == 1, r.stdout + r.stderr
        assert summary(r.stdout, "failed again:") == (len(bad), bad_records)
        assert summary(r.stdout, "succeeded:") == (len(before) - len(bad), 20 - bad_records)
        after = lines_of(dlq)
        assert sorted(seqs_of(e["payload"]) for e in after) == \
            sorted(seqs_of(e["payload"]) for e in bad)
        for e in after:
            assert e["replayCount"] == 1
            assert e["responseContext"]["statusCode"] == 500
            assert "still failing" in e["responseContext"]["body"]
            assert e["requestContext"]["approximateInvokeCount"] == 2
            assert e["source"] == next(o["source"] for o in bad
                                       if seqs_of(o["payload"]) == seqs_of(e["payload"]))
        assert fn.taken_seqs() == want - set(dlq_seqs(dlq))
        assert "written back with replayCount 1" in r.stderr

        # Past the limit: not sent, kept aside beside the file.
        seen = fn.seen
        r = replay(config, "--max-replays", "1")
        assert r.returncode == 1, r.stdout + r.stderr
        assert fn.seen == seen, "a letter past the limit is not sent"
        assert summary(r.stdout, "kept aside:") == (len(bad), bad_records)
        parked = dlq.with_name("orders.parked.jsonl")
        assert sorted(dlq_seqs(parked)) == sorted(s for e in bad for s in seqs_of(e["payload"]))
        assert lines_of(dlq) == []
        assert dlq.stat().st_size == 0
        r = replay(config)
        assert r.returncode == 0 and summary(r.stdout, "succeeded:") == (0, 0), r.stdout
    finally:
        fn.close()


def test_dry_run_reports_and_changes_nothing(kafka, bridges, group, tmp_path):
    dlq, _ = dead_letters(kafka, bridges, group, tmp_path, 10, start_seq=200, topic="dry")
    data = dlq.read_bytes()
    n_lines = len(lines_of(dlq))
    fn = Function()
    try:
        r = replay(replay_config(tmp_path, kafka, group, fn.url, dlq), "--dry-run")
        assert r.returncode == 0, r.stdout + r.stderr
        assert summary(r.stdout, "would send:") == (n_lines, 10)
        assert f"{dlq}:1: pipeline=orders condition=RetryAttemptsExhausted replayCount=0" \
            in r.stdout
        assert fn.seen == 0
        assert dlq.read_bytes() == data
        assert sorted(p.name for p in dlq.parent.iterdir()) == ["orders.jsonl"]
    finally:
        fn.close()


def test_lines_that_are_not_dead_letters_stay_named_and_counted(
        kafka, bridges, group, tmp_path):
    dlq, want = dead_letters(kafka, bridges, group, tmp_path, 5, start_seq=300, topic="junk")
    good = dlq.read_text()
    other = json.loads(good.splitlines()[0])
    other["pipeline"] = "someone-else"
    junk = ["not json at all", '{"version":"1.0"}', json.dumps(other),
            '{"pipeline":"orders","payload":"%%%","payloadEncoding":"base64"}']
    dlq.write_text("\n".join(junk) + "\n" + good + '{"torn": ')
    fn = Function()
    try:
        r = replay(replay_config(tmp_path, kafka, group, fn.url, dlq))
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"{dlq}:1: not a JSON object" in r.stderr
        assert f"{dlq}:2: no \"pipeline\" string" in r.stderr
        assert f"{dlq}:4: \"payload\" is not base64" in r.stderr
        last = len(junk) + len(good.splitlines()) + 1
        assert f"{dlq}:{last}: an incomplete line" in r.stderr
        assert "left in place" in r.stderr
        assert summary(r.stdout, "not dead letters:")[0] == 4
        assert summary(r.stdout, "other pipelines:") == (1, len(seqs_of(other["payload"])))
        assert fn.taken_seqs() == want
        kept = [l for l in dlq.read_text().split("\n") if l.strip()]
        assert kept == [junk[0], junk[1], junk[2], junk[3], '{"torn": ']
    finally:
        fn.close()


def test_usage_errors():
    r = run_fnbridge("dlq", "replay", "-c", "x.yaml", "--pipeline", "p", "--from-topic", "t",
                     "--from", "f")
    assert r.returncode == 2 and "exclude each other" in r.stderr
    r = run_fnbridge("dlq", "replay", "-c", "x.yaml")
    assert r.returncode == 2 and "--pipeline NAME" in r.stderr
    r = run_fnbridge("dlq", "replay", "-c", "x.yaml", "-p", "p", "--max-replays", "-1")
    assert r.returncode == 2 and "not a count" in r.stderr
    r = run_fnbridge("help", "dlq")
    assert r.returncode == 0 and "--max-replays" in r.stdout
    r = run_fnbridge("dlq")
    assert r.returncode == 2


def test_a_second_replay_at_the_same_time_is_refused(kafka, bridges, group, tmp_path, procs):
    dlq, want = dead_letters(kafka, bridges, group, tmp_path, 5, start_seq=400, topic="lock")
    fn = Function()
    fn.gate.clear()
    config = replay_config(tmp_path, kafka, group, fn.url, dlq)
    try:
        first = procs.start([FNBRIDGE, "dlq", "replay", "-c", config, "-p", "orders"], "first")
        wait_until(lambda: fn.seen >= 1, 30 * SLOW, "the first replay to send")
        r = replay(config)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "is being replayed by another" in r.stderr
        fn.gate.set()
        assert first.wait(60 * SLOW) == 0, first.stderr()
        assert fn.taken_seqs() == want
    finally:
        fn.close()


def test_kill_9_at_any_moment_loses_nothing(kafka, bridges, group, tmp_path, procs):
    """Kills land mid-line (the function holds the request) and at random
    moments of a run whose function fails a third of the letters (so that
    kills also land between a write-back and the clearing); a final full
    replay must leave every record taken by the function or parked."""
    dlq, want = dead_letters(kafka, bridges, group, tmp_path, 40, start_seq=500, topic="kill")
    fn = Function()
    config = replay_config(tmp_path, kafka, group, fn.url, dlq)
    rnd = random.Random(13)
    try:
        for i in range(8):
            fn.failing = {s for s in want if s % 3 == i % 3}
            p = procs.start([FNBRIDGE, "dlq", "replay", "-c", config, "-p", "orders",
                             "--max-replays", "2"], f"replay{i}")
            if i % 2 == 0:
                # Mid-line: the function holds the (n+1)th request of this run.
                n = fn.seen + 1 + i // 2
                fn.gate.clear()
                wait_until(lambda: fn.seen >= n or not p.running(), 30 * SLOW,
                           "the replay to send")
            else:
                time.sleep(rnd.uniform(0.0, 0.3))
            p.kill()
            fn.gate.set()
            # Every record is somewhere: taken, still dead-lettered, or parked.
            parked = dlq.with_name("orders.parked.jsonl")
            where = fn.taken_seqs() | set(dlq_seqs(dlq)) | set(dlq_seqs(parked))
            assert want <= where, f"round {i}: lost {sorted(want - where)}"
        fn.failing = set()
        r = replay(config, "--max-replays", "1000")
        assert r.returncode == 0, r.stdout + r.stderr
        parked = dlq.with_name("orders.parked.jsonl")
        assert want <= fn.taken_seqs() | set(dlq_seqs(parked))
        assert lines_of(dlq) == []
        # Parked letters come back with --from, as any dead-letter file.
        if parked.exists() and lines_of(parked):
            r = replay(config, "--from", parked, "--max-replays", "1000")
            assert r.returncode == 0, r.stdout + r.stderr
        assert want <= fn.taken_seqs()
    finally:
        fn.close()


def test_the_daemon_appends_while_replay_runs(kafka, bridges, group, tmp_path, procs):
    """The daemon keeps dead-lettering into the file while a slow replay
    works through it: its lines stay whole, those appended during the run
    are not replayed in it, and nothing is lost."""
    dlq, first = dead_letters(kafka, bridges, group, tmp_path, 30, start_seq=1000,
                              topic="live")
    failing = Function()
    failing.fail_all = True
    healthy = Function(delay=0.05)
    try:
        daemon = bridges.start([pipeline(kafka, "live", group, failing.url, dlq,
                                         max_records=2)], name="daemon2")
        config = replay_config(tmp_path, kafka, group, healthy.url, dlq)
        produce(kafka, "live", 40, "--start-seq", 2000, "--rate", 200)
        wait_until(lambda: len(dlq_seqs(dlq)) > 30 or not daemon.running(), 30 * SLOW,
                   "the daemon to dead-letter more")
        r = replay(config)
        assert r.returncode == 0, r.stdout + r.stderr
        taken_in_run = healthy.taken_seqs()
        assert first <= taken_in_run
        stop_cleanly(daemon)
        rest = set(dlq_seqs(dlq))
        assert not (rest & taken_in_run), "a line sent in the run left the file"
        r = replay(config)
        assert r.returncode == 0, r.stdout + r.stderr
        assert first | set(range(2000, 2040)) <= healthy.taken_seqs()
        assert dlq.stat().st_size == 0
    finally:
        failing.close()
        healthy.close()
