"""The cloudevents format end to end (README: What the function receives): Kafka (mock cluster)
and MQTT (mosquitto) records through the http target to a capturing
function, checked as a Knative service would see them: structured batch
mode (application/cloudevents-batch+json, every required attribute) and
binary mode with batch.max_records 1 (ce-* headers, the record's bytes as
the body, Content-Type its datacontenttype). Values, keys and headers are
compared with the records as stored in Kafka, read back with
confluent-kafka."""
import base64
import json
import os
import time
from datetime import datetime, timezone
from urllib.parse import unquote

import pytest
from confluent_kafka import Consumer, TopicPartition

import helpers
from helpers import (SLOW, http_function, kafka_pipeline, produce, read_dlq,
                     stop_cleanly, wait_until)
from mqtt_helpers import CaptureFunction, Mosquitto, mqtt_pipeline, publish

TOPICS = {"ce-batch": 2, "ce-binary": 1}

BATCH_TYPE = "application/cloudevents-batch+json"
REQUIRED = ("specversion", "id", "source", "type", "subject", "time")


@pytest.fixture
def function():
    """function(raw=False) starts a capturing HTTP function."""
    started = []

    def start(raw=False):
        fn = CaptureFunction(raw=raw)
        started.append(fn)
        return fn
    yield start
    for fn in started:
        fn.close()


def stored(kafka, *produced):
    """The stored messages of the produced records: {id: message}."""
    want = set().union(*(p.ids for p in produced))
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "ce-reader",
                         "enable.auto.commit": False})
    try:
        starts = {}
        for p in produced:
            for part, (first, _) in p.ranges.items():
                tp = (p.topic, part)
                starts[tp] = min(first, starts.get(tp, first))
        consumer.assign([TopicPartition(t, part, first)
                         for (t, part), first in starts.items()])
        messages = {}
        deadline = time.monotonic() + 30 * SLOW
        while not want <= messages.keys() and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and not m.error():
                messages[f"{m.topic()}-{m.partition()}-{m.offset()}"] = m
        assert want <= set(messages), "could not read the records back"
        return messages
    finally:
        consumer.close()


def rfc3339_ms(ms):
    t = datetime.fromtimestamp(ms // 1000, timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def epoch_ms(text):
    t = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return t.timestamp() * 1000


def header_attrs(headers):
    """The ce-* headers of a request as {attribute: percent-decoded value}."""
    return {name[3:].lower(): unquote(value) for name, value in headers.items()
            if name.lower().startswith("ce-")}


def test_structured_batch_mode_carries_each_kafka_record_as_a_cloudevent(
        kafka, bridges, group, function, tmp_path):
    fn = function()
    as_json = produce(kafka, "ce-batch", 40, "--partitions", 2, "--keys", "--headers")
    as_binary = produce(kafka, "ce-batch", 10, "--partitions", 2, "--binary",
                        "--start-seq", 1000)
    ids = as_json.ids | as_binary.ids
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline("ce-batch", kafka, "ce-batch", group,
                                      http_function(fn.url, format="cloudevents"),
                                      dlq=dlq)])

    def received():
        if not b.running():
            raise AssertionError(f"fnbridge exited with {b.popen.returncode}")
        with fn.lock:
            return {e.get("id") for ev in fn.events if isinstance(ev, list) for e in ev}
    wait_until(lambda: received() >= ids, 60 * SLOW, f"{len(ids)} events at the function")
    stop_cleanly(b)
    messages = stored(kafka, as_json, as_binary)

    events = {}
    for headers, body in fn.requests:
        assert headers.get("Content-Type") == BATCH_TYPE
        assert not header_attrs(headers), "ce-* headers in structured mode"
        batch = json.loads(body)
        assert isinstance(batch, list) and batch
        for e in batch:
            assert e["id"] not in events, f"{e['id']} delivered twice"
            events[e["id"]] = e
    assert set(events) == ids
    assert max(len(json.loads(body)) for _, body in fn.requests) > 1, "never a batch"
    for rid, e in events.items():
        m = messages[rid]
        assert all(isinstance(e.get(a), str) and e[a] for a in REQUIRED), e
        assert all(a.isalnum() and a.islower() or a == "data_base64" for a in e), e
        assert e["specversion"] == "1.0"
        assert e["source"] == "/fnbridge/ce-batch/kafka/ce-batch"
        assert e["type"] == "dev.knative.kafka.event"
        assert e["subject"] == f"partition:{m.partition()}#{m.offset()}"
        assert e["time"] == rfc3339_ms(m.timestamp()[1])
    for rid in as_json.ids:
        e, m = events[rid], messages[rid]
        assert e["datacontenttype"] == "application/json"
        assert e["data"] == json.loads(m.value()) and "data_base64" not in e
        assert e["key"] == m.key().decode()
        hdrs = dict(m.headers())
        assert e["kafkaheadertraceid"] == hdrs["trace-id"].decode()
        assert "kafkaheaderbin" not in e, "a binary header became a string attribute"
    for rid in as_binary.ids:
        e, m = events[rid], messages[rid]
        assert e["datacontenttype"] == "application/octet-stream"
        assert base64.b64decode(e["data_base64"], validate=True) == m.value()
        assert "data" not in e and "key" not in e and "keybase64" not in e
    assert read_dlq(dlq) == []


def test_binary_mode_with_max_records_1_sends_ce_headers_and_the_raw_value(
        kafka, bridges, group, function, tmp_path):
    """Needs the http target to send the invocation's headers and the
    binary-mode Content-Type (br_format_content_type with the pipeline context)."""
    fn = function(raw=True)
    as_json = produce(kafka, "ce-binary", 6, "--keys", "--headers")
    as_binary = produce(kafka, "ce-binary", 4, "--binary", "--start-seq", 1000)
    ids = as_json.ids | as_binary.ids
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline("ce-binary", kafka, "ce-binary", group,
                                      http_function(fn.url, format="cloudevents"),
                                      dlq=dlq, batch={"max_records": 1, "max_wait": "1ms"})])

    def enough():
        if not b.running():
            raise AssertionError(f"fnbridge exited with {b.popen.returncode}")
        with fn.lock:
            return len(fn.requests) >= len(ids)
    wait_until(enough, 60 * SLOW, f"{len(ids)} requests at the function")
    stop_cleanly(b)
    messages = stored(kafka, as_json, as_binary)

    seen = set()
    for headers, body in fn.requests:
        attrs = header_attrs(headers)
        assert all(attrs.get(a) for a in REQUIRED), \
            f"ce-* headers missing: got {sorted(attrs)}, Content-Type {headers.get('Content-Type')}"
        rid = attrs["id"]
        assert rid in ids and rid not in seen, rid
        seen.add(rid)
        m = messages[rid]
        assert body == m.value(), f"{rid}: the body is not the record's value"
        assert attrs["specversion"] == "1.0"
        assert attrs["source"] == "/fnbridge/ce-binary/kafka/ce-binary"
        assert attrs["type"] == "dev.knative.kafka.event"
        assert attrs["subject"] == f"partition:{m.partition()}#{m.offset()}"
        assert attrs["time"] == rfc3339_ms(m.timestamp()[1])
        assert "datacontenttype" not in attrs, "datacontenttype belongs in Content-Type"
        if rid in as_json.ids:
            assert headers.get("Content-Type") == "application/json"
            assert attrs["key"] == m.key().decode()
            assert attrs["kafkaheadertraceid"] == dict(m.headers())["trace-id"].decode()
        else:
            assert headers.get("Content-Type") == "application/octet-stream"
            assert "key" not in attrs
    assert seen == ids
    assert read_dlq(dlq) == []


def test_mqtt_messages_arrive_as_cloudevents(procs, bridges, function, tmp_path):
    assert os.access(helpers.tool("mqtt_pub"), os.X_OK), "no mqtt_pub: run `make tools`"
    broker = Mosquitto(procs).start()
    fn = function()
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([mqtt_pipeline(
        "ce-mqtt", broker.url, "fnb-ce", fn.url, dlq=dlq,
        function={"http": {"url": fn.url, "format": "cloudevents", "timeout": "5s"}})])
    broker.wait_subscribed("fnb-ce", "sensors/#", proc=b)

    t0 = time.time() * 1000
    publish(broker.url, "sensors/ce/json", 5, prefix="j-")
    publish(broker.url, "sensors/ce/bin", 3, "--binary", prefix="b-")
    publish(broker.url, "sensors/ce/text", 2, "--content-type", "text/plain", prefix="t-")

    def events():
        with fn.lock:
            return [e for ev in fn.events for e in ev]

    def enough():
        if not b.running():
            raise AssertionError(f"fnbridge exited with {b.popen.returncode}")
        return len(events()) >= 10
    wait_until(enough, 30 * SLOW, "10 events at the function")
    t1 = time.time() * 1000
    stop_cleanly(b)

    assert all(h.get("Content-Type") == BATCH_TYPE for h, _ in fn.requests)
    got = events()
    assert len(got) == 10 and len({e["id"] for e in got}) == 10
    by_topic = {}
    for e in got:
        assert all(isinstance(e.get(a), str) and e[a] for a in REQUIRED), e
        assert e["specversion"] == "1.0"
        assert e["source"] == "/fnbridge/ce-mqtt/mqtt"
        assert e["type"] == "dev.fnbridge.mqtt.message"
        assert t0 - 1000 <= epoch_ms(e["time"]) <= t1 + 1000, e["time"]
        by_topic.setdefault(e["subject"], []).append(e)
    assert {t: len(es) for t, es in by_topic.items()} == \
        {"sensors/ce/json": 5, "sensors/ce/bin": 3, "sensors/ce/text": 2}
    assert {e["data"]["id"] for e in by_topic["sensors/ce/json"]} == \
        {f"j-{k}" for k in range(5)}
    assert all(e["datacontenttype"] == "application/json"
               for e in by_topic["sensors/ce/json"])
    for e in by_topic["sensors/ce/bin"]:
        assert e["datacontenttype"] == "application/octet-stream"
        assert base64.b64decode(e["data_base64"]).startswith(b"\xff\xfeb-")
    for e in by_topic["sensors/ce/text"]:
        # JSON bytes, but the publisher said text/plain: kept as bytes
        assert e["datacontenttype"] == "text/plain" and "data" not in e
        assert json.loads(base64.b64decode(e["data_base64"]))["id"].startswith("t-")
    assert read_dlq(dlq) == []
