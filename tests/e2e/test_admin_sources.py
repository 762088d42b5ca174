"""The admin server beyond Kafka (README: Operations): the MQTT spool depth
and the S3 events pending in /status and /metrics while a function holds
records, and back to 0 once delivered; /readyz while the S3 store cannot
be listed and once it can; /readyz, fnbridge_circuit_state and /status
agreeing while the circuit breaker is open and after it closes; and one
config with a Kafka pipeline into an exec runtime-api function, an MQTT
and an S3 pipeline: promtool passes, every pipeline is present with its
own labels and figures, and the runtime-api worker's cold start is
metered."""
import json
import threading


from helpers import SLOW, free_port, kafka_pipeline, produce, stop_cleanly, wait_until
from mqtt_helpers import mosquitto, mqtt_pipeline, publish  # noqa: F401 (fixture)
from s3_helpers import S3rver, s3_pipeline
from test_admin import CONTRACT, answers, get, promtool_check, samples, start, write_config

TOPICS = {"ad_breaker": 1, "ad_exec": 2}



def held_until(gate):
    """A policy: every call waits for gate (bounded), then succeeds."""
    def policy(n, ids):
        gate.wait(60 * SLOW)
        return 200, 0
    return policy


def admin_on(port):
    return {"listen": f"127.0.0.1:{port}"}


def start_admin(procs, config, port):
    """Starts fnbridge and waits for its admin server to answer."""
    b = start(procs, config)
    wait_until(lambda: answers(port) or not b.running(), 20 * SLOW, "the admin server")
    assert b.running(), f"fnbridge exited with {b.popen.returncode}"
    return b


def status_of(port, name):
    doc = json.loads(get(port, "/status")[2])
    return next(p for p in doc["pipelines"] if p["name"] == name)


def metric(port, name, pipeline, **labels):
    """One sample of /metrics, or None when the pipeline has none."""
    want = frozenset({("pipeline", pipeline), *labels.items()})
    return samples(get(port, "/metrics")[2]).get((name, want))


def readyz(port):
    status, _, text = get(port, "/readyz")
    return status, text


def wait_figure(port, pipeline, field, metric_name, want, timeout):
    """Waits until /status source.FIELD and the metric both say want."""
    def both():
        return (status_of(port, pipeline)["source"][field] == want and
                metric(port, metric_name, pipeline) == want)
    wait_until(both, timeout, f"{field} and {metric_name} at {want}")


def delivered_count(fn, key=lambda rid: rid):
    return len({key(rid) for rid in fn.delivered()})


def long_timeout(pipeline):
    """The held calls must not run into the function's timeout."""
    pipeline["function"]["http"]["timeout"] = "90s"
    return pipeline


# -------------------------------------------------------------- MQTT spool


def test_mqtt_spool_depth_while_the_function_holds_then_zero(
        mosquitto, timed, procs, tmp_path):
    broker = mosquitto()
    gate = threading.Event()
    fn = timed(held_until(gate))
    port = free_port()
    pipeline = long_timeout(mqtt_pipeline(
        "spool", broker.url, "fnb-spool", fn.url, dlq=tmp_path / "dlq.jsonl",
        batch={"max_records": 10, "max_wait": "20ms"}, concurrency=1))
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state", admin_on(port))
    b = start_admin(procs, config, port)
    broker.wait_subscribed("fnb-spool", "sensors/#", proc=b)
    wait_until(lambda: readyz(port)[0] == 200, 30 * SLOW, "/readyz 200 once subscribed")
    wait_figure(port, "spool", "spool_records", "fnbridge_spool_records", 0, 10 * SLOW)

    # One batch is at the function, which holds it: every message is spooled.
    sent = publish(broker.url, "sensors/spool", 50, "--qos", 1, prefix="sp-")
    wait_figure(port, "spool", "spool_records", "fnbridge_spool_records", sent.count,
                30 * SLOW)
    assert len(fn.snapshot()) == 1, "the function holds its first call"

    gate.set()
    wait_until(lambda: delivered_count(fn) >= sent.count, 60 * SLOW, "every message delivered")
    # Settled messages leave the spool at the writer's next commit.
    wait_figure(port, "spool", "spool_records", "fnbridge_spool_records", 0, 30 * SLOW)
    promtool_check(get(port, "/metrics")[2])
    stop_cleanly(b)


def test_readyz_quotes_the_lost_broker_not_a_later_function_error(
        mosquitto, timed, procs, tmp_path):
    """The broker goes while the function holds a call; the call then
    fails, and its retries too. /readyz gives the source's reason (the
    broker), not the function's 500, which is the last error; once the
    broker is back the source's reason is gone from /status."""
    broker = mosquitto()
    gate, healed = threading.Event(), threading.Event()

    def held_then_500(n, ids):
        gate.wait(60 * SLOW)
        return (200 if healed.is_set() else 500), 0
    fn = timed(held_then_500)
    port = free_port()
    pipeline = long_timeout(mqtt_pipeline(
        "lost", broker.url, "fnb-lost", fn.url, dlq=tmp_path / "dlq.jsonl",
        batch={"max_records": 10, "max_wait": "20ms"}, concurrency=1,
        retry={"max_attempts": 100000, "backoff": {"initial": "10ms", "max": "20ms"}}))
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state", admin_on(port))
    b = start_admin(procs, config, port)
    broker.wait_subscribed("fnb-lost", "sensors/#", proc=b)
    wait_until(lambda: readyz(port)[0] == 200, 30 * SLOW, "/readyz 200 once subscribed")
    publish(broker.url, "sensors/lost", 1, "--qos", 1, prefix="lo-")
    wait_until(lambda: len(fn.snapshot()) == 1, 30 * SLOW, "the function to hold a call")

    broker.stop()
    wait_until(lambda: readyz(port)[0] == 503, 20 * SLOW, "/readyz 503 with the broker gone")
    gate.set()
    wait_until(lambda: "status 500" in
               (status_of(port, "lost")["last_error"] or {}).get("message", ""),
               20 * SLOW, "the function's 500 to be the last error")
    text = readyz(port)[1]
    assert f"lost: source disconnected: lost the connection to {broker.url}" in text or \
        f"lost: source disconnected: cannot connect to {broker.url}" in text, text
    assert "status 500" not in text, text
    assert broker.url in status_of(port, "lost")["source"]["error"]

    healed.set()
    broker.start()
    wait_until(lambda: readyz(port)[0] == 200, 30 * SLOW, "/readyz 200 with the broker back")
    assert status_of(port, "lost")["source"]["error"] is None
    wait_until(lambda: delivered_count(fn) == 1, 30 * SLOW, "the message delivered")
    stop_cleanly(b)


# -------------------------------------------------------- S3 pending, ready


def test_s3_events_pending_and_readiness_follow_the_store(procs, timed, tmp_path):
    store = S3rver(procs, buckets=("pending",))
    store.stop()                   # unreachable at first: nothing listens on its port
    gate = threading.Event()
    fn = timed(held_until(gate))
    port = free_port()
    pipeline = long_timeout(s3_pipeline(
        "pending", store.endpoint, "pending", fn.url, dlq=tmp_path / "dlq.jsonl",
        batch={"max_records": 5, "max_wait": "20ms"}, concurrency=1))
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state", admin_on(port))
    b = start_admin(procs, config, port)

    # Every listing fails: not ready, saying why.
    wait_until(lambda: "listing bucket pending failed" in readyz(port)[1], 20 * SLOW,
               "/readyz naming the failed listing")
    status, text = readyz(port)
    assert status == 503 and text.startswith("pending: source "), text
    assert metric(port, "fnbridge_source_up", "pending") == 0

    store.start()
    wait_until(lambda: readyz(port)[0] == 200, 30 * SLOW, "/readyz 200 once a listing worked")
    wait_figure(port, "pending", "events_pending", "fnbridge_s3_events_pending", 0, 10 * SLOW)

    keys = [f"in/{i:02d}" for i in range(20)]
    store.seed("pending", keys)
    wait_figure(port, "pending", "events_pending", "fnbridge_s3_events_pending", len(keys),
                30 * SLOW)
    gate.set()
    wait_until(lambda: delivered_count(fn, lambda rid: rid.split("@")[0]) >= len(keys),
               60 * SLOW, "every event delivered")
    wait_figure(port, "pending", "events_pending", "fnbridge_s3_events_pending", 0, 30 * SLOW)

    # Lost again, and back.
    store.stop()
    wait_until(lambda: readyz(port)[0] == 503, 20 * SLOW, "/readyz 503 with the store gone")
    assert "pending: source disconnected: listing bucket pending failed" in readyz(port)[1]
    store.start()
    wait_until(lambda: readyz(port)[0] == 200, 30 * SLOW, "/readyz 200 with the store back")
    stop_cleanly(b)


# ---------------------------------------------------------------- breaker


def breaker_views(port, name):
    """(state by fnbridge_circuit_state, /status breaker, circuit_open,
    opened_total), when the metrics read before and after /status agree;
    None when the state moved in between."""
    def state_of(text):
        m = samples(text)
        on = [s for s in ("closed", "open", "half_open")
              if m[("fnbridge_circuit_state", frozenset({("pipeline", name),
                                                         ("state", s)}))] == 1]
        assert len(on) == 1, f"fnbridge_circuit_state has {on} at 1"
        return on[0], m
    before, _ = state_of(get(port, "/metrics")[2])
    breaker = status_of(port, name)["function"]["breaker"]
    after, m = state_of(get(port, "/metrics")[2])
    if before != after:
        return None
    key = frozenset({("pipeline", name)})
    return after, breaker, m[("fnbridge_circuit_open", key)], \
        m[("fnbridge_circuit_opened_total", key)]


def test_readyz_and_circuit_metrics_follow_the_breaker(kafka, timed, procs, group, tmp_path):
    failing = threading.Event()
    failing.set()
    fn = timed(lambda n, ids: (500, 0) if failing.is_set() else (200, 0))
    port = free_port()
    pipeline = kafka_pipeline(
        "cb", kafka, "ad_breaker", group, {"http": {"url": fn.url, "timeout": "5s"}},
        dlq=tmp_path / "dlq.jsonl", concurrency=1,
        batch={"max_records": 10, "max_wait": "20ms"},
        retry={"max_attempts": 1000, "backoff": {"initial": "10ms", "max": "20ms"}},
        circuit_breaker={"failures": 3, "cooldown": "2s"})
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state", admin_on(port))
    b = start_admin(procs, config, port)
    wait_until(lambda: readyz(port)[0] == 200, 30 * SLOW, "/readyz 200 once assigned")
    views = breaker_views(port, "cb")
    assert views and views[0] == "closed" and views[1]["state"] == "closed", views

    produced = produce(kafka, "ad_breaker", 30)
    wait_until(lambda: "cb: circuit " in readyz(port)[1], 30 * SLOW,
               "/readyz naming the open circuit")
    status, text = readyz(port)
    assert status == 503, text
    # The metrics and /status say the same, whichever state it is in.
    seen = set()

    def agreeing_open():
        v = breaker_views(port, "cb")
        if not v:
            return None
        state, breaker, circuit_open, opened = v
        assert breaker["state"] == state, v
        assert circuit_open == (1 if state == "open" else 0), v
        assert breaker["opened"] == opened, v
        assert (breaker["open_until"] is not None) == (state == "open"), v
        seen.add(state)
        return state == "open" and opened >= 1
    wait_until(agreeing_open, 30 * SLOW, "an agreeing view of the open circuit")
    assert readyz(port)[0] == 503

    failing.clear()
    wait_until(lambda: readyz(port)[0] == 200, 30 * SLOW, "/readyz 200 once the probe succeeded")
    fn.wait_delivered(produced.ids, 60 * SLOW, proc=b)
    v = wait_until(lambda: breaker_views(port, "cb"), 10 * SLOW, "an agreeing view")
    state, breaker, circuit_open, opened = v
    assert state == "closed" and breaker["state"] == "closed", v
    assert circuit_open == 0 and breaker["open_until"] is None
    assert opened >= 1 and breaker["opened"] == opened
    print(f"circuit states seen while failing: {sorted(seen)}; opened {int(opened)} times")
    stop_cleanly(b)


# ------------------------------------------------------ three pipelines


# A Lambda custom runtime: a short init, then every event answered with no
# failures.
RUNTIME = """#!/usr/bin/python3
import os, time, urllib.request
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
time.sleep(0.05)
while True:
    try:
        with opener.open(API + "/invocation/next") as r:
            rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
            r.read()
    except OSError:
        break
    opener.open(urllib.request.Request(API + f"/invocation/{rid}/response",
                                       data=b'{"batchItemFailures": []}')).read()
"""

SOURCE_ONLY = {"fnbridge_spool_records": "mqtt", "fnbridge_s3_events_pending": "s3",
               "fnbridge_kafka_consumer_lag": "kafka"}


def three_pipelines(kafka, group, broker, store, capture, tmp_path):
    runtime = tmp_path / "runtime.py"
    runtime.write_text(RUNTIME)
    runtime.chmod(0o755)
    exec_fn = {"exec": {"command": [str(runtime)], "mode": "runtime-api", "workers": 1,
                        "timeout": "10s"}}
    mqtt_fn, s3_fn = capture(), capture()
    return [
        kafka_pipeline("kafka", kafka, "ad_exec", group, exec_fn, memory_size=256),
        mqtt_pipeline("mqtt", broker.url, "fnb-three", mqtt_fn.url, memory_size=512),
        s3_pipeline("s3", store.endpoint, "three", s3_fn.url, memory_size=1024),
    ]


def test_three_pipelines_of_different_sources_in_one_config(
        kafka, mosquitto, capture, procs, group, tmp_path):
    broker = mosquitto()
    store = S3rver(procs, buckets=("three",))
    port = free_port()
    config = write_config(tmp_path / "c.json",
                          three_pipelines(kafka, group, broker, store, capture, tmp_path),
                          tmp_path / "state", admin_on(port))
    b = start_admin(procs, config, port)
    wait_until(lambda: readyz(port)[0] == 200, 30 * SLOW,
               "/readyz 200 for all three")
    counts = {"kafka": 30, "mqtt": 20, "s3": 10}
    produce(kafka, "ad_exec", counts["kafka"], "--partitions", 2)
    publish(broker.url, "sensors/three", counts["mqtt"], "--qos", 1)
    store.seed("three", [f"o/{i}" for i in range(counts["s3"])])

    def all_delivered():
        doc = json.loads(get(port, "/status")[2])
        done = {p["name"]: p["records"]["delivered"] for p in doc["pipelines"]}
        lags = [a["lag"] for p in doc["pipelines"] if p["name"] == "kafka"
                for a in p["source"]["assigned"]]
        return doc if done == counts and None not in lags and all(
            p["inflight"]["records"] == 0 for p in doc["pipelines"]) else None
    doc = wait_until(all_delivered, 60 * SLOW, "every record of the three delivered")
    check_three_status(doc, counts)

    text = get(port, "/metrics")[2]
    promtool_check(text)
    check_three_metrics(text, counts)
    stop_cleanly(b)


def check_three_status(doc, counts):
    assert doc["ready"] is True
    by_name = {p["name"]: p for p in doc["pipelines"]}
    assert sorted(by_name) == ["kafka", "mqtt", "s3"]
    kinds = {n: (p["source"]["kind"], p["function"]["kind"]) for n, p in by_name.items()}
    assert kinds == {"kafka": ("kafka", "exec"), "mqtt": ("mqtt", "http"),
                     "s3": ("s3", "http")}, kinds
    for name, p in by_name.items():
        assert p["ready"] and p["not_ready"] == [] and p["source"]["state"] == "connected"
        assert p["records"]["received"] == counts[name], (name, p["records"])
        assert p["function"]["usage"]["memory_size_mb"] == \
            {"kafka": 256, "mqtt": 512, "s3": 1024}[name]
    kafka, mqtt, s3 = by_name["kafka"], by_name["mqtt"], by_name["s3"]
    assert sorted((a["topic"], a["partition"]) for a in kafka["source"]["assigned"]) == \
        [("ad_exec", 0), ("ad_exec", 1)]
    assert (kafka["source"]["spool_records"], kafka["source"]["events_pending"]) == (None, None)
    assert (mqtt["source"]["spool_records"], mqtt["source"]["events_pending"]) == (0, None)
    assert (s3["source"]["spool_records"], s3["source"]["events_pending"]) == (None, 0)
    usage = kafka["function"]["usage"]
    assert usage["cold_starts"] >= 1 and usage["init_ms"] > 0, usage
    for p in (mqtt, s3):
        assert p["function"]["usage"]["cold_starts"] == 0


def check_three_metrics(text, counts):
    for name in CONTRACT:
        assert f"# TYPE {name} " in text, f"{name} missing"
    m = samples(text)
    names = set(counts)
    for (metric_name, labels) in m:
        pipeline = dict(labels).get("pipeline")
        assert pipeline in names, (metric_name, labels)
        only = SOURCE_ONLY.get(metric_name)
        assert only in (None, pipeline), f"{metric_name} for pipeline {pipeline}"

    def one(metric_name, pipeline, **labels):
        return m[(metric_name, frozenset({("pipeline", pipeline), *labels.items()}))]
    for pipeline, count in counts.items():
        assert one("fnbridge_records_received_total", pipeline) == count
        assert one("fnbridge_records_delivered_total", pipeline) == count
        assert one("fnbridge_source_up", pipeline) == 1
        assert one("fnbridge_circuit_state", pipeline, state="closed") == 1
        assert one("fnbridge_function_memory_size_bytes", pipeline) == \
            {"kafka": 256, "mqtt": 512, "s3": 1024}[pipeline] * 1024 * 1024
    assert one("fnbridge_spool_records", "mqtt") == 0
    assert one("fnbridge_s3_events_pending", "s3") == 0
    for partition in ("0", "1"):
        assert one("fnbridge_kafka_consumer_lag", "kafka", topic="ad_exec",
                   partition=partition) >= 0
    cold = one("fnbridge_function_cold_starts_total", "kafka")
    init = one("fnbridge_function_init_duration_seconds_total", "kafka")
    assert cold >= 1 and init > 0, (cold, init)
    assert one("fnbridge_function_cold_starts_total", "mqtt") == 0
    print(f"exec runtime-api: {int(cold)} cold start(s), {init:.3f} s of init")
