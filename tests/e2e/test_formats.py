"""What the function receives (README: What the function receives): every field of the lambda
and json formats checked against the records as they are stored in Kafka
(read back with confluent-kafka), not against what we meant to produce."""
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from confluent_kafka import Consumer, TopicPartition

from helpers import (SLOW, b64, event_ids, event_records, http_function,
                     kafka_pipeline, produce, signed_bytes, stop_bridge, wait_until)

TOPICS = {"fmt-binary": 2, "fmt-text": 1, "fmt-json": 2}


class Capture:
    """An HTTP function on 127.0.0.1 that keeps every event it is sent."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with capture.lock:
                    capture.events.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received_ids(self):
        with self.lock:
            return {rid for e in self.events for rid in event_ids(e)}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def capture():
    c = Capture()
    yield c
    c.stop()


def read_topic(kafka, produced):
    """The stored messages of produced's records: {id: message}."""
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "fmt-reader",
                         "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(produced.topic, p, first)
                         for p, (first, _) in produced.ranges.items()])
        messages = {}
        deadline = time.monotonic() + 30 * SLOW
        while not produced.ids <= messages.keys() and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and not m.error():
                messages[f"{m.topic()}-{m.partition()}-{m.offset()}"] = m
        assert set(messages) >= produced.ids, "could not read the records back"
        return messages
    finally:
        consumer.close()


def deliver(kafka, bridges, group, capture, topic, fmt, ids, tmp_path):
    """Runs fnbridge until capture has every id; returns the events."""
    b = bridges.start([kafka_pipeline(topic, kafka, topic, group,
                                      http_function(capture.url, format=fmt),
                                      dlq=tmp_path / "dlq.jsonl")])
    wait_until(lambda: capture.received_ids() >= ids or not b.running(),
               60 * SLOW, f"{len(ids)} records at the function")
    rc, _ = stop_bridge(b, 30 * SLOW)
    assert rc == 0
    return list(capture.events)


def lambda_records_by_id(events, kafka):
    """Checks the lambda envelope of every event; returns {id: record}."""
    records = {}
    for event in events:
        assert event["eventSource"] == "SelfManagedKafka"
        assert event["bootstrapServers"] == kafka.bootstrap
        for key, batch in event["records"].items():
            for r in batch:
                assert key == f"{r['topic']}-{r['partition']}"
                records[f"{r['topic']}-{r['partition']}-{r['offset']}"] = r
    return records


def test_lambda_format_carries_binary_values_keys_and_headers_exactly(
        kafka, bridges, group, capture, tmp_path):
    produced = produce(kafka, "fmt-binary", 60, "--partitions", 2, "--binary", "--keys",
                       "--headers", "--size", 64)
    events = deliver(kafka, bridges, group, capture, "fmt-binary", "lambda",
                     produced.ids, tmp_path)
    stored = read_topic(kafka, produced)

    records = lambda_records_by_id(events, kafka)
    assert set(records) == produced.ids
    for rid, r in records.items():
        m = stored[rid]
        assert base64.b64decode(r["value"], validate=True) == m.value(), rid
        assert r["key"] == b64(m.key()), rid
        assert r["headers"] == [{name: signed_bytes(value)} for name, value in m.headers()]
        ts_type, ts = m.timestamp()
        assert r["timestamp"] == ts
        assert r["timestampType"] == "CREATE_TIME"
    assert any(v < 0 for r in records.values() for h in r["headers"]
               for vs in h.values() for v in vs), "no header byte >= 0x80 was checked"


def test_lambda_format_base64_encodes_text_values_and_omits_absent_keys(
        kafka, bridges, group, capture, tmp_path):
    produced = produce(kafka, "fmt-text", 20, "--no-value-json", "--size", 40)
    events = deliver(kafka, bridges, group, capture, "fmt-text", "lambda",
                     produced.ids, tmp_path)
    stored = read_topic(kafka, produced)

    records = lambda_records_by_id(events, kafka)
    assert set(records) == produced.ids
    for rid, r in records.items():
        value = base64.b64decode(r["value"], validate=True)
        assert value == stored[rid].value() and value.startswith(b"seq="), rid
        assert "key" not in r, "a record without a key got one"
        assert r["headers"] == []


def test_json_format_embeds_json_values_and_base64_encodes_the_rest(
        kafka, bridges, group, capture, tmp_path):
    as_json = produce(kafka, "fmt-json", 30, "--partitions", 2, "--keys", "--headers")
    as_binary = produce(kafka, "fmt-json", 10, "--partitions", 2, "--binary",
                        "--start-seq", 1000)
    ids = as_json.ids | as_binary.ids
    events = deliver(kafka, bridges, group, capture, "fmt-json", "json", ids, tmp_path)
    stored = {**read_topic(kafka, as_json), **read_topic(kafka, as_binary)}

    records = {}
    for event in events:
        assert event["source"] == "kafka"
        assert event["pipeline"] == "fmt-json"
        for r in event_records(event):
            assert r["id"] == f"{r['topic']}-{r['partition']}-{r['offset']}"
            records[r["id"]] = r
    assert set(records) == ids
    for rid in as_json.ids:
        r, m = records[rid], stored[rid]
        assert r["valueEncoding"] == "json"
        assert r["value"] == json.loads(m.value()), rid
        assert r["keyEncoding"] == "base64"          # "k7" is not JSON
        assert base64.b64decode(r["key"]) == m.key()
        assert r["timestamp"] == m.timestamp()[1]
        assert {n: base64.b64decode(v) for n, v in r["headers"].items()} == dict(m.headers())
    for rid in as_binary.ids:
        r, m = records[rid], stored[rid]
        assert r["valueEncoding"] == "base64"
        assert base64.b64decode(r["value"], validate=True) == m.value(), rid
        assert "key" not in r
        assert r["headers"] == {}
