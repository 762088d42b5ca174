"""Filters (README: Filters): a pipeline's `filter` patterns against the
document each source makes of a record, end to end. Kafka (JSON values,
plain-text values, binary values; patterns on the key, on value fields,
on headers and on topic and partition), MQTT (topic, JSON payload fields,
plain-text and binary payloads, user properties) and S3 (event name, key)
pipelines: what no pattern matches never reaches the function, is settled
(the Kafka offset committed past it, the MQTT spool emptied, the S3
checkpoint advanced: after a restart nothing comes again), and is counted
in /metrics and /status. `fnbridge check` names the place of a bad
pattern."""
import base64
import http.client
import json
import re

import paho.mqtt.client as paho
from confluent_kafka import Consumer, Producer, TopicPartition

import helpers
from helpers import (SLOW, free_port, http_function, kafka_pipeline, run_fnbridge,
                     stop_cleanly, wait_until, write_config)
from mqtt_helpers import mosquitto, mqtt_pipeline, publish  # noqa: F401 (fixture)
from s3_helpers import (S3rver, captured_records, changes, s3_pipeline, wait_polls,
                        wait_quiet, wait_s3_records)

TOPICS = {"mixed": 2, "again": 1, "replay": 1, "replay.dlq": 1}


# ------------------------------------------------------------------ helpers


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * SLOW)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def start(procs, tmp_path, pipeline, name, port, log_level="info"):
    """fnbridge run on one pipeline, with the admin server on port."""
    config = write_config(tmp_path / f"{name}.yaml", [pipeline], tmp_path / "state",
                          log_level=log_level, admin={"listen": f"127.0.0.1:{port}"})
    procs.logs.append((f"{name} config", config))
    return helpers.start_bridge(procs, config, name)


def filtered_counts(port, name):
    """(records_filtered_total in /metrics, records.filtered in /status)."""
    status, text = get(port, "/metrics")
    assert status == 200, text
    m = re.search(rf'^fnbridge_records_filtered_total\{{pipeline="{name}"\}} (\S+)$', text,
                  re.M)
    assert m, "no records_filtered_total sample for the pipeline"
    status, body = get(port, "/status")
    assert status == 200, body
    (p,) = [p for p in json.loads(body)["pipelines"] if p["name"] == name]
    return int(float(m.group(1))), p["records"]["filtered"], p["records"]


def wait_filtered(port, name, n, proc):
    def reached():
        if not proc.running():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
        return filtered_counts(port, name)[1] >= n
    wait_until(reached, 30 * SLOW, f"{n} records filtered")
    return filtered_counts(port, name)


def produce(kafka, topic, records):
    """records: [(partition, key, value, headers)] (bytes or None) produced
    in order; returns [(partition, offset)] in the same order."""
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 5,
                         "enable.idempotence": True})
    where, errors = [None] * len(records), []
    for i, (partition, key, value, headers) in enumerate(records):
        def report(err, msg, i=i):
            if err:
                errors.append(err)
            else:
                where[i] = (msg.partition(), msg.offset())
        producer.produce(topic, key=key, value=value, partition=partition,
                         headers=headers, on_delivery=report)
        producer.poll(0)
    assert producer.flush(60 * SLOW) == 0, "records still unsent after the flush"
    assert not errors, f"produce failed: {errors[:3]}"
    return where


def committed(kafka, group, topic):
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        parts = consumer.committed([TopicPartition(topic, p)
                                    for p in range(kafka.topics[topic])], timeout=30 * SLOW)
        return {tp.partition: tp.offset for tp in parts}
    finally:
        consumer.close()


def kafka_received(fn):
    """[(partition, offset)] of every record the function got (lambda
    format), in arrival order."""
    with fn.lock:
        events = list(fn.events)
    return [(r["partition"], r["offset"]) for e in events
            for recs in e["records"].values() for r in recs]


def j(obj):
    return json.dumps(obj).encode()


# -------------------------------------------------------------------- Kafka

KAFKA_FILTER = [
    {"value": {"kind": ["order"]}},                         # a JSON value's field
    {"value": {"price": [{"numeric": [">", 100]}]}},        # numeric, as a number
    {"value": {"code": ["5"]}},                             # "5" the string only
    {"value": {"qty": [7]}},                                # 7 the number only
    {"value": [{"prefix": "urgent"}]},                      # a plain-text value
    {"key": ["vip"]},                                       # the key, whatever the value
    {"headers": {"type": ["priority"]}},                    # a header
    {"partition": [1], "value": {"kind": ["audit"]}},       # metadata with a field
    {"topic": ["mixed"], "offset": [{"numeric": [">=", 1000000]}]},   # never
]

# (partition, key, value, headers, passes)
KAFKA_RECORDS = [
    (0, b"k1", j({"kind": "order", "id": 1}), None, True),
    (0, b"k2", j({"kind": "audit", "id": 2}), None, False),      # audit on 0: out
    (0, None, b"urgent: disk full", None, True),
    (0, None, b"routine: all well", None, False),
    (0, None, b"\xff\x00\xfe binary", None, False),
    (0, b"vip", b"\xff\x00\xfe binary", None, True),
    (0, None, b"\x89PNG\r\n", [("type", b"priority")], True),
    (0, None, b"\x89PNG\r\n", [("type", b"routine")], False),
    (0, None, j({"price": 150}), None, True),
    (0, None, j({"price": 50}), None, False),
    (0, None, j({"price": "150"}), None, False),                 # a string: not numeric
    (0, None, j({"code": "5"}), None, True),
    (0, None, j({"code": 5}), None, False),
    (0, None, j({"qty": 7}), None, True),
    (0, None, j({"qty": "7"}), None, False),
    (0, None, None, None, False),                                # a tombstone
    (0, b"k3", j({"kind": "audit", "id": 3}), None, False),      # out, last
    (1, b"k4", j({"kind": "audit", "id": 4}), None, True),       # audit on 1: in
    (1, b"k5", j({"kind": "other"}), None, False),
    (1, b"k6", j({"kind": "order", "id": 6}), None, True),
    (1, b"k7", j({"kind": "other"}), None, False),               # out, last
]


def test_kafka_filtered_records_never_reach_the_function_and_are_committed(
        kafka, capture, procs, group, tmp_path):
    fn = capture()
    port = free_port()
    pipeline = kafka_pipeline("mixed", kafka, "mixed", group, http_function(fn.url),
                              dlq=tmp_path / "dlq.jsonl", filter=KAFKA_FILTER)
    b = start(procs, tmp_path, pipeline, "fnbridge", port)
    where = produce(kafka, "mixed", [r[:4] for r in KAFKA_RECORDS])
    want = {w for w, r in zip(where, KAFKA_RECORDS) if r[4]}
    out = len(KAFKA_RECORDS) - len(want)

    wait_until(lambda: set(kafka_received(fn)) >= want or not b.running(), 60 * SLOW,
               "every passing record at the function")
    metrics, status, records = wait_filtered(port, "mixed", out, b)
    assert (metrics, status) == (out, out), records
    assert records["received"] == len(KAFKA_RECORDS), records
    assert records["delivered"] == len(want), records
    ends = {0: max(o for p, o in where if p == 0) + 1, 1: max(o for p, o in where if p == 1) + 1}
    # Each partition ends with a filtered record: the commit moves past it.
    wait_until(lambda: committed(kafka, group, "mixed") == ends, 30 * SLOW,
               f"the group committed {ends}", interval=0.5)
    stop_cleanly(b)
    got = kafka_received(fn)
    assert sorted(got) == sorted(want), "the function got other records than the passing ones"
    assert read_dlq_lines(tmp_path / "dlq.jsonl") == 0

    # Restarted: nothing comes again; a new record that passes does, on
    # each partition after whatever would have come again.
    b2 = start(procs, tmp_path, pipeline, "fnbridge-2", port)
    markers = set(produce(kafka, "mixed", [(p, b"vip", b"after the restart", None)
                                           for p in (0, 1)]))
    wait_until(lambda: set(kafka_received(fn)) >= markers or not b2.running(), 60 * SLOW,
               "the records produced after the restart")
    stop_cleanly(b2)
    assert sorted(kafka_received(fn)) == sorted(want | markers), \
        "records came again after the restart"


def read_dlq_lines(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_kafka_a_filter_that_passes_nothing_commits_everything(kafka, capture, procs, group,
                                                              tmp_path):
    fn = capture()
    port = free_port()
    pipeline = kafka_pipeline("again", kafka, "again", group, http_function(fn.url),
                              dlq=tmp_path / "dlq.jsonl",
                              filter=[{"value": {"kind": ["nothing-is-this"]}}])
    b = start(procs, tmp_path, pipeline, "fnbridge", port)
    n = 2000
    where = produce(kafka, "again", [(0, None, j({"kind": "x", "n": i}), None)
                                     for i in range(n)])
    wait_until(lambda: committed(kafka, group, "again") == {0: where[-1][1] + 1}
               or not b.running(), 60 * SLOW, "every offset committed", interval=0.5)
    assert b.running()
    metrics, status, records = filtered_counts(port, "again")
    assert (metrics, status) == (n, n), records
    assert records["delivered"] == 0
    stop_cleanly(b)
    assert fn.events == [], "the function was invoked"


def watermark(kafka, topic):
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10 * SLOW)[1]
    finally:
        c.close()


def test_dlq_replay_sends_dead_letters_whatever_the_filter_says_now(
        kafka, capture, procs, group, tmp_path):
    """Dead letters passed the filter once: replayed from their topic they
    all reach the function, though the filter now leaves them out."""
    failing = capture(lambda event: (500, b'{"errorMessage":"down"}'))
    port = free_port()
    pipeline = kafka_pipeline("replay", kafka, "replay", group, http_function(failing.url),
                              retry={"max_attempts": 1, "bisect_on_error": False},
                              dead_letter={"kafka": {"topic": "replay.dlq"}},
                              filter=[{"value": {"kind": ["order"]}}])
    b = start(procs, tmp_path, pipeline, "fnbridge", port)
    where = produce(kafka, "replay", [(0, None, j({"kind": "order", "n": i}), None)
                                      for i in range(3)] +
                    [(0, None, j({"kind": "other"}), None)])
    wait_until(lambda: watermark(kafka, "replay.dlq") >= 3 or not b.running(), 60 * SLOW,
               "3 records dead-lettered", interval=0.5)
    assert filtered_counts(port, "replay")[1] == 1
    stop_cleanly(b)

    fn = capture()
    pipeline = {**pipeline, "function": http_function(fn.url),
                "filter": [{"value": {"kind": ["nothing-is-this"]}}]}
    config = write_config(tmp_path / "replay.yaml", [pipeline], tmp_path / "state")
    r = run_fnbridge("dlq", "replay", "-c", config, "--pipeline", "replay",
                     "--from-topic", "replay.dlq", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(kafka_received(fn)) == sorted(where[:3])


# --------------------------------------------------------------------- MQTT

MQTT_FILTER = [
    {"topic": [{"prefix": "sensors/keep/"}], "payload": {"n": [{"numeric": ["<", 5]}]}},
    {"properties": {"userProperties": {"site": ["north"]}}},
    {"payload": ["ping"]},
]


def publish_raw(broker, topic, payloads):
    """QoS 1 messages of the given bytes, each acknowledged by the broker."""
    client = paho.Client(client_id="filters-raw", protocol=paho.MQTTv5)
    client.connect("127.0.0.1", broker.port, keepalive=30)
    client.loop_start()
    try:
        for p in payloads:
            info = client.publish(topic, p, qos=1)
            info.wait_for_publish(10 * SLOW)
            assert info.is_published(), f"no PUBACK for {p!r}"
    finally:
        client.disconnect()
        client.loop_stop()


def mqtt_ids(fn):
    """What identifies each record the function got: the id in a JSON
    payload, else the payload text (json format)."""
    out = []
    for r in fn.records():
        if r["payloadEncoding"] == "json" and isinstance(r["payload"], dict):
            out.append(r["payload"]["id"])
        else:
            out.append(base64.b64decode(r["payload"]).decode(errors="replace"))
    return out


def test_mqtt_filtered_messages_leave_the_spool_without_an_invocation(
        mosquitto, capture, procs, tmp_path):
    broker = mosquitto()
    fn = capture()
    port = free_port()
    pipeline = mqtt_pipeline("sensors", broker.url, "fnb-filters", fn.url,
                             dlq=tmp_path / "dlq.jsonl", filter=MQTT_FILTER)
    b = start(procs, tmp_path, pipeline, "fnbridge", port)
    broker.wait_subscribed("fnb-filters", "sensors/#", proc=b)

    publish(broker.url, "sensors/keep/a", 10, prefix="keep-")          # n 0..9: 5 pass
    publish(broker.url, "sensors/other", 6, prefix="other-")           # none pass
    publish(broker.url, "sensors/other", 3, "--user-property", "site=north",
            prefix="north-")                                           # all pass
    publish(broker.url, "sensors/other", 2, "--user-property", "site=south",
            prefix="south-")                                           # none pass
    publish(broker.url, "sensors/keep/bin", 4, "--binary", prefix="bin-")   # no payload.n
    publish_raw(broker, "sensors/text", [b"ping", b"pong", b""])       # ping passes
    want = {f"keep-{k}" for k in range(5)} | {f"north-{k}" for k in range(3)} | {"ping"}
    out = 5 + 6 + 2 + 4 + 2

    wait_until(lambda: set(mqtt_ids(fn)) >= want or not b.running(), 60 * SLOW,
               "every passing message at the function")
    metrics, status, records = wait_filtered(port, "sensors", out, b)
    assert (metrics, status) == (out, out), records

    # Settled: nothing left in the spool once the passing ones are in.
    def spool_empty():
        text = get(port, "/metrics")[1]
        m = re.search(r'^fnbridge_spool_records\{pipeline="sensors"\} (\S+)$', text, re.M)
        return m and float(m.group(1)) == 0
    wait_until(spool_empty, 30 * SLOW, "the spool empty")
    stop_cleanly(b)
    assert sorted(mqtt_ids(fn)) == sorted(want), "the function got other messages"

    # Restarted on the same spool and session: nothing comes again.
    b2 = start(procs, tmp_path, pipeline, "fnbridge-2", port)
    broker.wait_subscribed("fnb-filters", "sensors/#", count=2, proc=b2)
    publish_raw(broker, "sensors/text", [b"ping"])
    wait_until(lambda: len(fn.records()) > len(want) or not b2.running(), 30 * SLOW,
               "the message published after the restart")
    stop_cleanly(b2)
    assert sorted(mqtt_ids(fn)) == sorted(list(want) + ["ping"]), \
        "messages came again after the restart"


# ----------------------------------------------------------------------- S3

S3_FILTER = [
    {"eventName": ["ObjectCreated:Put"], "s3": {"object": {"key": [{"prefix": "in/"}]}}},
    {"s3": {"object": {"key": [{"suffix": ".keep"}]}}},
]


def test_s3_filtered_changes_advance_the_checkpoint(procs, capture, tmp_path):
    store = S3rver(procs, ("feed",))
    fn = capture()
    port = free_port()
    pipeline = s3_pipeline("feed", store.endpoint, "feed", fn.url, dlq=tmp_path / "dlq.jsonl",
                           filter=S3_FILTER)
    for key in ("in/a.csv", "in/b.csv", "out/c.csv", "out/d.keep"):
        store.put("feed", key, key.encode())
    b = start(procs, tmp_path, pipeline, "fnbridge", port, log_level="debug")
    wait_s3_records(fn, 3, 30, proc=b)
    wait_quiet(b)
    assert sorted(changes(captured_records(fn))) == [
        ("ObjectCreated:Put", "in/a.csv"), ("ObjectCreated:Put", "in/b.csv"),
        ("ObjectCreated:Put", "out/d.keep")]

    store.delete("feed", "in/a.csv")        # a removal of in/: out
    store.delete("feed", "out/d.keep")      # .keep: in, removed or not
    store.put("feed", "out/e.csv", b"e")    # out
    wait_s3_records(fn, 4, 30, proc=b)
    wait_quiet(b)
    metrics, status, records = filtered_counts(port, "feed")
    assert (metrics, status) == (3, 3), records
    stop_cleanly(b)
    assert sorted(changes(captured_records(fn))[3:]) == [("ObjectRemoved:Delete", "out/d.keep")]

    # The filtered changes were checkpointed like the others: after a
    # restart the polls find nothing new.
    b2 = start(procs, tmp_path, pipeline, "fnbridge-2", port, log_level="debug")
    lines = wait_polls(b2, 0, 2, what="two polls after the restart")
    assert all(l[2] == 0 and l[3] == 0 for l in lines), f"polls after restart: {lines}"
    stop_cleanly(b2)
    assert len(captured_records(fn)) == 4


# ----------------------------------------------------------------- check

BAD = """\
state_dir: {state}
pipelines:
  - name: p
    source: {{kafka: {{brokers: "127.0.0.1:9", topics: [t], group_id: g}}}}
    function: {{http: {{url: "http://127.0.0.1:9/"}}}}
    filter:
      - {{value: {{kind: [order]}}}}
      - value:
          price:
            - numeric: [">", 10, "<", 5]
      - value:
          n: [+5]
      - '{{"value": {{"kind": '
  - name: q
    source: {{kafka: {{brokers: "127.0.0.1:9", topics: [t], group_id: g}}}}
    function: {{http: {{url: "http://127.0.0.1:9/"}}}}
    filter: {{value: {{kind: [order]}}}}
"""


def test_check_names_the_place_of_a_bad_pattern(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(BAD.format(state=tmp_path / "state"))
    r = run_fnbridge("check", "-c", config)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    at = {m.group(3): (int(m.group(1)), int(m.group(2)), m.group(4))
          for m in (re.match(rf"^{re.escape(str(config))}:(\d+):(\d+): (\S+): (.*)$", l)
                    for l in lines) if m}
    assert set(at) == {"pipelines[0].filter[1]", "pipelines[0].filter[2].value.n[0]",
                       "pipelines[0].filter[3]", "pipelines[1].filter"}, lines
    line, _, why = at["pipelines[0].filter[1]"]
    assert why.startswith("value.price"), why
    assert "numeric" in why, why
    assert 8 <= line <= 10, f"the error points at line {line}, not at the operator"
    assert at["pipelines[0].filter[2].value.n[0]"][:2] == (12, 15)
    assert "quote it" in at["pipelines[0].filter[2].value.n[0]"][2]
    assert at["pipelines[0].filter[3]"][0] == 13
    assert "list of patterns" in at["pipelines[1].filter"][2]

    good = tmp_path / "good.yaml"
    good.write_text(BAD.format(state=tmp_path / "state").split("      - value:\n")[0] +
                    "      - '{\"value\": {\"kind\": [\"x\"]}}'\n")
    r = run_fnbridge("check", "-c", good)
    assert r.returncode == 0, r.stderr
