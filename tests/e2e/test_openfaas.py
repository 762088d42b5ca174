"""Kafka -> the openfaas target (README: Config reference; README: Outcomes, issue 5 point 2)
against tests/tools/openfaas_gateway.py, an OpenFaaS-shaped gateway
(synchronous and async functions, callbacks as the queue-worker sends
them, basic auth) that records every call."""
import sys

import pytest

import helpers
from helpers import (SLOW, dlq_ids, kafka_pipeline, produce, read_dlq, run_fnbridge,
                     stop_cleanly, wait_until)

sys.path.insert(0, str(helpers.REPO / "tests" / "tools"))
from fake_http import kafka_coordinates  # noqa: E402
from openfaas_gateway import CallbackSink, OpenFaaSGateway  # noqa: E402

TOPICS = {"of-sync": 2, "of-async": 2, "of-async-nocb": 1, "of-auth-pw": 1,
          "of-auth-file": 1, "of-auth-wrong": 1, "of-hdr-a": 2, "of-hdr-b": 1,
          "of-hdr-c": 1, "of-hdr-d": 2, "of-500": 1}

PASSWORD = "gw-Pa55word-not-for-logs"


@pytest.fixture
def gateway():
    """gateway(**options) starts an OpenFaaSGateway."""
    started = []

    def start(**kw):
        gw = OpenFaaSGateway(**kw)
        started.append(gw)
        return gw
    yield start
    for gw in started:
        gw.close()


@pytest.fixture
def sink():
    s = CallbackSink()
    yield s
    s.close()


def openfaas_function(gw, name="echo", **opts):
    return {"openfaas": {"gateway": gw.url, "name": name, "timeout": "5s", **opts}}


def calls_of(gw, name):
    return [c for c in gw.snapshot() if c["name"] == name]


def test_sync_calls_post_to_the_function_with_the_configured_headers(
        kafka, gateway, bridges, group, tmp_path):
    produced = produce(kafka, "of-sync", 300, "--partitions", 2)
    gw = gateway()
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline(
        "sync", kafka, "of-sync", group,
        openfaas_function(gw, headers={"X-Tenant": "blue"}), dlq=dlq)])

    gw.wait_delivered(produced.ids, 60 * SLOW, proc=b)
    stop_cleanly(b)

    calls = gw.snapshot()
    assert {(c["method"], c["path"]) for c in calls} == {("POST", "/function/echo")}
    assert {c["status"] for c in calls} == {200}
    assert {c["headers"].get("x-tenant") for c in calls} == {"blue"}
    assert set(gw.seen().values()) == {1}, "a record was sent twice"
    assert read_dlq(dlq) == []


def test_async_calls_are_accepted_with_202_and_the_callback_receives_the_result(
        kafka, gateway, sink, bridges, group, tmp_path):
    with_cb = produce(kafka, "of-async", 100, "--partitions", 2)
    without_cb = produce(kafka, "of-async-nocb", 20)
    gw = gateway()
    callback = f"{sink.url}/done?pipeline=async"
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([
        kafka_pipeline("async", kafka, "of-async", group,
                       openfaas_function(gw, "echo-cb", **{"async": True,
                                                           "callback_url": callback}),
                       dlq=dlq),
        kafka_pipeline("async-nocb", kafka, "of-async-nocb", group + "-nocb",
                       openfaas_function(gw, "echo-nocb", **{"async": True}), dlq=dlq),
    ])

    gw.wait_delivered(with_cb.ids | without_cb.ids, 60 * SLOW, proc=b)
    cb_calls = calls_of(gw, "echo-cb")
    wait_until(lambda: len(sink.snapshot()) >= len(cb_calls), 30 * SLOW,
               f"{len(cb_calls)} callbacks")
    stop_cleanly(b)

    cb_calls = calls_of(gw, "echo-cb")
    nocb_calls = calls_of(gw, "echo-nocb")
    for calls, name in ((cb_calls, "echo-cb"), (nocb_calls, "echo-nocb")):
        assert {(c["path"], c["status"]) for c in calls} == {(f"/async-function/{name}", 202)}
    assert {c["callback_url"] for c in cb_calls} == {callback}
    assert {c["callback_url"] for c in nocb_calls} == {None}, \
        "X-Callback-Url sent without a callback_url"
    received = {r["headers"]["x-call-id"]: r for r in sink.snapshot()}
    assert len(received) == len(sink.snapshot()) == len(cb_calls)
    for call in cb_calls:
        cb = received.get(call["call_id"])
        assert cb is not None, f"no callback for call {call['call_id']}"
        assert cb["path"] == "/done?pipeline=async"
        assert cb["headers"]["x-function-status"] == "200"
        assert cb["body"] == call["body"], "the callback did not carry the function's result"
    assert read_dlq(dlq) == []


def test_basic_auth_from_password_and_password_file_and_a_wrong_one_dead_lettered(
        kafka, gateway, bridges, group, tmp_path):
    pw = produce(kafka, "of-auth-pw", 20)
    from_file = produce(kafka, "of-auth-file", 20)
    wrong = produce(kafka, "of-auth-wrong", 20)
    secret_file = tmp_path / "basic-auth-password"
    secret_file.write_text(PASSWORD + "\n")        # as kubectl/faas-cli write it
    gw = gateway(password=PASSWORD)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([
        kafka_pipeline("pw", kafka, "of-auth-pw", group + "-pw",
                       openfaas_function(gw, "fn-pw", password=PASSWORD), dlq=dlq),
        kafka_pipeline("file", kafka, "of-auth-file", group + "-file",
                       openfaas_function(gw, "fn-file", password_file=str(secret_file)),
                       dlq=dlq),
        kafka_pipeline("wrong", kafka, "of-auth-wrong", group + "-wrong",
                       openfaas_function(gw, "fn-wrong", password="not-the-password"),
                       dlq=dlq, retry={"max_attempts": 5}),
    ], log_level="debug")

    gw.wait_delivered(pw.ids | from_file.ids, 60 * SLOW, proc=b)
    wait_until(lambda: set(dlq_ids(read_dlq(dlq))) >= wrong.ids or not b.running(),
               30 * SLOW, "every record of the wrong password dead-lettered")
    stop_cleanly(b)

    for name in ("fn-pw", "fn-file"):
        calls = calls_of(gw, name)
        assert calls and all(c["auth_ok"] and c["user"] == "admin" for c in calls), name
    wrong_calls = calls_of(gw, "fn-wrong")
    assert {c["status"] for c in wrong_calls} == {401}
    assert wrong_calls[0]["user"] == "admin", "Basic auth not sent for the default user"
    entries = read_dlq(dlq)
    assert sorted(dlq_ids(entries)) == sorted(wrong.ids), "only the wrong password's, once each"
    for entry in entries:
        assert entry["requestContext"]["condition"] == "NonRetryableError"
        assert entry["requestContext"]["approximateInvokeCount"] == 1
        assert entry["responseContext"]["statusCode"] == 401
    wrong_seen = {rid: n for rid, n in gw.seen().items() if rid in wrong.ids}
    assert set(wrong_seen.values()) == {1}, "a call answered 401 was retried"
    stderr = b.stderr()
    assert PASSWORD not in stderr and "not-the-password" not in stderr


def test_kafka_coordinates_travel_as_x_topic_partition_and_offset_headers(
        kafka, gateway, bridges, group, tmp_path):
    """X-Topic when every record of the call has one topic; X-Kafka-Partition
    and X-Kafka-Offset (the first record's) when they have one partition: an
    offset without its partition would name nothing."""
    a = produce(kafka, "of-hdr-a", 40, "--partitions", 2)
    hdr_b = produce(kafka, "of-hdr-b", 10)
    c = produce(kafka, "of-hdr-c", 20)
    d = produce(kafka, "of-hdr-d", 20, "--partitions", 2)
    gw = gateway()
    # Two topics read at once into one batch: calls spanning partitions.
    spanning = kafka_pipeline("hdr", kafka, "of-hdr-a", group, openfaas_function(gw),
                              batch={"max_records": 100, "max_wait": "1s"})
    spanning["source"]["kafka"]["topics"] = ["of-hdr-a", "of-hdr-b"]
    # Two partitions of one topic in one batch.
    parts = kafka_pipeline("hdr-parts", kafka, "of-hdr-d", group + "-parts",
                           openfaas_function(gw), batch={"max_records": 100, "max_wait": "1s"})
    # One partition in batches of 5: each call's first offset differs.
    single = kafka_pipeline("hdr-single", kafka, "of-hdr-c", group + "-single",
                            openfaas_function(gw), batch={"max_records": 5})
    b = bridges.start([spanning, parts, single])

    gw.wait_delivered(a.ids | hdr_b.ids | c.ids | d.ids, 60 * SLOW, proc=b)
    stop_cleanly(b)

    n_single, n_spanning, one_topic_spanning = 0, 0, 0
    for call in gw.snapshot():
        coords = kafka_coordinates(call["body"])
        assert coords, f"a call carried no Kafka records: {call['body'][:200]!r}"
        h = call["headers"]
        topics = {t for t, _, _ in coords}
        partitions = {(t, p) for t, p, _ in coords}
        where = f"call with {sorted(partitions)}"
        if len(topics) == 1:
            assert h.get("x-topic") == coords[0][0], where
        else:
            assert "x-topic" not in h, where
        if len(partitions) == 1:
            n_single += 1
            assert h.get("x-kafka-partition") == str(coords[0][1]), where
            assert h.get("x-kafka-offset") == str(coords[0][2]), where
            continue
        n_spanning += 1
        if len(topics) == 1:
            one_topic_spanning += 1
            assert "x-kafka-partition" not in h, where
        assert "x-kafka-offset" not in h, where
    assert n_single >= 4, f"only {n_single} calls held the records of a single partition"
    assert one_topic_spanning and n_spanning > one_topic_spanning, \
        "no call spanned partitions of one topic, or no call spanned topics"


def test_500_is_retried_until_delivered(kafka, gateway, bridges, group, tmp_path):
    produced = produce(kafka, "of-500", 50)
    gw = gateway(fail_first=3)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline(
        "retry500", kafka, "of-500", group, openfaas_function(gw), dlq=dlq,
        retry={"max_attempts": 10, "backoff": {"initial": "10ms", "max": "50ms"}})])

    gw.wait_delivered(produced.ids, 60 * SLOW, proc=b)
    stop_cleanly(b)

    calls = gw.snapshot()
    assert [c["status"] for c in calls[:3]] == [500] * 3
    failed = {rid for c in calls[:3] for rid in c["ids"]}
    assert failed and failed <= gw.delivered()
    assert read_dlq(dlq) == []


def test_check_rejects_callback_url_without_async(tmp_path):
    path = tmp_path / "of.yaml"
    path.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        "pipelines:\n"
        "  - name: a\n"
        "    source: {kafka: {brokers: \"127.0.0.1:9\", topics: [t], group_id: g}}\n"
        "    function:\n"
        "      openfaas: {gateway: \"http://127.0.0.1:8080\", name: fn,\n"
        "                 callback_url: \"http://127.0.0.1:9/cb\"}\n")
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 2, r.stderr
    assert f"{path}:" in r.stderr and "pipelines[0].function.openfaas" in r.stderr, r.stderr
    assert "callback_url" in r.stderr and "async" in r.stderr, r.stderr
