"""MQTT -> HTTP function (issue 3, README: Config reference; README: What the function receives; README: Outcomes), against a real
mosquitto started per test: delivery at volume, SIGKILLs of fnbridge and a
broker restart mid-stream, persistent sessions, the crash-before-spool
switch, shared subscriptions, payload encodings, dead-lettering, partial
batch responses, auth and TLS errors, TLS, replies and MQTT v5 properties.

Messages come from mqtt_pub; each carries its own id ("<prefix><k>") in its
payload and fn_server --payload-ids logs that id, so FnLog works with the
ids of what was published. Tests that look at the event's content use a
capturing function written in Python (mqtt_helpers.CaptureFunction)."""
import base64
import json
import os
import random
import re
import time

import pytest

import helpers
from helpers import SLOW, read_dlq, stop_cleanly, wait_until, write_config
from mqtt_helpers import (Certs, Mosquitto, Publisher, Subscriber, binary_payload,
                          mosquitto, mqtt_pipeline, publish,  # noqa: F401 (fixture)
                          record_payload_id)

TOPICS = {}     # no Kafka topics: this module does not use the kafka fixture

AUTH_ERROR = re.compile(r"not authori[sz]ed|bad user ?name or password", re.I)
TLS_ERROR = re.compile(r"^.*level=(?:warn|error).*(?:certificate|\btls\b|\bssl\b).*$",
                       re.M | re.I)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


def ids(prefix, start, count):
    return {f"{prefix}{k}" for k in range(start, start + count)}


# ------------------------------------------------------------------ delivery


def test_50k_qos1_messages_all_delivered(mosquitto, fn_server, bridges, tmp_path):
    broker = mosquitto()
    fn = fn_server("--payload-ids")
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([mqtt_pipeline("bulk", broker.url, "fnb-bulk", fn.url, dlq=dlq)])
    broker.wait_subscribed("fnb-bulk", "sensors/#", proc=b)

    pub = publish(broker.url, "sensors/bulk", 50_000, "--window", 100, prefix="bulk-")
    fn.log.wait_delivered(pub.ids, 120 * SLOW, proc=b)

    stop_cleanly(b)
    fn.log.refresh()
    assert fn.log.statuses() == {200}
    assert set(fn.log.seen) == pub.ids, "the function got records that were not published"
    assert read_dlq(dlq) == []


def test_a_broker_down_at_start_is_retried_not_fatal(procs, fn_server, bridges, tmp_path):
    broker = Mosquitto(procs)                 # configured, not started yet
    fn = fn_server("--payload-ids")
    b = bridges.start([mqtt_pipeline("late", broker.url, "fnb-late", fn.url)])
    wait_until(lambda: "cannot connect to" in b.stderr() or not b.running(), 30 * SLOW,
               "fnbridge to report the broker as unreachable")
    assert b.running(), f"fnbridge exited with {b.popen.returncode}: a down broker is fatal"
    assert "Connection refused" in b.stderr(), b.stderr()

    broker.start()
    broker.wait_subscribed("fnb-late", "sensors/#", timeout=60, proc=b)
    pub = publish(broker.url, "sensors/late", 100, prefix="late-")
    fn.log.wait_delivered(pub.ids, 30 * SLOW, proc=b)
    stop_cleanly(b)


def test_a_full_spool_stops_reading_and_the_broker_holds_the_rest(
        mosquitto, fn_server, bridges, tmp_path):
    """spool.max_records: 50 and a function slower than the publisher: the
    spool fills, fnbridge stops reading (the broker keeps the messages) and
    goes on once records settle; nothing is lost on the way."""
    broker = mosquitto()
    fn = fn_server("--payload-ids", "--delay-ms", 20)
    b = bridges.start([mqtt_pipeline("full", broker.url, "fnb-full", fn.url,
                                     mqtt={"spool": {"max_records": 50}},
                                     batch={"max_records": 10, "max_wait": "1ms"},
                                     concurrency=2)])
    broker.wait_subscribed("fnb-full", "sensors/#", proc=b)

    pub = publish(broker.url, "sensors/full", 2000, "--window", 100, prefix="full-")
    fn.log.wait_delivered(pub.ids, 120 * SLOW, proc=b)

    stop_cleanly(b)
    log = b.stderr()
    assert "the spool is full" in log, "the spool never filled: the limit was not applied"
    assert "the spool has room again" in log
    assert set(fn.log.refresh().ok) == pub.ids


def test_keepalive_and_session_settings_reach_the_broker(
        mosquitto, fn_server, bridges, tmp_path):
    """keepalive, protocol and clean start as the broker sees them in its
    CONNECT log line: (p5 = MQTT 5, c0 = session kept, k7 = keepalive 7 s);
    session_expiry 0 asks for a clean session (c1); p2 is mosquitto's
    code for MQTT 3.1.1."""
    broker = mosquitto()
    fn = fn_server("--payload-ids")
    b = bridges.start([
        mqtt_pipeline("ka", broker.url, "fnb-ka", fn.url, mqtt={"keepalive": "7s"}),
        mqtt_pipeline("clean", broker.url, "fnb-clean", fn.url, topics=("other/#",),
                      mqtt={"session_expiry": "0s", "protocol": "3.1.1"})])
    broker.wait_subscribed("fnb-ka", "sensors/#", proc=b)
    broker.wait_subscribed("fnb-clean", "other/#", proc=b)
    stop_cleanly(b)
    log = broker.log()
    assert re.search(r"New client connected from \S+ as fnb-ka \(p5, c0, k7\)", log), log
    assert re.search(r"New client connected from \S+ as fnb-clean \(p2, c1, k30\)", log), log


def test_sigkill_five_times_while_publishing_loses_nothing(
        mosquitto, procs, fn_server, bridges, tmp_path):
    broker = mosquitto()
    fn = fn_server("--payload-ids")
    b = bridges.start([mqtt_pipeline("crash", broker.url, "fnb-crash", fn.url,
                                     dlq=tmp_path / "dlq.jsonl")], name="fnbridge-0")
    broker.wait_subscribed("fnb-crash", "sensors/#", proc=b)
    expected = ids("crash-", 0, 20_000)
    # 20k messages over 10 s; the broker keeps them for the session while
    # fnbridge is down, fnbridge's spool keeps those it had acknowledged.
    pub = Publisher(procs, broker.url, "sensors/crash", 20_000, "--rate", 2000,
                    prefix="crash-")
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"kill points drawn with seed {seed}")

    for i in range(5):
        start = len(fn.log.refresh().entries)
        more = rng.randint(200, 1200)
        wait_until(lambda: len(fn.log.refresh().entries) >= start + more or not b.running(),
                   30 * SLOW, f"run {i}: {more} more deliveries")
        assert b.running(), f"fnbridge-{i} exited with {b.popen.returncode}"
        b.kill()
        assert not expected <= fn.log.refresh().ok, (
            f"all delivered before kill {i + 1}: the kills came too late (seed {seed})")
        b = bridges.restart(b, f"fnbridge-{i + 1}")

    published = pub.result(60)
    assert published.ids == expected
    fn.log.wait_delivered(expected, 90 * SLOW, proc=b)
    stop_cleanly(b)


def test_broker_restart_mid_stream_loses_no_acknowledged_message(
        mosquitto, procs, fn_server, bridges, tmp_path):
    broker = mosquitto()
    fn = fn_server("--payload-ids", "--delay-ms", 20)
    b = bridges.start([mqtt_pipeline("brk", broker.url, "fnb-brk", fn.url,
                                     dlq=tmp_path / "dlq.jsonl", batch={"max_records": 20})])
    broker.wait_subscribed("fnb-brk", "sensors/#", proc=b)
    pub = Publisher(procs, broker.url, "sensors/brk", 20_000, "--rate", 2000, prefix="brk-")
    wait_until(lambda: len(fn.log.refresh().ok) >= 1000 or not b.running(),
               30 * SLOW, "1000 messages delivered")
    assert b.running(), f"fnbridge exited with {b.popen.returncode}"
    assert pub.running(), "the publisher finished before the broker restart"

    broker.restart()        # SIGTERM: mosquitto saves sessions and queues
    # The publisher loses its connection: it names what the broker acknowledged.
    before = pub.result(30, allow_lost=True)
    assert 0 < before.count < 20_000, f"{before.count} of 20000 acknowledged before the restart"
    after = publish(broker.url, "sensors/brk", 2000, prefix="brk-after-")

    fn.log.wait_delivered(before.ids | after.ids, 90 * SLOW, proc=b)
    assert broker.connections("fnb-brk") >= 1, "fnbridge never reconnected"
    stop_cleanly(b)


def test_messages_published_while_fnbridge_is_stopped_are_delivered_on_start(
        mosquitto, fn_server, bridges, tmp_path):
    broker = mosquitto()
    fn = fn_server("--payload-ids")
    b = bridges.start([mqtt_pipeline("offline", broker.url, "fnb-offline", fn.url,
                                     dlq=tmp_path / "dlq.jsonl")])
    broker.wait_subscribed("fnb-offline", "sensors/#", proc=b)
    stop_cleanly(b)
    wait_until(lambda: broker.disconnections("fnb-offline") >= 1, 10 * SLOW,
               "the broker to see fnbridge go")

    # More than mosquitto's default queue of 1000 per client (set unlimited).
    offline = publish(broker.url, "sensors/offline", 3000, prefix="off-")
    assert not offline.ids & set(fn.log.refresh().seen)

    again = bridges.restart(b, "fnbridge-again")
    fn.log.wait_delivered(offline.ids, 60 * SLOW, proc=again)
    stop_cleanly(again)


def test_two_pipelines_with_one_client_id_are_refused(mosquitto, fn_server, bridges):
    """One client id is one broker session and one spool: a second pipeline
    with it would take the session over and share the spool, so fnbridge
    refuses it with a reason instead of losing track of messages."""
    broker = mosquitto()
    fn = fn_server("--payload-ids")
    b = bridges.start([
        mqtt_pipeline("first", broker.url, "fnb-twice", fn.url),
        mqtt_pipeline("second", broker.url, "fnb-twice", fn.url, topics=("other/#",)),
    ])
    assert b.wait(30 * SLOW) == 1
    assert re.search(r"pipeline=\w+ connector=mqtt msg=\"the spool in \S+/mqtt/fnb-twice is in use by "
                     r"another pipeline or fnbridge process with the same MQTT client id",
                     b.stderr()), b.stderr()


def test_crash_before_the_spool_write_gets_the_message_redelivered(
        mosquitto, procs, fn_server, bridges, tmp_path):
    """FNBRIDGE_TEST_CRASH_BEFORE_SPOOL=1 aborts inside the message callback
    before the spool write. The broker must send the message again: proof
    that the PUBACK leaves only after the message is on disk."""
    broker = mosquitto()
    fn = fn_server("--payload-ids")
    config = write_config(tmp_path / "fnbridge.yaml", [mqtt_pipeline(
        "switch", broker.url, "fnb-switch", fn.url, dlq=tmp_path / "dlq.jsonl")],
        tmp_path / "state")
    procs.logs.append(("fnbridge config", config))
    env = dict(os.environ, FNBRIDGE_TEST_CRASH_BEFORE_SPOOL="1")
    b = procs.start([helpers.FNBRIDGE, "run", "-c", config], "fnbridge-crash", env=env)
    b.config = config
    broker.wait_subscribed("fnb-switch", "sensors/#", proc=b)

    msg = publish(broker.url, "sensors/switch", 1, prefix="switch-")
    rc = b.wait(30 * SLOW)
    assert rc != 0, "fnbridge did not crash on the first message"
    assert not msg.ids & set(fn.log.refresh().seen), "the message was delivered before the crash"

    again = bridges.restart(b, "fnbridge-after")     # the test's environment: no switch
    fn.log.wait_delivered(msg.ids, 30 * SLOW, proc=again)
    stop_cleanly(again)


def test_shared_group_splits_messages_between_two_fnbridges(
        mosquitto, fn_server, bridges, tmp_path):
    broker = mosquitto()
    fa = fn_server("--payload-ids", name="fn_a")
    fb = fn_server("--payload-ids", name="fn_b")

    def start(name, client_id, fn):
        return bridges.start([mqtt_pipeline(
            "shared", broker.url, client_id, fn.url, dlq=tmp_path / f"{name}-dlq.jsonl",
            mqtt={"shared_group": "fnb"})], name=name)
    a = start("fnbridge-a", "fnb-a", fa)
    b = start("fnbridge-b", "fnb-b", fb)
    broker.wait_subscribed("fnb-a", "$share/fnb/sensors/#", proc=a)
    broker.wait_subscribed("fnb-b", "$share/fnb/sensors/#", proc=b)

    pub = publish(broker.url, "sensors/shared", 10_000, prefix="sh-")
    wait_until(lambda: pub.ids <= (fa.log.refresh().ok | fb.log.refresh().ok)
               or not (a.running() and b.running()), 60 * SLOW, "every message delivered")
    assert a.running() and b.running()
    stop_cleanly(a)
    stop_cleanly(b)

    got_a, got_b = fa.log.refresh().ok & pub.ids, fb.log.refresh().ok & pub.ids
    assert not pub.ids - (got_a | got_b)
    assert not got_a & got_b, (f"{len(got_a & got_b)} messages went to both: "
                               "not one shared subscription")
    assert min(len(got_a), len(got_b)) >= 1000, (
        f"uneven split: {len(got_a)} and {len(got_b)} of {pub.count}")


# ------------------------------------------------------------ event content


def test_binary_payloads_arrive_base64_with_their_exact_bytes(
        mosquitto, capture, bridges, tmp_path):
    broker = mosquitto()
    fn = capture()
    b = bridges.start([mqtt_pipeline("binary", broker.url, "fnb-bin", fn.url,
                                     dlq=tmp_path / "dlq.jsonl")])
    broker.wait_subscribed("fnb-bin", "sensors/#", proc=b)

    pub = publish(broker.url, "sensors/bin", 20, "--binary", "--size", 300, prefix="bin-")
    records = fn.wait_records(20, 30, proc=b)
    stop_cleanly(b)

    by_id = {record_payload_id(r): r for r in records}
    assert set(by_id) == pub.ids
    for k in range(20):
        r = by_id[f"bin-{k}"]
        assert r["payloadEncoding"] == "base64"
        assert base64.b64decode(r["payload"]) == binary_payload("bin-", k, 300)
        assert r["topic"] == "sensors/bin"


def test_v5_properties_and_metadata_arrive_in_the_event(
        mosquitto, capture, bridges, tmp_path):
    broker = mosquitto()
    fn = capture()
    b = bridges.start([mqtt_pipeline("props", broker.url, "fnb-props", fn.url,
                                     dlq=tmp_path / "dlq.jsonl")])
    broker.wait_subscribed("fnb-props", "sensors/#", proc=b)
    assert re.search(r"New client connected from \S+ as fnb-props \(p5,", broker.log()), \
        "fnbridge did not connect with MQTT v5 (the default protocol)"

    t0 = time.time() * 1000
    publish(broker.url, "sensors/props/1", 1, "--content-type", "application/json",
            "--user-property", "site=north", "--user-property", "unit=celsius",
            "--response-topic", "replies/props", "--correlation-data", "c0rr-1",
            prefix="props-")
    publish(broker.url, "sensors/plain", 1, "--qos", 0, prefix="plain-")
    fn.wait_records(2, 30, proc=b)
    t1 = time.time() * 1000
    stop_cleanly(b)

    for event in fn.events:
        assert event["source"] == "mqtt" and event["pipeline"] == "props"
    records = {record_payload_id(r): r for r in fn.records()}
    assert set(records) == {"props-0", "plain-0"}
    r = records["props-0"]
    assert r["topic"] == "sensors/props/1"
    assert r["qos"] == 1
    assert r["retain"] is False
    assert t0 - 1000 <= r["receivedAt"] <= t1 + 1000, f"receivedAt {r['receivedAt']}"
    assert r["payloadEncoding"] == "json"
    assert r["payload"]["id"] == "props-0" and r["payload"]["n"] == 0
    props = r["properties"]
    assert props["contentType"] == "application/json"
    assert props["responseTopic"] == "replies/props"
    assert base64.b64decode(props["correlationData"]) == b"c0rr-1"
    assert props["userProperties"] == [{"key": "site", "value": "north"},
                                       {"key": "unit", "value": "celsius"}]
    plain = records["plain-0"]
    assert plain["qos"] == 0
    for key in ("contentType", "responseTopic", "correlationData", "userProperties"):
        assert key not in plain.get("properties", {}), f"{key} on a message without it"
    assert isinstance(r["id"], str) and isinstance(plain["id"], str)
    assert r["id"] != plain["id"], "two records with one id"


def test_protocol_311_delivers_and_marks_retained_messages(
        mosquitto, capture, bridges, tmp_path):
    broker = mosquitto()
    retained = publish(broker.url, "sensors/state", 1, "--retain", "--protocol", "3.1.1",
                       prefix="ret-")
    fn = capture()
    b = bridges.start([mqtt_pipeline("v311", broker.url, "fnb-311", fn.url,
                                     dlq=tmp_path / "dlq.jsonl", mqtt={"protocol": "3.1.1"})])
    broker.wait_subscribed("fnb-311", "sensors/#", proc=b)
    # mosquitto logs the protocol as p2 for 3.1.1, p5 for v5
    assert re.search(r"New client connected from \S+ as fnb-311 \(p2,", broker.log()), \
        "fnbridge did not connect with MQTT 3.1.1"

    live = publish(broker.url, "sensors/live", 5, "--protocol", "3.1.1", prefix="live-")
    fn.wait_records(6, 30, proc=b)
    stop_cleanly(b)

    records = {record_payload_id(r): r for r in fn.records()}
    assert set(records) == retained.ids | live.ids
    assert records["ret-0"]["retain"] is True
    assert records["ret-0"]["topic"] == "sensors/state"
    for rid in live.ids:
        assert records[rid]["retain"] is False
        assert records[rid]["payloadEncoding"] == "json"
        assert records[rid]["payload"]["id"] == rid


def test_oversized_message_is_dead_lettered_and_the_next_one_delivered(
        mosquitto, fn_server, bridges, tmp_path):
    broker = mosquitto()
    fn = fn_server("--payload-ids")
    dlq = tmp_path / "dlq.jsonl"
    pipeline = mqtt_pipeline("oversized", broker.url, "fnb-big", fn.url, dlq=dlq)
    pipeline["function"]["http"]["max_payload"] = "4KiB"
    b = bridges.start([pipeline])
    broker.wait_subscribed("fnb-big", "sensors/#", proc=b)

    big = publish(broker.url, "sensors/big", 1, "--size", 8192, prefix="big-")
    small = publish(broker.url, "sensors/small", 1, prefix="small-")
    fn.log.wait_delivered(small.ids, 30 * SLOW, proc=b)
    wait_until(lambda: read_dlq(dlq) or not b.running(), 30 * SLOW, "a dead-letter record")
    stop_cleanly(b)

    entries = read_dlq(dlq)
    assert len(entries) == 1, f"expected one dead-letter record, got {len(entries)}"
    entry = entries[0]
    assert entry["requestContext"]["condition"] == "MaximumPayloadSizeExceeded"
    assert entry["requestContext"]["approximateInvokeCount"] == 0
    assert entry["pipeline"] == "oversized"
    source = json.dumps(entry["source"])
    assert "sensors/big" in source and "sensors/small" not in source, source
    # Too large for any event: the message's own bytes, not an event.
    assert entry["payloadEncoding"] == "base64"
    message = json.loads(base64.b64decode(entry["payload"]))
    assert message["id"] == "big-0" and len(base64.b64decode(entry["payload"])) == 8192
    assert not big.ids & set(fn.log.refresh().seen), "the oversized message was sent"


def test_partial_batch_response_naming_a_record_id_retries_only_that_record(
        mosquitto, fn_server, bridges, tmp_path):
    """batchItemFailures names MQTT records by their `id` (the spool
    sequence; fn_server --payload-ids answers with it)."""
    broker = mosquitto()
    fn = fn_server("--payload-ids", "--partial", "part-5")
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([mqtt_pipeline("partial", broker.url, "fnb-partial", fn.url, dlq=dlq,
                                     batch={"max_records": 100, "max_wait": "300ms"})])
    broker.wait_subscribed("fnb-partial", "sensors/#", proc=b)

    pub = publish(broker.url, "sensors/partial", 20, prefix="part-")
    fn.log.wait_delivered(pub.ids - {"part-5"}, 30 * SLOW, proc=b)
    wait_until(lambda: read_dlq(dlq) or not b.running(), 30 * SLOW, "a dead-letter record")
    stop_cleanly(b)

    fn.log.refresh()
    assert fn.log.seen["part-5"] == 3, "the failed record was not retried up to max_attempts"
    assert "part-5" not in fn.log.ok
    others = {rid: n for rid, n in fn.log.seen.items() if rid != "part-5"}
    assert set(others.values()) == {1}, f"records that succeeded were sent again: {others}"
    entries = read_dlq(dlq)
    assert len(entries) == 1
    assert entries[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert [record_payload_id(r) for r in entries[0]["payload"]["records"]] == ["part-5"]


# ----------------------------------------------------------- auth and TLS


def test_wrong_password_is_reported_and_fnbridge_keeps_trying(
        mosquitto, fn_server, bridges, tmp_path):
    broker = mosquitto(password=("bridge", "right-pass-1"))
    fn = fn_server("--payload-ids")

    def pipeline(password):
        return [mqtt_pipeline("auth", broker.url, "fnb-auth", fn.url,
                              dlq=tmp_path / "dlq.jsonl",
                              mqtt={"username": "bridge", "password": password})]
    bad = bridges.start(pipeline("wrong-pass-7"), name="fnbridge-bad")
    wait_until(lambda: AUTH_ERROR.search(bad.stderr()) or not bad.running(), 30 * SLOW,
               "an authentication error in fnbridge's log")
    assert bad.running(), f"fnbridge exited with {bad.popen.returncode} on a refused login"
    tries = broker.connections()
    wait_until(lambda: broker.connections() > tries or not bad.running(), 45 * SLOW,
               "fnbridge to try to connect again")
    assert bad.running(), f"fnbridge exited with {bad.popen.returncode} while retrying"
    assert "wrong-pass-7" not in bad.stderr(), "the password appeared in the log"
    stop_cleanly(bad)

    # The same config with the right password: the credentials are sent.
    good = bridges.start(pipeline("right-pass-1"), name="fnbridge-good")
    broker.wait_subscribed("fnb-auth", "sensors/#", proc=good)
    pub = publish(broker.url, "sensors/auth", 10, "--username", "bridge",
                  "--password", "right-pass-1", prefix="auth-")
    fn.log.wait_delivered(pub.ids, 30 * SLOW, proc=good)
    stop_cleanly(good)
    assert "right-pass-1" not in good.stderr(), "the password appeared in the log"


def test_unknown_ca_is_reported_as_a_certificate_error(
        mosquitto, certs, fn_server, bridges, tmp_path):
    broker = mosquitto(certs=certs)
    fn = fn_server("--payload-ids")
    b = bridges.start([mqtt_pipeline("badca", broker.tls_url, "fnb-badca", fn.url,
                                     dlq=tmp_path / "dlq.jsonl",
                                     mqtt={"tls": {"ca": str(certs.other_ca)}})])
    wait_until(lambda: TLS_ERROR.search(b.stderr()) or not b.running(), 30 * SLOW,
               "a certificate/TLS error in fnbridge's log")
    assert b.running(), f"fnbridge exited with {b.popen.returncode} on a TLS error"
    tries = broker.connections()
    # Retries back off up to 30 s: wait past that.
    wait_until(lambda: broker.connections() > tries or not b.running(), 45 * SLOW,
               "fnbridge to try to connect again")
    assert b.running(), f"fnbridge exited with {b.popen.returncode} while retrying"
    assert broker.connections("fnb-badca") == 0, "connected although the CA is wrong"
    stop_cleanly(b)


def test_tls_with_the_test_ca_delivers(mosquitto, certs, fn_server, bridges, tmp_path):
    broker = mosquitto(certs=certs)
    fn = fn_server("--payload-ids")
    b = bridges.start([mqtt_pipeline("tls", broker.tls_url, "fnb-tls", fn.url,
                                     dlq=tmp_path / "dlq.jsonl",
                                     mqtt={"tls": {"ca": str(certs.ca)}})])
    broker.wait_subscribed("fnb-tls", "sensors/#", proc=b)
    assert re.search(rf"New connection from \S+ on port {broker.tls_port}\.", broker.log())

    pub = publish(broker.tls_url, "sensors/tls", 500, "--cafile", certs.ca, prefix="tls-")
    fn.log.wait_delivered(pub.ids, 30 * SLOW, proc=b)
    stop_cleanly(b)


def test_mutual_tls_with_a_client_certificate_delivers(
        mosquitto, certs, fn_server, bridges, tmp_path):
    broker = mosquitto(certs=certs, require_certificate=True)
    fn = fn_server("--payload-ids")
    b = bridges.start([mqtt_pipeline("mtls", broker.tls_url, "fnb-mtls", fn.url,
                                     dlq=tmp_path / "dlq.jsonl",
                                     mqtt={"tls": {"ca": str(certs.ca),
                                                   "cert": str(certs.client_cert),
                                                   "key": str(certs.client_key)}})])
    broker.wait_subscribed("fnb-mtls", "sensors/#", proc=b)

    pub = publish(broker.url, "sensors/mtls", 100, prefix="mtls-")     # plain listener
    fn.log.wait_delivered(pub.ids, 30 * SLOW, proc=b)
    stop_cleanly(b)


# -------------------------------------------------------------------- reply


def test_reply_publishes_the_function_body_with_the_correlation_data(
        mosquitto, capture, bridges, tmp_path):
    broker = mosquitto()

    def respond(event):
        ids = [record_payload_id(r) for r in event["records"]]
        return 200, json.dumps({"answer": 42, "for": ids}).encode()
    fn = capture(respond)
    sub = Subscriber(broker, "replies/#")
    try:
        b = bridges.start([mqtt_pipeline("rpc", broker.url, "fnb-rpc", fn.url,
                                         dlq=tmp_path / "dlq.jsonl", mqtt={"reply": True},
                                         batch={"max_records": 1})])
        broker.wait_subscribed("fnb-rpc", "sensors/#", proc=b)

        publish(broker.url, "sensors/rpc", 1, "--response-topic", "replies/dev-1",
                "--correlation-data", "corr-123", prefix="rpc-")
        (reply,) = sub.wait_messages(1, 30)
        stop_cleanly(b)
    finally:
        sub.close()

    assert reply.topic == "replies/dev-1"
    assert reply.payload == json.dumps({"answer": 42, "for": ["rpc-0"]}).encode()
    assert getattr(reply.properties, "CorrelationData", None) == b"corr-123"
