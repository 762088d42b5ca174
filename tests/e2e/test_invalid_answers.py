"""Answers that open as a JSON object but do not parse (README: Outcomes):
they may hide the failures they list, so they fail the whole batch, which is
retried, bisected and dead-lettered with the parser's reason, and nothing of
it is committed before that. A \\u0000 inside a string is valid JSON: its
list is honoured. Every target kind reads the answer the same way, and so
does `fnbridge invoke`.

The functions here answer every invocation with the hostile body, naming
the batch's second record (when the batch holds it) in batchItemFailures.
While a case runs, the group's committed offset is read from the mock
cluster again and again: it must never pass a record that is not yet in
the dead-letter file."""
import json
import re
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from helpers import (PYTHON, REPO, SLOW, event_ids, kafka_pipeline, produce, run_fnbridge,
                     stop_cleanly, wait_until, write_config)

sys.path.insert(0, str(REPO / "tests" / "tools"))
from fake_http import Server, read_body, send  # noqa: E402

RECORDS = 4
MAX_ATTEMPTS = 2

# The hostile bodies, as Python source: the exec handlers below embed it, so
# every target gets exactly the same bytes. answer(case, named) -> bytes,
# named being the Kafka identifiers to list in batchItemFailures.
BODIES = textwrap.dedent(r'''
    import json

    def answer(case, named):
        fails = {"batchItemFailures": [{"itemIdentifier": n} for n in named]}
        listed = json.dumps(fails)[1:-1]
        if case == "nan":             # Python's json.dumps writes these by default
            return json.dumps({**fails, "score": float("nan")}).encode()
        if case == "infinity":
            return json.dumps({**fails, "score": float("inf")}).encode()
        if case == "minus-infinity":
            return json.dumps({**fails, "score": float("-inf")}).encode()
        if case == "nul-in-key":
            return json.dumps({**fails, "a\0b": 1}).encode()
        if case == "lone-surrogate":
            return json.dumps({**fails, "note": "\ud800"}).encode()
        if case == "latin-1":
            return json.dumps({**fails, "city": "Z\xfcrich"},
                              ensure_ascii=False).encode("latin-1")
        if case == "1e999":
            return ("{" + listed + ', "score": 1e999}').encode()
        if case == "deep":
            return ("{" + listed + ', "deep": ' + "[" * 3000 + "]" * 3000 + "}").encode()
        if case == "log-line":        # an exec function's stdout: JSON, then a log line
            return (json.dumps(fails) + "\nINFO handled the batch\n").encode()
        if case == "nul-in-string":   # valid JSON: the list is honoured
            return json.dumps({**fails, "note": "a\0b"}).encode()
        raise ValueError(case)
''')
_bodies = {}
exec(BODIES, _bodies)
answer = _bodies["answer"]

# case -> what jansson says about it (a part of the dead letter's functionError)
INVALID = {
    "nan": "invalid token near 'NaN'",
    "infinity": "invalid token near 'Infinity'",
    "minus-infinity": "invalid token near '-'",
    "nul-in-key": "NUL byte in object key not supported",
    "lone-surrogate": "invalid Unicode '\\uD800'",
    "latin-1": "unable to decode byte 0xfc",
    "1e999": "real number overflow",
    "deep": "maximum parsing depth reached",
    "log-line": "end of file expected near 'INFO'",
}
VALID = ["nul-in-string"]

# The other targets, each with the body most likely to reach it.
TARGET_CASES = [("lambda", "nan"), ("openfaas", "lone-surrogate"),
                ("exec-stdio", "log-line"), ("exec-runtime-api", "nan")]

TOPICS = {**{f"inv-{c}": 1 for c in list(INVALID) + VALID},
          **{f"inv-{t}": 1 for t, _ in TARGET_CASES}}


SECOND = {}     # topic -> offset of its second produced record


def named_in(records):
    """The identifiers the functions list: the batch's second record, if this
    batch holds it (the hostile body is sent either way)."""
    return [{"partition": f"{r['topic']}-{r['partition']}", "offset": r["offset"]}
            for r in records if r["offset"] == SECOND[r["topic"]]]


# ------------------------------------------------------------- functions


class HttpFunction:
    """An HTTP function answering every POST with answer(case, ...); keeps
    the record ids of each invocation. Serves http, lambda (the invoke path)
    and openfaas (/function/NAME) alike."""

    def __init__(self, case):
        self.calls = []
        self.lock = threading.Lock()

        def handle(h, method):
            body = read_body(h)
            event = json.loads(body)
            records = [r for batch in event["records"].values() for r in batch]
            with self.lock:
                self.calls.append([f"{r['topic']}-{r['partition']}-{r['offset']}"
                                   for r in records])
            send(h, 200, answer(case, named_in(records)))

        self.server = Server(handle)
        self.url = self.server.url + "/"

    def invocations(self):
        with self.lock:
            return list(self.calls)

    def close(self):
        self.server.close()


# argv: CASE SECOND_OFFSET CALLS_FILE. One process per batch (mode stdio).
STDIO_HANDLER = BODIES + textwrap.dedent(r'''
    import sys
    event = json.load(sys.stdin)
    records = [r for batch in event["records"].values() for r in batch]
    with open(sys.argv[3], "a") as f:
        f.write(json.dumps([f"{r['topic']}-{r['partition']}-{r['offset']}"
                            for r in records]) + "\n")
    named = [{"partition": f"{r['topic']}-{r['partition']}", "offset": r["offset"]}
             for r in records if r["offset"] == int(sys.argv[2])]
    sys.stdout.buffer.write(answer(sys.argv[1], named))
''')

# The same as a custom runtime (mode runtime-api): the answer is posted to
# /response.
RUNTIME = "#!/usr/bin/python3\n" + BODIES + textwrap.dedent(r'''
    import os, sys, urllib.request
    API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        try:
            with opener.open(API + "/invocation/next") as resp:
                rid = resp.headers["Lambda-Runtime-Aws-Request-Id"]
                event = json.loads(resp.read())
        except OSError:
            sys.exit(0)
        records = [r for batch in event["records"].values() for r in batch]
        with open(os.environ["CALLS"], "a") as f:
            f.write(json.dumps([f"{r['topic']}-{r['partition']}-{r['offset']}"
                                for r in records]) + "\n")
        named = [{"partition": f"{r['topic']}-{r['partition']}", "offset": r["offset"]}
                 for r in records if r["offset"] == int(os.environ["SECOND"])]
        req = urllib.request.Request(API + f"/invocation/{rid}/response",
                                     data=answer(os.environ["CASE"], named))
        opener.open(req).read()
''')


class ExecFunction:
    """The exec target (stdio or runtime-api) running the handler above;
    each invocation's record ids are a line of its calls file."""

    def __init__(self, tmp_path, mode, case, second):
        self.calls_path = tmp_path / "calls.jsonl"
        if mode == "stdio":
            handler = tmp_path / "handler.py"
            handler.write_text(STDIO_HANDLER)
            self.target = {"exec": {"command": [PYTHON, str(handler), case, str(second),
                                                str(self.calls_path)], "timeout": "20s"}}
        else:
            runtime = tmp_path / "runtime.py"
            runtime.write_text(RUNTIME)
            runtime.chmod(0o755)
            self.target = {"exec": {"command": [str(runtime)], "mode": "runtime-api",
                                    "workers": 1, "timeout": "20s",
                                    "env": {"CALLS": str(self.calls_path), "CASE": case,
                                            "SECOND": str(second)}}}

    def invocations(self):
        if not self.calls_path.exists():
            return []
        return [json.loads(line) for line in self.calls_path.read_text().splitlines()
                if line.endswith("]")]

    def close(self):
        pass


@pytest.fixture
def functions():
    started = []
    yield started
    for fn in started:
        fn.close()


def target_of(kind, fn):
    if kind == "http":
        return {"http": {"url": fn.url, "format": "lambda", "timeout": "5s"}}
    if kind == "lambda":
        return {"lambda": {"name": "fn", "endpoint": fn.url, "region": "us-east-1",
                           "access_key": "AKIDTEST", "secret_key": "test-secret",
                           "timeout": "5s"}}
    if kind == "openfaas":
        return {"openfaas": {"gateway": fn.url, "name": "fn", "timeout": "5s"}}
    return fn.target


# --------------------------------------------------------------- watching


def dlq_lines(path):
    """The complete lines of the dead-letter file, parsed. Decoded leniently:
    a body that is not UTF-8 must not hide the rest of the record."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    data = data[:data.rfind(b"\n") + 1]
    return [json.loads(line) for line in data.decode("utf-8", "replace").splitlines()
            if line.strip()]


class Committed:
    """The group's committed offset of partition 0, read from the cluster."""

    def __init__(self, kafka, topic, group):
        self.tp = TopicPartition(topic, 0)
        self.consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group,
                                  "enable.auto.commit": False})

    def offset(self):
        """The next offset the group would read, or -1 when none committed."""
        got = self.consumer.committed([self.tp], timeout=10 * SLOW)[0]
        return got.offset if got.offset >= 0 else -1

    def close(self):
        self.consumer.close()


def watch(bridge, committed, dlq, first, last, must_dead_letter):
    """Until every record of must_dead_letter is dead-lettered and the
    committed offset is past the last record: each time, the committed
    offset first, then the dead letters, so a record below the offset must
    already be in the file. Returns the dead letters."""
    state = {}

    def settled():
        if not bridge.running():
            raise AssertionError(f"fnbridge exited with {bridge.popen.returncode}")
        upto = committed.offset()
        entries = dlq_lines(dlq)
        dead = {rid for e in entries for rid in event_ids(e["payload"])}
        topic = committed.tp.topic
        early = [o for o in range(first, min(upto, last + 1))
                 if f"{topic}-0-{o}" in must_dead_letter and f"{topic}-0-{o}" not in dead]
        assert not early, (f"offset {upto} committed while records {early} were neither "
                           f"delivered nor dead-lettered (dead letters: {sorted(dead)})")
        state["entries"] = entries
        return must_dead_letter <= dead and upto == last + 1
    wait_until(settled, 60 * SLOW, "the records dead-lettered and committed", interval=0.02)
    return state["entries"]


def run_case(kafka, bridges, group, tmp_path, functions, kind, case):
    topic = f"inv-{kind if kind != 'http' else case}"
    produced = produce(kafka, topic, RECORDS)
    first, last = produced.ranges[0]
    SECOND[topic] = first + 1
    if kind in ("http", "lambda", "openfaas"):
        fn = HttpFunction(case)
    else:
        fn = ExecFunction(tmp_path, kind[len("exec-"):], case, first + 1)
    functions.append(fn)
    dlq = tmp_path / "dlq.jsonl"
    pipeline = kafka_pipeline(
        "inv", kafka, topic, group, target_of(kind, fn), dlq=dlq,
        retry={"max_attempts": MAX_ATTEMPTS, "backoff": {"initial": "10ms", "max": "20ms"},
               "bisect_on_error": True})
    pipeline["source"]["kafka"]["librdkafka"]["auto.commit.interval.ms"] = 50
    committed = Committed(kafka, topic, group)
    b = bridges.start([pipeline])
    try:
        invalid = case in INVALID
        must = produced.ids if invalid else {f"{topic}-0-{first + 1}"}
        entries = watch(b, committed, dlq, first, last, must)
    finally:
        committed.close()
    stop_cleanly(b)
    return produced, fn.invocations(), entries, b.stderr()


def check_invalid(case, produced, calls, entries, stderr, scope):
    ids = sorted(produced.ids, key=lambda rid: int(rid.rsplit("-", 1)[1]))
    # The batch was retried as a whole, then bisected down to single records.
    assert calls[:MAX_ATTEMPTS] == [ids] * MAX_ATTEMPTS, f"calls: {calls}"
    assert len(calls) == MAX_ATTEMPTS * (2 * RECORDS - 1), f"calls: {calls}"
    assert sorted(rid for e in entries for rid in event_ids(e["payload"])) == sorted(ids)
    for e in entries:
        assert e["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert e["requestContext"]["approximateInvokeCount"] == MAX_ATTEMPTS
        assert e["source"]["partitions"][0]["batchSize"] == 1
        assert e["responseContext"]["statusCode"] in (0, 200)
        error = e["responseContext"]["functionError"]
        assert re.match(r"invalid JSON response: line \d+, column \d+, byte \d+: ", error), error
        assert INVALID[case] in error, error
    # One warning per invocation, where the answer was read.
    warned = [(level, json.loads(msg)) for level, pipeline, connector, msg in
              re.findall(r'^ts=\S+ level=(\w+) pipeline=(\S+) connector=(\S+) msg=(".*")$',
                         stderr, re.M)
              if f"{pipeline}/{connector}" == scope and "invalid JSON response" in msg]
    assert len(warned) == len(calls), warned
    assert all(level == "warn" and INVALID[case] in msg for level, msg in warned), warned


@pytest.mark.parametrize("case", list(INVALID))
def test_an_invalid_answer_fails_the_batch_until_it_is_dead_lettered(
        kafka, bridges, group, tmp_path, functions, case):
    produced, calls, entries, stderr = run_case(kafka, bridges, group, tmp_path,
                                                functions, "http", case)
    check_invalid(case, produced, calls, entries, stderr, "inv/http")


@pytest.mark.parametrize("kind,case", TARGET_CASES)
def test_every_target_reads_an_invalid_answer_the_same_way(
        kafka, bridges, group, tmp_path, functions, kind, case):
    produced, calls, entries, stderr = run_case(kafka, bridges, group, tmp_path,
                                                functions, kind, case)
    check_invalid(case, produced, calls, entries, stderr,
                  "inv/exec" if kind.startswith("exec") else f"inv/{kind}")


def test_a_nul_inside_a_string_is_valid_and_its_list_is_honoured(
        kafka, bridges, group, tmp_path, functions):
    produced, calls, entries, stderr = run_case(kafka, bridges, group, tmp_path,
                                                functions, "http", "nul-in-string")
    first, last = produced.ranges[0]
    named = f"inv-nul-in-string-0-{first + 1}"
    assert [rid for e in entries for rid in event_ids(e["payload"])] == [named]
    assert entries[0]["responseContext"]["functionError"] is None
    assert "invalid JSON response" not in stderr
    # Only the named record was retried: the first went through at once.
    assert not any(f"inv-nul-in-string-0-{first}" in c for c in calls[1:]), calls


# ------------------------------------------------------- fnbridge invoke


def test_invoke_prints_an_invalid_answer_and_reports_the_failure(tmp_path, functions):
    """`fnbridge invoke` does not act on a batchItemFailures list (it names
    the user's records), but an answer that does not parse would fail in
    `run`: it is retried, printed, reported as failed, exit 1."""
    calls = []
    body = answer("nan", [{"partition": "orders-0", "offset": 7}])

    def handle(h, method):
        calls.append(read_body(h))
        send(h, 200, body)
    server = Server(handle)
    functions.append(server)
    pipeline = {
        "name": "orders",
        "source": {"kafka": {"brokers": "127.0.0.1:1", "topics": ["t"], "group_id": "g"}},
        "function": {"http": {"url": server.url + "/", "timeout": "5s"}},
        "retry": {"max_attempts": MAX_ATTEMPTS, "backoff": {"initial": "10ms", "max": "20ms"}},
    }
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state")
    r = run_fnbridge("invoke", "-c", config, "-p", "orders", "-e", "-", input='{"orderId": 7}')
    assert r.returncode == 1, r.stderr
    assert r.stdout.encode() == body
    assert len(calls) == MAX_ATTEMPTS
    assert (f"orders: failed: RetryAttemptsExhausted after {MAX_ATTEMPTS} attempts" in
            r.stderr), r.stderr
    assert "status 200; invalid JSON response: line 1, column " in r.stderr, r.stderr
    assert "invalid token near 'NaN'" in r.stderr, r.stderr


def test_invoke_still_prints_plain_text_and_lists_as_success(tmp_path, functions):
    answers = [b"stored order 7", b'{"batchItemFailures":[{"itemIdentifier":"x-0-1"}]}']

    def handle(h, method):
        read_body(h)
        send(h, 200, answers[0] if "plain" in h.path else answers[1])
    server = Server(handle)
    functions.append(server)
    for path, want in (("plain", answers[0]), ("list", answers[1])):
        pipeline = {
            "name": "orders",
            "source": {"kafka": {"brokers": "127.0.0.1:1", "topics": ["t"], "group_id": "g"}},
            "function": {"http": {"url": f"{server.url}/{path}", "timeout": "5s"}},
        }
        config = write_config(tmp_path / f"{path}.json", [pipeline], tmp_path / "state")
        r = run_fnbridge("invoke", "-c", config, "-p", "orders")
        assert r.returncode == 0, r.stderr
        assert r.stdout.encode() == want
        assert "orders: ok (status 200) after 1 attempt" in r.stderr, r.stderr

