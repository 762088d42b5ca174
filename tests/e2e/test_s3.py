"""S3 bucket change feed -> HTTP function (the contract in the S3 source's
spec; README: Config reference; README: What the function receives; README: Outcomes), against a real s3rver started per test
and, for what s3rver cannot do (error documents, broken listings, checking
a SigV4 signature), a scripted ListObjectsV2 endpoint written in Python.

Events are kept by a capturing function (mqtt_helpers.CaptureFunction);
fnbridge runs with log level debug where a test waits for a poll that
found nothing ("poll: ... 0 created, 0 removed" at debug): such a poll
starts only after everything found before has settled, so after two of
them every event has been sent and nothing more is coming."""
import json
import os
import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

import helpers
from helpers import SLOW, read_dlq, run_fnbridge, stop_cleanly, wait_until, write_config
from s3_helpers import (AMZ_DATE_RX, AUTH_RX, EMPTY_SHA256, ERRORS, EVENT_TIME_RX,
                        SEQUENCER_RX, S3rver, ScriptedS3, captured_records, changes,
                        created_keys, cut_off, dlq_keys, error_lines, good, key_paths,
                        log_lines, malformed, md5_hex, parse_event_time, poll_lines, raw_key,
                        record_id, record_key, removed_keys, s3_encode_key, s3_pipeline,
                        shard_of, sigv4_check, wait_polls, wait_quiet, wait_s3_records)

TOPICS = {}     # no Kafka topics: this module does not use the kafka fixture

CREATED, REMOVED = "ObjectCreated:Put", "ObjectRemoved:Delete"
SAMPLE = helpers.REPO / "tests" / "data" / "lambda-events" / "s3-event.json"
AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
           "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
           "AWS_SHARED_CREDENTIALS_FILE")


@pytest.fixture
def s3rver(procs):
    """s3rver(buckets=(...)) starts an s3rver (s3_helpers.S3rver) for this test."""
    def start(buckets=("bucket",), **kw):
        return S3rver(procs, buckets, **kw)
    return start


@pytest.fixture
def scripted():
    """scripted(bucket) starts a scripted ListObjectsV2 endpoint."""
    started = []

    def start(bucket="scripted"):
        s3 = ScriptedS3(bucket)
        started.append(s3)
        return s3
    yield start
    for s3 in started:
        s3.close()


def start_with_env(procs, tmp_path, pipelines, name, env, log_level="debug"):
    """fnbridge run with an environment of the test's choosing."""
    config = write_config(tmp_path / f"{name}.yaml", pipelines, tmp_path / f"{name}-state",
                          log_level=log_level)
    procs.logs.append((f"{name} config", config))
    b = procs.start([helpers.FNBRIDGE, "run", "-c", config], name, env=env)
    b.config = config
    return b


def env_without_aws(**extra):
    env = {k: v for k, v in os.environ.items() if k not in AWS_ENV}
    env.update(extra)
    return env


def seq(record):
    return int(record["s3"]["object"]["sequencer"], 16)


def assert_sequencers(records):
    for r in records:
        s = r["s3"]["object"]["sequencer"]
        assert SEQUENCER_RX.match(s), f"sequencer {s!r} is not 16 uppercase hex digits"


# ----------------------------------------------------------- event content


def test_create_overwrite_delete_give_one_event_each_in_order_shaped_like_aws(
        s3rver, capture, bridges, tmp_path):
    store = s3rver(buckets=("photos",))
    fn = capture()
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([s3_pipeline("photo-feed", store.endpoint, "photos", fn.url, dlq=dlq)],
                      log_level="debug")
    wait_polls(b, 0, 1, what="the first poll of the empty bucket")
    key = "album/Happy Face.jpg"

    etag1 = store.put("photos", key, b"hello")
    wait_s3_records(fn, 1, 30, proc=b)
    lm1 = store.list_objects("photos")[key]["last_modified"]
    etag2 = store.put("photos", key, b"hello, world")
    wait_s3_records(fn, 2, 30, proc=b)
    lm2 = store.list_objects("photos")[key]["last_modified"]
    t_delete = datetime.now(timezone.utc)
    store.delete("photos", key)
    wait_s3_records(fn, 3, 30, proc=b)
    t_seen = datetime.now(timezone.utc)
    wait_quiet(b)
    stop_cleanly(b)

    events = list(fn.events)
    for event in events:
        assert set(event) == {"Records"}, f"event keys {sorted(event)}"
    recs = captured_records(fn)
    assert changes(recs) == [(CREATED, key), (CREATED, key), (REMOVED, key)], changes(recs)
    assert etag1 == md5_hex(b"hello") and etag2 == md5_hex(b"hello, world")

    sample = json.loads(SAMPLE.read_text())["Records"][0]
    want = key_paths(sample)
    del want["s3.object.versionId"]
    for r in recs:
        assert r["eventVersion"] == "2.1"
        assert r["eventSource"] == "aws:s3"
        assert r["awsRegion"] == "us-east-1"
        assert r["userIdentity"] == {"principalId": "fnbridge"}
        assert isinstance(r["requestParameters"]["sourceIPAddress"], str)
        assert re.fullmatch(r"[0-9A-Fa-f]{16}", r["responseElements"]["x-amz-request-id"]), \
            r["responseElements"]
        assert isinstance(r["responseElements"]["x-amz-id-2"], str)
        s3 = r["s3"]
        assert s3["s3SchemaVersion"] == "1.0"
        assert s3["configurationId"] == "photo-feed"
        assert s3["bucket"] == {"name": "photos", "ownerIdentity": {"principalId": "fnbridge"},
                                "arn": "arn:aws:s3:::photos"}
        assert s3["object"]["key"] == "album/Happy+Face.jpg" == s3_encode_key(key)
        assert EVENT_TIME_RX.match(r["eventTime"]), f"eventTime {r['eventTime']!r}"
        have = key_paths(r)
        expect = dict(want)
        if r["eventName"] == REMOVED:
            del expect["s3.object.size"], expect["s3.object.eTag"]
        for path, kind in expect.items():
            assert path in have, f"{r['eventName']} record lacks {path}: {r}"
            assert (have[path] is dict) == (kind is dict), f"{path}: {have[path]} vs {kind}"
            if kind is not dict:
                assert have[path] is kind, f"{path} is {have[path].__name__}, not {kind.__name__}"
    assert_sequencers(recs)

    create, overwrite, remove = recs
    assert create["s3"]["object"]["size"] == 5
    assert create["s3"]["object"]["eTag"] == etag1
    assert parse_event_time(create["eventTime"]) == parse_event_time(lm1)
    assert overwrite["s3"]["object"]["size"] == 12
    assert overwrite["s3"]["object"]["eTag"] == etag2 != etag1
    assert parse_event_time(overwrite["eventTime"]) == parse_event_time(lm2)
    assert set(remove["s3"]["object"]) == {"key", "sequencer"}, remove["s3"]["object"]
    removed_at = parse_event_time(remove["eventTime"])
    assert t_delete - timedelta(seconds=2) <= removed_at <= t_seen + timedelta(seconds=2), \
        f"removed eventTime {remove['eventTime']} is not the detection time"
    assert seq(create) < seq(overwrite) < seq(remove), [r["s3"]["object"]["sequencer"]
                                                        for r in recs]
    assert read_dlq(dlq) == []


def test_10k_objects_each_reported_once_and_the_next_poll_finds_nothing(
        s3rver, capture, bridges, tmp_path):
    store = s3rver(buckets=("big",))
    keys = [f"data/d{i // 1000}/obj-{i:05d}.dat" for i in range(10_000)]
    etags = store.seed("big", keys)
    fn = capture()
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([s3_pipeline("big", store.endpoint, "big", fn.url, dlq=dlq)],
                      log_level="debug")

    wait_s3_records(fn, 10_000, 120, proc=b)
    lines = wait_polls(b, 0, 1, 60, what="the poll that found the 10,000 objects")
    big = next((i for i, l in enumerate(lines) if l[2] > 0), None)
    assert big is not None, f"no poll line reports created objects: {lines}"
    assert lines[big] == ("info", 10_000, 10_000, 0), f"poll line {lines[big]}"
    lines = wait_polls(b, big + 1, 1, 60, idle=True,
                       what="a poll after the big one that finds nothing")
    idle = next(l for l in lines[big + 1:] if l[2] == 0 and l[3] == 0)
    assert idle == ("debug", 10_000, 0, 0), f"poll line {idle}"
    stop_cleanly(b)

    recs = captured_records(fn)
    counts = Counter(raw_key(r) for r in recs)
    assert set(counts) == set(keys), f"{len(set(keys) - set(counts))} keys missing"
    dups = {k: n for k, n in counts.items() if n > 1}
    assert not dups, f"{len(dups)} keys reported more than once, e.g. {list(dups.items())[:5]}"
    assert {r["eventName"] for r in recs} == {CREATED}
    for r in recs[:200]:
        k = raw_key(r)
        assert r["s3"]["object"]["eTag"] == etags[k] == md5_hex(k.encode())
        assert r["s3"]["object"]["size"] == len(k.encode())
    assert_sequencers(recs)
    assert len({r["s3"]["object"]["sequencer"] for r in recs}) == 10_000, "sequencers repeat"
    assert max(len(e["Records"]) for e in fn.events) <= 100, "a batch above max_records"
    assert read_dlq(dlq) == []


# ------------------------------------------------------------------ restarts


def test_restart_reports_only_the_changes_made_while_stopped(
        s3rver, capture, bridges, tmp_path):
    store = s3rver(buckets=("docs",))
    for k in ("a.txt", "b.txt", "c.txt"):
        store.put("docs", k, f"first {k}")
    fn = capture()
    b1 = bridges.start([s3_pipeline("docs", store.endpoint, "docs", fn.url,
                                    dlq=tmp_path / "dlq.jsonl")], log_level="debug")
    wait_s3_records(fn, 3, 30, proc=b1)
    wait_quiet(b1)
    stop_cleanly(b1)
    first = captured_records(fn)
    assert sorted(changes(first)) == [(CREATED, "a.txt"), (CREATED, "b.txt"), (CREATED, "c.txt")]
    state = tmp_path / "fnbridge-state" / "s3" / "docs"
    assert state.exists(), f"no S3 state at {state}"

    # Nothing changed: the first polls after a restart find nothing.
    b2 = bridges.restart(b1, "fnbridge-2")
    lines = wait_polls(b2, 0, 2, what="two polls after the restart")
    assert all(l[2] == 0 and l[3] == 0 for l in lines), f"polls after restart: {lines}"
    stop_cleanly(b2)
    assert len(captured_records(fn)) == 3, changes(captured_records(fn))[3:]

    # Changes while fnbridge is down: one event each on the next start.
    store.put("docs", "d.txt", "new")
    store.put("docs", "a.txt", "second version of a")
    store.delete("docs", "b.txt")
    b3 = bridges.restart(b1, "fnbridge-3")
    wait_s3_records(fn, 6, 30, proc=b3)
    wait_quiet(b3)
    stop_cleanly(b3)

    later = captured_records(fn)[3:]
    assert sorted(changes(later)) == [(CREATED, "a.txt"), (CREATED, "d.txt"),
                                      (REMOVED, "b.txt")], changes(later)
    by_key = {(r["eventName"], raw_key(r)): r for r in later}
    assert by_key[(CREATED, "a.txt")]["s3"]["object"]["eTag"] == md5_hex(b"second version of a")
    assert_sequencers(first + later)
    assert min(map(seq, later)) > max(map(seq, first)), \
        "sequencers did not keep increasing across the restart"


def test_sigkill_mid_ingest_loses_nothing_and_settles(s3rver, capture, bridges, tmp_path):
    store = s3rver(buckets=("ingest",))
    keys = [f"in/d{i // 500}/k{i:04d}" for i in range(5000)]
    store.seed("ingest", keys)

    def slow(event):
        time.sleep(0.03)
        return 200, b""
    fn = capture(slow)
    pipeline = s3_pipeline("ingest", store.endpoint, "ingest", fn.url,
                           dlq=tmp_path / "dlq.jsonl",
                           batch={"max_records": 20, "max_wait": "5ms"}, concurrency=4)
    b1 = bridges.start([pipeline], log_level="debug")
    wait_s3_records(fn, 2500, 60, proc=b1)            # about half way
    b1.kill()
    before = captured_records(fn)
    assert len(set(created_keys(before))) < len(keys), \
        "every key was delivered before the SIGKILL: the kill tested nothing"

    b2 = bridges.restart(b1, "fnbridge-2")
    want = set(keys)

    def all_seen():
        if not b2.running():
            raise AssertionError(f"fnbridge-2 exited with {b2.popen.returncode}")
        return want <= set(created_keys(captured_records(fn)))
    wait_until(all_seen, 120 * SLOW, "every key reported across both runs")
    wait_quiet(b2)
    settled = len(captured_records(fn))
    wait_quiet(b2, n=1)
    stop_cleanly(b2)

    recs = captured_records(fn)
    assert len(recs) == settled, f"{len(recs) - settled} events after the second run was idle"
    assert set(created_keys(recs)) == want
    assert removed_keys(recs) == [], "ObjectRemoved for keys that were never deleted"
    assert max(len(e["Records"]) for e in fn.events) <= 20
    assert read_dlq(tmp_path / "dlq.jsonl") == []


# -------------------------------------------------------------- keys, filters


SPECIAL_KEYS = ["dir/a b+c é.txt", "100% sure.csv", "plus+plus", "日本語/ファイル.txt",
                "q?uery&x=1#frag", "emoji 😀.bin", "tilde~_-.txt", "trailing space ",
                "semi;colon,comma'quote", "a/b/c/deep.txt", "percent%2Bliteral"]


def test_keys_are_url_encoded_in_events_and_raw_in_dead_letters(
        s3rver, capture, bridges, tmp_path):
    store = s3rver(buckets=("odd",))
    for k in SPECIAL_KEYS:
        store.put("odd", k, k)
    assert store.list_keys("odd") == sorted(SPECIAL_KEYS)
    fn = capture(lambda event: (400, b'{"message":"rejected"}'))     # not retried
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([s3_pipeline("odd", store.endpoint, "odd", fn.url, dlq=dlq)],
                      log_level="debug")
    wait_until(lambda: len(dlq_keys(read_dlq(dlq))) >= len(SPECIAL_KEYS) or not b.running(),
               30 * SLOW, "every key dead-lettered")
    wait_quiet(b)
    stop_cleanly(b)

    recs = captured_records(fn)
    sent = sorted(record_key(r) for r in recs)
    assert sent == sorted(s3_encode_key(k) for k in SPECIAL_KEYS), sent
    assert "dir/a+b%2Bc+%C3%A9.txt" in sent
    assert "100%25+sure.csv" in sent and "percent%252Bliteral" in sent
    entries = read_dlq(dlq)
    assert sorted(dlq_keys(entries)) == sorted(SPECIAL_KEYS)
    for e in entries:
        assert e["requestContext"]["condition"] == "NonRetryableError", e["requestContext"]
        assert e["source"]["type"] == "s3" and e["source"]["bucket"] == "odd", e["source"]
        payload_keys = [raw_key(r) for r in e["payload"]["Records"]]
        assert sorted(payload_keys) == sorted(e["source"]["keys"])
        assert e["payload"] in list(fn.events), "dead-letter payload is not the event as sent"


def test_prefix_and_suffix_select_the_keys_that_produce_events(
        s3rver, capture, bridges, tmp_path):
    store = s3rver(buckets=("mixed",))
    for k in ("in/a.csv", "in/b.txt", "in/sub/c.csv", "inbox/d.csv", "out/e.csv", "in/f.CSV"):
        store.put("mixed", k, k)
    fn = capture()
    b = bridges.start([s3_pipeline("filtered", store.endpoint, "mixed", fn.url,
                                   dlq=tmp_path / "dlq.jsonl",
                                   s3={"prefix": "in/", "suffix": ".csv"})],
                      log_level="debug")
    wait_s3_records(fn, 2, 30, proc=b)
    wait_quiet(b)
    first = captured_records(fn)
    assert sorted(changes(first)) == [(CREATED, "in/a.csv"), (CREATED, "in/sub/c.csv")]

    for k in ("in/new.csv", "in/new.txt", "out/new.csv", "inbox/new.csv"):
        store.put("mixed", k, k)
    for k in ("in/a.csv", "in/b.txt", "inbox/d.csv", "out/e.csv"):
        store.delete("mixed", k)
    wait_s3_records(fn, 4, 30, proc=b)
    wait_quiet(b)
    stop_cleanly(b)
    later = captured_records(fn)[2:]
    assert sorted(changes(later)) == [(CREATED, "in/new.csv"), (REMOVED, "in/a.csv")], \
        changes(later)


def test_events_removed_only_reports_deletes_and_no_creates(
        s3rver, capture, bridges, tmp_path):
    store = s3rver(buckets=("gone",))
    store.put("gone", "r/a", "a")
    store.put("gone", "r/b", "b")
    fn = capture()
    b = bridges.start([s3_pipeline("gone", store.endpoint, "gone", fn.url,
                                   dlq=tmp_path / "dlq.jsonl", s3={"events": ["removed"]})],
                      log_level="debug")
    wait_polls(b, 0, 2, what="two polls of the bucket")
    store.put("gone", "r/c", "c")
    store.put("gone", "r/a", "a, overwritten")
    wait_polls(b, len(poll_lines(b)), 2, what="two polls after the creates")
    assert captured_records(fn) == [], changes(captured_records(fn))

    store.delete("gone", "r/b")             # there before the start
    store.delete("gone", "r/c")             # created while running
    wait_s3_records(fn, 2, 30, proc=b)
    wait_quiet(b)
    stop_cleanly(b)
    recs = captured_records(fn)
    assert sorted(changes(recs)) == [(REMOVED, "r/b"), (REMOVED, "r/c")], changes(recs)
    for r in recs:
        assert set(r["s3"]["object"]) == {"key", "sequencer"}


# --------------------------------------------------------- listing failures


def test_error_documents_are_logged_once_and_recovery_delivers(
        scripted, capture, bridges, tmp_path):
    """One pipeline per kind of failure, each against its own scripted
    endpoint that fails the first two listings, then works: the error is
    logged once at level=error with its Code (or the bare HTTP status),
    the retries wait 1 s then 2 s (SlowDown's Retry-After: 2 is honoured),
    then "works again" is logged once and the objects are delivered."""
    fn = capture()
    servers = {}
    for name, answer in ERRORS.items():
        bucket = "err-" + name.lower()
        s3 = scripted(bucket)
        s3.set_objects({"k1": b"one", "k2": b"two"})
        s3.set_script(good(), first=[answer, answer])
        servers[name] = (bucket, s3, answer)
    b = bridges.start([s3_pipeline(bucket, s3.endpoint, bucket, fn.url,
                                   dlq=tmp_path / f"{bucket}-dlq.jsonl")
                       for bucket, s3, _ in servers.values()])
    for bucket, s3, _ in servers.values():
        rx = rf'level=info .*msg="listing bucket {re.escape(bucket)} works again"'
        wait_until(lambda: log_lines(b, rx) or not b.running(), 30 * SLOW,
                   f"{bucket} works again")
        assert b.running(), f"fnbridge exited with {b.popen.returncode}"
    wait_s3_records(fn, 2 * len(servers), 30, proc=b)
    stop_cleanly(b)

    problems = []
    for name, (bucket, s3, answer) in servers.items():
        reqs = s3.since(0)[:3]
        label = answer["code"] if answer["kind"] == "error" else "plain"
        assert [r["answer"] for r in reqs] == [label, label, "good"], \
            f"{name}: {[r['answer'] for r in reqs]}"
        gaps = [reqs[i + 1]["time"] - reqs[i]["time"] for i in range(2)]
        least = [1.8, 1.8] if name == "SlowDown" else [0.9, 1.8]
        if any(g < m for g, m in zip(gaps, least)):
            problems.append(f"{name}: retries {gaps[0]:.2f} s and {gaps[1]:.2f} s apart, "
                            f"expected at least {least}")
        if answer["kind"] == "error":
            said = rf"{answer['code']} \(HTTP {answer['status']}\)"
        else:
            said = r"HTTP 500\b"
        logged = error_lines(b, rf'msg="listing bucket {re.escape(bucket)} failed: {said}'
                                rf'[^"]*retrying in \d+ ms"')
        every = error_lines(b, rf"listing bucket {re.escape(bucket)}\b")
        if len(logged) != 1 or len(every) != 1:
            problems.append(f"{name}: {len(logged)} matching error lines, {len(every)} error "
                            f"lines about {bucket} (want 1 and 1): {every}")
        again = log_lines(b, rf"listing bucket {re.escape(bucket)} works again")
        if len(again) != 1:
            problems.append(f"{name}: {len(again)} 'works again' lines")
    assert not problems, "\n".join(problems)

    recs = captured_records(fn)
    got = Counter((r["s3"]["bucket"]["name"], raw_key(r), r["eventName"]) for r in recs)
    want = Counter((bucket, k, CREATED) for bucket, _, _ in servers.values() for k in ("k1", "k2"))
    assert got == want


@pytest.mark.parametrize("breakage", ["malformed", "cut_off"])
def test_a_broken_second_page_removes_nothing_and_a_later_listing_proceeds(
        breakage, scripted, capture, bridges, tmp_path):
    s3 = scripted("paged")
    keys = [f"k{i}" for i in range(6)]                 # 3 pages of 2
    s3.set_objects({k: k.encode() for k in keys})
    fn = capture()
    b = bridges.start([s3_pipeline("paged", s3.endpoint, "paged", fn.url,
                                   dlq=tmp_path / "dlq.jsonl", s3={"page_size": 2})],
                      log_level="debug")
    wait_s3_records(fn, 6, 30, proc=b)
    wait_quiet(b)
    assert sorted(created_keys(captured_records(fn))) == keys

    s3.set_script(good(), pages={2: malformed() if breakage == "malformed" else cut_off()})
    s3.wait_requests(2, 30, proc=b, pred=lambda r: r["answer"] == breakage,
                     what=f"two {breakage} second pages served")
    # The spec's example: 'failed: malformed XML in page 3: ...; nothing is deleted'
    rx = (r'listing bucket paged failed: (?=.*malformed XML)(?=.*\bpage 2\b)'
          r'(?=.*nothing is deleted)' if breakage == "malformed"
          else r'listing bucket paged failed: ')
    wait_until(lambda: error_lines(b, rx) or not b.running(), 10 * SLOW,
               "the broken listing logged at level=error")
    assert b.running(), f"fnbridge exited with {b.popen.returncode} on a broken listing"
    assert len(captured_records(fn)) == 6, changes(captured_records(fn)[6:])

    s3.delete("k5")                                    # on the third page
    s3.put("k9", b"new")
    s3.set_script(good())
    wait_until(lambda: log_lines(b, r'level=info .*msg="listing bucket paged works again"')
               or not b.running(), 30 * SLOW, "the listing to work again")
    wait_s3_records(fn, 8, 30, proc=b)
    wait_quiet(b)
    stop_cleanly(b)
    later = captured_records(fn)[6:]
    assert sorted(changes(later)) == [(CREATED, "k9"), (REMOVED, "k5")], changes(later)
    assert removed_keys(captured_records(fn)) == ["k5"]


def test_keys_xml_cannot_carry_arrive_through_url_encoding(scripted, capture, bridges,
                                                           tmp_path):
    """A control character cannot stand in XML 1.0: fnbridge asks for
    encoding-type=url and decodes the keys, so such a key neither blocks
    the bucket nor arrives changed ('+' and '%' in keys stay what they are)."""
    s3 = scripted("enc")
    keys = ["a\x01b", "c+d e", "%41/x", "tab\there"]
    s3.set_objects({k: k.encode() for k in keys})
    fn = capture()
    b = bridges.start([s3_pipeline("enc", s3.endpoint, "enc", fn.url,
                                   dlq=tmp_path / "dlq.jsonl")], log_level="debug")
    wait_s3_records(fn, len(keys), 30, proc=b)
    wait_quiet(b)
    stop_cleanly(b)
    records = captured_records(fn)
    assert sorted(created_keys(records)) == sorted(keys)
    assert sorted(r["s3"]["object"]["key"] for r in records) == \
        sorted(s3_encode_key(k) for k in keys)
    assert all(r["query"].get("encoding-type") == "url" for r in s3.since(0)
               if "list-type" in r["query"]), "listings did not ask for encoding-type=url"


def test_keys_longer_than_lmdb_keys_are_tracked_like_the_others(scripted, capture, bridges,
                                                               tmp_path):
    """S3 allows keys of 1024 bytes, LMDB keys stop at 511: long keys are
    kept aside, yet created, changed and removed once each, like the rest,
    also across a restart."""
    s3 = scripted("long")
    base = "deep/" + "d" * 600
    long_a, long_b = base + "/a.csv", base + "/b.csv"
    longest = "L" * 1024
    s3.set_objects({k: k.encode()[:50] for k in ("short.csv", long_a, long_b, longest)})
    fn = capture()
    pipeline = s3_pipeline("long", s3.endpoint, "long", fn.url, dlq=tmp_path / "dlq.jsonl",
                           s3={"page_size": 2})
    b = bridges.start([pipeline], log_level="debug")
    wait_s3_records(fn, 4, 30, proc=b)
    wait_quiet(b)
    assert sorted(created_keys(captured_records(fn))) == \
        sorted(["short.csv", long_a, long_b, longest])

    s3.put(long_a, b"changed")
    s3.delete(long_b)
    wait_s3_records(fn, 6, 30, proc=b)
    wait_quiet(b)
    stop_cleanly(b)
    assert sorted(changes(captured_records(fn)[4:])) == \
        sorted([(CREATED, long_a), (REMOVED, long_b)])

    again = bridges.restart(b, "fnbridge-again")
    wait_quiet(again)
    s3.delete(longest)
    wait_s3_records(fn, 7, 30, proc=again)
    wait_quiet(again)
    stop_cleanly(again)
    assert changes(captured_records(fn)[6:]) == [(REMOVED, longest)]
    assert "not tracked" not in again.stderr()


def test_a_page_with_more_objects_than_asked_for_is_refused(scripted, capture, bridges,
                                                            tmp_path):
    """A page costs what fnbridge asked for: a store that sends more objects
    than max-keys gets the poll refused (nothing reported from it, nothing
    removed) until it behaves."""
    s3 = scripted("big")
    keys = [f"k{i}" for i in range(5)]
    s3.set_objects({k: k.encode() for k in keys})
    s3.ignore_max_keys = True
    fn = capture()
    b = bridges.start([s3_pipeline("big", s3.endpoint, "big", fn.url,
                                   dlq=tmp_path / "dlq.jsonl", s3={"page_size": 2})],
                      log_level="debug")
    wait_until(lambda: error_lines(b, r"more objects than max-keys") or not b.running(),
               20 * SLOW, "the oversized page refused")
    assert b.running()
    assert captured_records(fn) == []
    s3.ignore_max_keys = False
    wait_s3_records(fn, len(keys), 30, proc=b)
    wait_quiet(b)
    stop_cleanly(b)
    assert sorted(created_keys(captured_records(fn))) == keys


def test_store_killed_and_restarted_removes_nothing_and_resumes(
        s3rver, capture, bridges, tmp_path):
    store = s3rver(buckets=("outage",))
    keys = [f"o/k{i:02d}" for i in range(30)]
    store.put_many("outage", keys, data=lambda k: k, threads=4)
    fn = capture()
    b = bridges.start([s3_pipeline("outage", store.endpoint, "outage", fn.url,
                                   dlq=tmp_path / "dlq.jsonl", s3={"page_size": 10})],
                      log_level="debug")
    wait_s3_records(fn, 30, 30, proc=b)
    wait_quiet(b)

    store.kill()                                       # SIGKILL: connections refused
    wait_until(lambda: error_lines(b, r"listing bucket outage failed: ") or not b.running(),
               10 * SLOW, "the failed listing logged at level=error")
    assert b.running(), f"fnbridge exited with {b.popen.returncode} when the store died"
    store.restart()                                    # same port, same data
    store.put("outage", "o/new", "new")
    wait_until(lambda: log_lines(b, r'level=info .*msg="listing bucket outage works again"')
               or not b.running(), 30 * SLOW, "the listing to work again")
    wait_s3_records(fn, 31, 30, proc=b)
    wait_quiet(b)
    stop_cleanly(b)
    recs = captured_records(fn)
    assert changes(recs[30:]) == [(CREATED, "o/new")], changes(recs[30:])
    assert removed_keys(recs) == []


# --------------------------------------------------------------------- SigV4


def check_request_form(reqs, bucket, page_size, prefix=None):
    """Path style, sorted RFC 3986 query, continuation tokens only after
    the first page (and equal to the one the previous page gave)."""
    expected_token = None
    for r in reqs:
        assert r["method"] == "GET" and r["path"] == f"/{bucket}", (r["method"], r["path"])
        names = [p.split("=", 1)[0] for p in r["raw_query"].split("&")]
        assert names == sorted(names), f"query keys not sorted: {r['raw_query']}"
        q = r["query"]
        assert q["list-type"] == "2" and q["max-keys"] == str(page_size), r["raw_query"]
        if prefix is None:
            assert "prefix" not in q, r["raw_query"]
        else:
            assert f"prefix={quote(prefix, safe='-_.~')}" in r["raw_query"].split("&"), \
                f"prefix not RFC 3986 encoded: {r['raw_query']}"
        token = q.get("continuation-token")
        if r["page"] == 1:
            assert token is None, r["raw_query"]
        else:
            assert token == expected_token, (token, expected_token)
            assert f"continuation-token={quote(token, safe='-_.~')}" in \
                r["raw_query"].split("&"), f"token not RFC 3986 encoded: {r['raw_query']}"
        expected_token = ScriptedS3.token(r["page"] + 1, r["page"] * page_size)


def check_signed(reqs, access_key, secret_key, region, token=None):
    now = datetime.now(timezone.utc)
    for r in reqs:
        h = r["headers"]
        m = AUTH_RX.match(h.get("authorization", ""))
        assert m, f"Authorization {h.get('authorization')!r}"
        assert (m.group("key"), m.group("region")) == (access_key, region), m.group(0)
        signed = m.group("signed").split(";")
        assert signed == sorted(signed), f"SignedHeaders not sorted: {signed}"
        assert {"host", "x-amz-content-sha256", "x-amz-date"} <= set(signed), signed
        assert h.get("x-amz-content-sha256") == EMPTY_SHA256
        assert AMZ_DATE_RX.match(h.get("x-amz-date", "")), h.get("x-amz-date")
        assert h["x-amz-date"][:8] == m.group("date")
        sent = datetime.strptime(h["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        assert abs((sent - now).total_seconds()) < 600, f"x-amz-date {h['x-amz-date']}"
        assert h.get("x-amz-security-token") == token
        problem = sigv4_check(r, secret_key)
        assert problem is None, problem


def test_requests_are_sigv4_signed_path_style_with_sorted_encoded_queries(
        scripted, capture, bridges, tmp_path):
    s3 = scripted("signed")
    s3.set_objects({**{f"dir one/{c}": c.encode() for c in "abcde"}, "other/x": b"x"})
    fn = capture()
    b = bridges.start([s3_pipeline(
        "signed", s3.endpoint, "signed", fn.url, dlq=tmp_path / "dlq.jsonl",
        s3={"access_key": "AKIDTEST", "secret_key": "sekret/KEY+1", "region": "eu-west-3",
            "session_token": "tok/en+1=", "page_size": 2, "prefix": "dir one/"})],
        log_level="debug")
    wait_s3_records(fn, 5, 30, proc=b)
    wait_quiet(b)
    stop_cleanly(b)

    assert sorted(created_keys(captured_records(fn))) == [f"dir one/{c}" for c in "abcde"]
    reqs = s3.since(0)
    assert len(reqs) >= 9, f"{len(reqs)} requests: not three polls of three pages"
    assert all(r["answer"] == "good" for r in reqs), [r["answer"] for r in reqs]
    check_request_form(reqs, "signed", 2, prefix="dir one/")
    check_signed(reqs, "AKIDTEST", "sekret/KEY+1", "eu-west-3", token="tok/en+1=")
    assert "sekret" not in b.stderr(), "the secret key appeared in the log"
    assert "tok/en+1=" not in b.stderr(), "the session token appeared in the log"


def test_credentials_come_from_the_environment_and_none_means_unsigned(
        procs, scripted, capture, tmp_path):
    s3 = scripted("env")
    s3.set_objects({"a": b"a", "b": b"b", "c": b"c"})
    fn = capture()
    pipeline = s3_pipeline("env", s3.endpoint, "env", fn.url,
                           s3={"access_key": None, "secret_key": None, "page_size": 2})

    b = start_with_env(procs, tmp_path, [pipeline], "unsigned", env_without_aws())
    wait_s3_records(fn, 3, 30, proc=b)
    wait_quiet(b)
    stop_cleanly(b)
    reqs = s3.since(0)
    assert reqs and all(r["answer"] == "good" for r in reqs)
    check_request_form(reqs, "env", 2)
    signed = [r["headers"] for r in reqs if "authorization" in r["headers"]
              or "x-amz-security-token" in r["headers"]]
    assert not signed, f"requests signed without credentials: {signed[:1]}"

    n = len(reqs)
    env = env_without_aws(AWS_ACCESS_KEY_ID="ENVKEY", AWS_SECRET_ACCESS_KEY="env/secret",
                          AWS_SESSION_TOKEN="envtoken")
    b = start_with_env(procs, tmp_path, [pipeline], "from-env", env)
    wait_s3_records(fn, 6, 30, proc=b)
    wait_quiet(b)
    stop_cleanly(b)
    reqs = s3.since(n)
    assert reqs
    check_signed(reqs, "ENVKEY", "env/secret", "us-east-1", token="envtoken")


# ----------------------------------------------------- partial batch, shards


def test_partial_batch_response_retries_only_the_named_record(
        s3rver, capture, bridges, tmp_path):
    store = s3rver(buckets=("part",))
    keys = [f"p/k{i}" for i in range(10)]
    for k in keys:
        store.put("part", k, k)

    def respond(event):
        failed = [{"itemIdentifier": record_id(r)} for r in event["Records"]
                  if raw_key(r) == "p/k3"]
        return 200, json.dumps({"batchItemFailures": failed}).encode()
    fn = capture(respond)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([s3_pipeline("part", store.endpoint, "part", fn.url, dlq=dlq,
                                   batch={"max_records": 100, "max_wait": "300ms"})],
                      log_level="debug")
    wait_until(lambda: read_dlq(dlq) or not b.running(), 30 * SLOW, "a dead-letter record")
    wait_quiet(b)
    stop_cleanly(b)

    recs = captured_records(fn)
    counts = Counter(raw_key(r) for r in recs)
    assert counts["p/k3"] == 3, f"the failed record was sent {counts['p/k3']} times, not 3"
    others = {k: n for k, n in counts.items() if k != "p/k3"}
    assert set(others) == set(keys) - {"p/k3"}
    assert set(others.values()) == {1}, f"records that succeeded were sent again: {others}"
    first = next(e for e in fn.events if any(raw_key(r) == "p/k3" for r in e["Records"]))
    assert len(first["Records"]) > 1, "p/k3 came alone: the test did not test a partial batch"
    assert len({record_id(r) for r in recs if raw_key(r) == "p/k3"}) == 1, \
        "the retried record changed its id"
    entries = read_dlq(dlq)
    assert len(entries) == 1, entries
    assert entries[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert entries[0]["source"]["keys"] == ["p/k3"]
    assert [raw_key(r) for r in entries[0]["payload"]["Records"]] == ["p/k3"]


def test_two_shards_deliver_every_key_exactly_once_between_them(
        s3rver, capture, bridges, tmp_path):
    store = s3rver(buckets=("shared",))
    keys = [f"sh/d{i // 250}/k{i:04d}" for i in range(2000)]
    store.seed("shared", keys)
    fa, fb = capture(), capture()

    def start(name, shard, fn):
        return bridges.start([s3_pipeline("shards", store.endpoint, "shared", fn.url,
                                          dlq=tmp_path / f"{name}-dlq.jsonl",
                                          s3={"shard": shard})],
                             name=name, log_level="debug")
    a = start("fnbridge-a", "0/2", fa)
    b = start("fnbridge-b", "1/2", fb)

    def all_seen():
        for p in (a, b):
            if not p.running():
                raise AssertionError(f"{p.name} exited with {p.popen.returncode}")
        return set(keys) <= set(created_keys(captured_records(fa) + captured_records(fb)))
    wait_until(all_seen, 60 * SLOW, "every key delivered by one of the shards")
    wait_quiet(a)
    wait_quiet(b)
    stop_cleanly(a)
    stop_cleanly(b)

    ka = Counter(raw_key(r) for r in captured_records(fa))
    kb = Counter(raw_key(r) for r in captured_records(fb))
    assert ka and kb, f"uneven split: {len(ka)} and {len(kb)}"
    assert not set(ka) & set(kb), f"{len(set(ka) & set(kb))} keys went to both shards"
    assert set(ka) | set(kb) == set(keys)
    assert max(ka.values()) == 1 and max(kb.values()) == 1, "a key was reported twice"
    assert set(ka) == {k for k in keys if shard_of(k, 2) == 0}, \
        "shard 0 does not hold the keys with fmix64(fnv1a64(key)) % 2 == 0"
    for name, i in (("fnbridge-a", 0), ("fnbridge-b", 1)):
        state = tmp_path / f"{name}-state" / "s3" / f"shards-shard-{i}-of-2"
        assert state.exists(), f"no S3 state at {state}"


# --------------------------------------------------------------------- check


def s3_config_text(state_dir, s3_extra="", function_extra="", bucket=True):
    """A one-pipeline S3 config; s3_extra is appended inside source.s3."""
    return (f"state_dir: {state_dir}\n"
            "pipelines:\n"
            "  - name: uploads\n"
            "    source:\n"
            "      s3:\n"
            "        endpoint: http://127.0.0.1:9\n"
            + ("        bucket: uploads\n" if bucket else "")
            + s3_extra
            + "    function:\n"
            f'      http: {{url: "http://127.0.0.1:9/"{function_extra}}}\n')


def test_check_accepts_a_valid_s3_config(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(s3_config_text(tmp_path / "state",
                                   "        shard: 1/3\n        events: [removed]\n"
                                   "        page_size: 1000\n        poll_interval: 10ms\n"))
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 0, r.stderr
    assert "uploads" in r.stdout
    assert r.stderr == ""


@pytest.mark.parametrize("s3_extra,function_extra,where,word", [
    ("        shard: 2/2\n", "", r"pipelines\[0\]\.source\.s3", "shard"),
    ("        shard: x\n", "", r"pipelines\[0\]\.source\.s3", "shard"),
    ("        shard: 0/0\n", "", r"pipelines\[0\]\.source\.s3", "shard"),
    ("", "", r"pipelines\[0\]\.source\.s3", "bucket"),
    ("        page_size: 1001\n", "", r"pipelines\[0\]\.source\.s3", "page_size"),
    ("        poll_interval: 5ms\n", "", r"pipelines\[0\]\.source\.s3", "poll_interval"),
    ("        events: [created, renamed]\n", "", r"pipelines\[0\]\.source\.s3", "events"),
    ("", ", format: json", r"pipelines\[0\]\.function\.http", "format"),
], ids=["shard-2of2", "shard-x", "shard-0of0", "no-bucket", "page-size", "poll-interval",
        "events", "format-json"])
def test_check_rejects_bad_s3_settings_naming_the_key(tmp_path, s3_extra, function_extra,
                                                      where, word):
    path = tmp_path / "bad.yaml"
    path.write_text(s3_config_text(tmp_path / "state", s3_extra, function_extra,
                                   bucket=word != "bucket"))
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr}"
    rx = re.compile(rf"^{re.escape(str(path))}:\d+:\d+: {where}\b.*\b{word}\b", re.M)
    assert rx.search(r.stderr), r.stderr
    assert r.stdout == ""
