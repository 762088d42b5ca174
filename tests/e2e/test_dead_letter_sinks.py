"""Dead-letter sinks beyond the file, with real parts: a Kafka sink on the
source's mock cluster and on a second one (read back with confluent-kafka),
an MQTT sink on mosquitto (QoS 1), an HTTP sink (a real HTTP server), a
failing HTTP sink that recovers (nothing acked meanwhile, the source
paused), and a message too large for any event going to each kind."""
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from helpers import SLOW, MockKafka, http_function, kafka_pipeline, wait_until
from mqtt_helpers import Subscriber, mosquitto, mqtt_pipeline  # noqa: F401 (fixture)

TOPICS = {"orders": 1, "orders.dlq": 1, "other": 2, "m": 1, "h": 1, "flow": 2, "big.dlq": 1}
DLQ_HEADERS = ["pipeline", "topic", "partition", "offset", "condition", "attempts",
               "replay_count"]


class DlqServer:
    """An HTTP server on 127.0.0.1 that keeps each POST's body and headers
    and answers `status` (settable while it runs)."""

    def __init__(self, status=200):
        self.status = status
        self.posts = []             # (status answered, content type, body)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    status = outer.status
                    outer.posts.append((status, self.headers.get("Content-Type"), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/dlq"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answered(self, status):
        with self.lock:
            return [p for p in self.posts if p[0] == status]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dlq_server():
    started = []

    def start(status=200):
        s = DlqServer(status)
        started.append(s)
        return s
    yield start
    for s in started:
        s.close()


def produce_records(bootstrap, topic, n, partition=0, big=(), first=0):
    """n records with key k<i>, value {"i": i} and header h=v<i>; the
    indexes in big get a 3000-byte value. Returns {offset: i}."""
    p = Producer({"bootstrap.servers": bootstrap})
    done = {}

    def report(err, msg):
        assert err is None, err
        done[msg.offset()] = int(msg.key()[1:])
    for i in range(first, first + n):
        value = ("x" * 3000 if i in big else json.dumps({"i": i})).encode()
        p.produce(topic, key=f"k{i}".encode(), value=value, partition=partition,
                  headers=[("h", f"v{i}".encode())], on_delivery=report)
    p.flush(30 * SLOW)
    assert len(done) == n
    return done


def read_topic(bootstrap, topic, n, timeout=30):
    """The first n messages of topic, or fails."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{topic}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    try:
        def enough():
            msg = c.poll(0.2)
            if msg is not None and not msg.error():
                got.append(msg)
            return len(got) >= n
        wait_until(enough, timeout * SLOW, f"{n} messages in {topic}", interval=0)
    finally:
        c.close()
    return got


def committed(bootstrap, group, topic, partition):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tp = c.committed([TopicPartition(topic, partition)], timeout=10 * SLOW)[0]
        return tp.offset
    finally:
        c.close()


def one_record_pipeline(kafka, topic, group, fn, dead_letter, **extra):
    """Batches of one, so a poison record is dead-lettered alone after 2
    attempts; events at most 1 KiB, so a 3000-byte record fits none."""
    return kafka_pipeline("p", kafka, topic, group,
                          http_function(fn.url, max_payload="1KiB"),
                          batch={"max_records": 1}, dead_letter=dead_letter,
                          retry={"max_attempts": 2}, **extra)


def headers_of(msg):
    return {k: v.decode() for k, v in (msg.headers() or [])}


def check_kafka_dead_letter(msg, topic, offset, i, condition, attempts, big=False):
    h = headers_of(msg)
    assert msg.key() == f"k{i}".encode()
    assert msg.value() == (b"x" * 3000 if big else json.dumps({"i": i}).encode())
    assert h["h"] == f"v{i}", h                       # the record's own header
    want = {"pipeline": "p", "topic": topic, "partition": "0", "offset": str(offset),
            "condition": condition, "attempts": str(attempts), "replay_count": "0"}
    assert {k: h[f"fnbridge.dlq.{k}"] for k in DLQ_HEADERS} == want, h


def test_kafka_sink_on_the_source_cluster(kafka, group, fn_server, bridges):
    offsets = produce_records(kafka.bootstrap, "orders", 12, big={9})
    by_i = {i: o for o, i in offsets.items()}
    fn = fn_server("--poison", f"orders-0-{by_i[4]}")
    bridge = bridges.start([one_record_pipeline(
        kafka, "orders", group, fn, {"kafka": {"topic": "orders.dlq"}})])
    msgs = read_topic(kafka.bootstrap, "orders.dlq", 2)
    by_offset = {int(headers_of(m)["fnbridge.dlq.offset"]): m for m in msgs}
    check_kafka_dead_letter(by_offset[by_i[4]], "orders", by_i[4], 4,
                            "RetryAttemptsExhausted", 2)
    check_kafka_dead_letter(by_offset[by_i[9]], "orders", by_i[9], 9,
                            "MaximumPayloadSizeExceeded", 0, big=True)
    rest = {f"orders-0-{o}" for o, i in offsets.items() if i not in (4, 9)}
    fn.log.wait_delivered(rest, 30 * SLOW, bridge)
    wait_until(lambda: committed(kafka.bootstrap, group, "orders", 0) == 12,
               30 * SLOW, "every offset committed")
    assert "dead-lettered 1 record (RetryAttemptsExhausted) to kafka topic orders.dlq" \
        in bridge.stderr()


def test_kafka_sink_on_another_cluster(kafka, procs, group, fn_server, bridges):
    other = MockKafka(procs, {"elsewhere.dlq": 1}, brokers=1)
    offsets = produce_records(kafka.bootstrap, "other", 3, partition=1)
    poison = min(offsets)
    fn = fn_server("--poison", f"other-1-{poison}")
    bridges.start([one_record_pipeline(
        kafka, "other", group, fn,
        {"kafka": {"topic": "elsewhere.dlq", "brokers": other.bootstrap}})])
    [msg] = read_topic(other.bootstrap, "elsewhere.dlq", 1)
    h = headers_of(msg)
    assert msg.key() == f"k{offsets[poison]}".encode()
    assert h["fnbridge.dlq.topic"] == "other" and h["fnbridge.dlq.partition"] == "1"
    assert h["fnbridge.dlq.offset"] == str(poison)
    assert h["fnbridge.dlq.attempts"] == "2" and h["h"] == f"v{offsets[poison]}"


def check_line(body, topic, offset, condition):
    line = json.loads(body)                 # strict JSON, one record per batch
    assert line["requestContext"]["condition"] == condition
    assert line["pipeline"] == "p"
    [part] = line["source"]["partitions"]
    assert (part["topic"], part["startOffset"], part["endOffset"]) == (topic, offset, offset)
    return line


def test_mqtt_sink_publishes_the_line_with_qos_1(kafka, group, fn_server, bridges,
                                                 mosquitto):
    broker = mosquitto()
    sub = Subscriber(broker, "fnbridge/dlq/#")
    try:
        offsets = produce_records(kafka.bootstrap, "m", 2, first=100)
        poison = min(offsets)
        fn = fn_server("--poison", f"m-0-{poison}")
        bridge = bridges.start([one_record_pipeline(
            kafka, "m", group, fn,
            {"mqtt": {"url": broker.url, "topic": "fnbridge/dlq/p"}})])
        [msg] = sub.wait_messages(1, 30)
        assert msg.qos == 1 and msg.topic == "fnbridge/dlq/p"
        line = check_line(msg.payload, "m", poison, "RetryAttemptsExhausted")
        assert line["payload"]["records"], line
        fn.log.wait_delivered({f"m-0-{max(offsets)}"}, 30 * SLOW, bridge)
        assert "to mqtt topic fnbridge/dlq/p at 127.0.0.1" in bridge.stderr()
    finally:
        sub.close()


def test_http_sink_posts_the_line(kafka, group, fn_server, bridges, dlq_server):
    sink = dlq_server()
    offsets = produce_records(kafka.bootstrap, "h", 2, first=200)
    poison = min(offsets)
    fn = fn_server("--poison", f"h-0-{poison}")
    bridges.start([one_record_pipeline(kafka, "h", group, fn,
                                       {"http": {"url": sink.url}})])
    wait_until(lambda: sink.answered(200), 30 * SLOW, "a POST at the sink")
    [(_, ctype, body)] = sink.answered(200)
    assert ctype == "application/json"
    check_line(body, "h", poison, "RetryAttemptsExhausted")


def test_failing_sink_holds_everything_until_it_recovers(kafka, group, fn_server, bridges,
                                                         dlq_server):
    sink = dlq_server(status=500)
    first = produce_records(kafka.bootstrap, "flow", 5, partition=0, first=300)
    poison = sorted(first)[2]
    fn = fn_server("--poison", f"flow-0-{poison}")
    bridge = bridges.start([one_record_pipeline(kafka, "flow", group, fn,
                                                {"http": {"url": sink.url}})])
    wait_until(lambda: len(sink.answered(500)) >= 1, 30 * SLOW, "the sink failing")
    wait_until(lambda: "dead-letter sink http http://127.0.0.1" in bridge.stderr(),
               10 * SLOW, "the failure logged")
    # New records, produced once the sink failed, are not taken while it
    # fails: two more failed tries of the sink later none reached the
    # function, and no committed offset passed the failed record.
    later = produce_records(kafka.bootstrap, "flow", 5, partition=1, first=400)
    tries = len(sink.answered(500))
    wait_until(lambda: len(sink.answered(500)) >= tries + 2, 30 * SLOW, "two more tries")
    fn.log.refresh()
    assert not {f"flow-1-{o}" for o in later} & set(fn.log.seen), "taken while failing"
    assert committed(kafka.bootstrap, group, "flow", 0) <= poison
    assert bridge.stderr().count("dead-letter sink http") == 1, "one warning per streak"
    sink.status = 200
    wait_until(lambda: sink.answered(200), 30 * SLOW, "the sink recovered")
    rest = {f"flow-0-{o}" for o in first if o != poison} | {f"flow-1-{o}" for o in later}
    fn.log.wait_delivered(rest, 30 * SLOW, bridge)
    wait_until(lambda: committed(kafka.bootstrap, group, "flow", 0) == max(first) + 1
               and committed(kafka.bootstrap, group, "flow", 1) == max(later) + 1,
               30 * SLOW, "every offset committed")
    bodies = [json.loads(b) for _, _, b in sink.answered(200)]
    assert {b["source"]["partitions"][0]["startOffset"] for b in bodies} == {poison}
    assert "recovered after" in bridge.stderr() and "the source resumes" in bridge.stderr()


@pytest.mark.parametrize("kind", ["kafka", "mqtt", "http"])
def test_mqtt_message_too_large_for_any_event_goes_to_each_sink(kind, kafka, fn_server,
                                                                bridges, mosquitto,
                                                                dlq_server):
    import paho.mqtt.client as mqtt
    broker = mosquitto()
    fn = fn_server()
    sinks = {"kafka": {"kafka": {"topic": "big.dlq", "brokers": kafka.bootstrap}},
             "mqtt": {"mqtt": {"url": broker.url, "topic": "dlq/big"}}}
    sub = Subscriber(broker, "dlq/#") if kind == "mqtt" else None
    server = dlq_server() if kind == "http" else None
    if server:
        sinks["http"] = {"http": {"url": server.url}}
    pl = mqtt_pipeline("p", broker.url, f"big-{kind}", fn.url, topics=("big/#",),
                       dead_letter=sinks[kind])
    pl["function"]["http"]["max_payload"] = "1KiB"
    bridge = bridges.start([pl])
    broker.wait_subscribed(f"big-{kind}", "big/#", proc=bridge)
    payload = bytes(range(256)) * 12
    client = mqtt.Client(client_id=f"pub-{kind}", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.publish("big/one", payload, qos=1).wait_for_publish(20 * SLOW)
    client.disconnect()
    client.loop_stop()
    try:
        if kind == "kafka":
            [msg] = read_topic(kafka.bootstrap, "big.dlq", 1)
            h = headers_of(msg)
            assert msg.value() == payload and h["fnbridge.dlq.topic"] == "big/one"
            assert h["fnbridge.dlq.condition"] == "MaximumPayloadSizeExceeded"
            assert h["fnbridge.dlq.attempts"] == "0"
            return
        if kind == "mqtt":
            body = sub.wait_messages(1, 30)[0].payload
        else:
            wait_until(lambda: server.answered(200), 30 * SLOW, "a POST at the sink")
            body = server.answered(200)[0][2]
        line = json.loads(body)
        assert line["payloadEncoding"] == "base64"
        assert base64.b64decode(line["payload"]) == payload
        assert line["requestContext"]["condition"] == "MaximumPayloadSizeExceeded"
    finally:
        if sub:
            sub.close()


def test_a_sink_that_failed_a_source_write_is_tried_again_after_it_recovers(
        kafka, fn_server, bridges, mosquitto, dlq_server):
    """Regression: a message too large for any event, written by the MQTT
    source itself to a failing sink, left the hold on with no batch waiting
    for the sink: the source stayed paused for ever, even once the sink
    worked again. Now the hold lifts after the sink's backoff, the broker
    sends the message again, and it reaches the recovered sink."""
    import paho.mqtt.client as mqtt
    broker = mosquitto()
    fn = fn_server("--payload-ids")
    sink = dlq_server(status=500)
    pl = mqtt_pipeline("p", broker.url, "held", fn.url, topics=("held/#",),
                       dead_letter={"http": {"url": sink.url}})
    pl["function"]["http"]["max_payload"] = "1KiB"
    bridge = bridges.start([pl])
    broker.wait_subscribed("held", "held/#", proc=bridge)
    client = mqtt.Client(client_id="pub-held", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        client.publish("held/big", b"x" * 3000, qos=1).wait_for_publish(20 * SLOW)
        wait_until(lambda: sink.answered(500), 30 * SLOW, "the sink failing")
        sink.status = 200
        wait_until(lambda: sink.answered(200), 60 * SLOW, "the message at the recovered sink")
        line = json.loads(sink.answered(200)[0][2])
        assert line["requestContext"]["condition"] == "MaximumPayloadSizeExceeded"
        client.publish("held/small", json.dumps({"id": "after-1"}).encode(),
                       qos=1).wait_for_publish(20 * SLOW)
        fn.log.wait_delivered({"after-1"}, 30 * SLOW, bridge)
    finally:
        client.disconnect()
        client.loop_stop()
