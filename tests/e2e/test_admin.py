"""The admin server (README: Operations): /metrics checked by promtool and
against what the function received, /healthz, /readyz before the source is
connected, after, and while every broker of the mock cluster is down and
back, /status, the token, methods and paths, and no secret anywhere."""
import http.client
import json
import os
import re
import socket
import subprocess
import time

import pytest

from helpers import (FNBRIDGE, SLOW, ControlledKafka, free_port, http_function,
                     kafka_pipeline, produce, run_fnbridge, stop_cleanly, wait_until)

TOPICS = {"admin": 4, "auth": 1, "paths": 1}
ADMIN_TOKEN = "adm1n-t0ken-from-env-9f3c"
FN_PASSWORD = "fn-pa55word-from-env-77d1"
GOOD = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def get(port, path, method="GET", headers=None, body=None):
    """(status, headers, body text) of one request to the admin server."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * SLOW)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        conn.close()


def answers(port):
    try:
        get(port, "/healthz", headers=GOOD)
        return True
    except OSError:
        return False


def write_config(path, pipelines, state_dir, admin):
    config = {"state_dir": str(state_dir), "log": {"level": "info"},
              "shutdown_timeout": "10s", "admin": admin, "pipelines": pipelines}
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def start(procs, path, env=None):
    return procs.start([FNBRIDGE, "run", "-c", path], "fnbridge",
                       env={**os.environ, **(env or {})})


def promtool_check(text):
    """promtool check metrics reads the exposition on stdin."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, f"promtool check metrics failed:\n{r.stdout}{r.stderr}"
    return r.stdout + r.stderr


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(metrics, name, **labels):
    want = {("pipeline", "orders"), *labels.items()}
    return metrics[(name, frozenset(want))]


def invocations_seen(trace):
    """Requests the function received: the distinct <req> of its trace."""
    if not trace.exists():
        return 0
    return len({l.split()[2] for l in trace.read_text().splitlines() if " in " in l})


CONTRACT = """fnbridge_records_received_total fnbridge_records_filtered_total
fnbridge_records_delivered_total fnbridge_records_dead_lettered_total
fnbridge_invocations_total fnbridge_invocation_duration_seconds fnbridge_batch_records
fnbridge_retries_total fnbridge_inflight_records fnbridge_inflight_bytes
fnbridge_source_up fnbridge_source_paused fnbridge_kafka_consumer_lag
fnbridge_spool_records fnbridge_s3_events_pending fnbridge_circuit_open
fnbridge_circuit_state fnbridge_circuit_opened_total fnbridge_dead_letter_sink_up
fnbridge_dead_letter_sink_failures_total fnbridge_function_requests_total
fnbridge_function_billed_duration_seconds_total fnbridge_function_gigabyte_seconds_total
fnbridge_function_errors_total fnbridge_function_throttles_total
fnbridge_function_cold_starts_total fnbridge_function_init_duration_seconds_total
fnbridge_function_concurrent_executions fnbridge_function_concurrent_executions_max
fnbridge_function_memory_size_bytes""".split()


def test_metrics_status_and_readiness_through_losing_every_broker(
        procs, fn_server, tmp_path):
    kafka = ControlledKafka(procs, {"orders": 4}, brokers=3)
    fn = fn_server("--trace", tmp_path / "trace")
    trace = tmp_path / "trace"
    port = free_port()
    url = fn.url.replace("http://", "http://bridge:${env:FN_PASSWORD}@")
    pipeline = kafka_pipeline("orders", kafka, "orders", "g-admin", http_function(url),
                              dlq=tmp_path / "dlq.jsonl", memory_size=256)
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state",
                          {"listen": f"127.0.0.1:{port}", "token": "${env:ADMIN_TOKEN}"})
    b = start(procs, config, {"ADMIN_TOKEN": ADMIN_TOKEN, "FN_PASSWORD": FN_PASSWORD})
    wait_until(lambda: answers(port) or not b.running(), 20 * SLOW, "the admin server")

    # Before the group gave an assignment (about 3 s): not ready, and why.
    status, _, text = get(port, "/readyz", headers=GOOD)
    assert status == 503 and "orders: source not connected yet" in text, text
    wait_until(lambda: get(port, "/readyz", headers=GOOD)[0] == 200, 30 * SLOW,
               "/readyz 200 once the partitions are assigned")
    assert get(port, "/readyz", headers=GOOD)[2] == "ready\n"
    assert get(port, "/healthz", headers=GOOD)[:1] == (200,)

    first = produce(kafka, "orders", 3000, "--partitions", 4)
    fn.log.wait_delivered(first.ids, 60 * SLOW, proc=b)

    # /status: every partition assigned, lag down to 0, usage as seen.
    def settled_status():
        doc = json.loads(get(port, "/status", headers=GOOD)[2])
        p = doc["pipelines"][0]
        lags = [a["lag"] for a in p["source"]["assigned"]]
        done = (len(lags) == 4 and lags == [0] * 4 and p["inflight"]["records"] == 0 and
                p["function"]["usage"]["requests"] == invocations_seen(trace))
        return doc if done else None
    doc = wait_until(settled_status, 30 * SLOW, "lag 0 on every partition")
    check_status(doc, invocations_seen(trace), first.count)

    text = get(port, "/metrics", headers=GOOD)[2]
    promtool_check(text)
    check_metrics(text, invocations_seen(trace), first.count)

    # Every broker down: not ready within seconds, saying why.
    kafka.all_brokers("down")
    t0 = time.monotonic()
    wait_until(lambda: get(port, "/readyz", headers=GOOD)[0] == 503, 15 * SLOW,
               "/readyz 503 with every broker down")
    down_after = time.monotonic() - t0
    text = get(port, "/readyz", headers=GOOD)[2]
    assert "orders: source disconnected" in text, text
    metrics = samples(get(port, "/metrics", headers=GOOD)[2])
    assert value(metrics, "fnbridge_source_up") == 0
    assert get(port, "/healthz", headers=GOOD)[0] == 200   # alive, only not ready

    kafka.all_brokers("up")
    t0 = time.monotonic()
    wait_until(lambda: get(port, "/readyz", headers=GOOD)[0] == 200, 60 * SLOW,
               "/readyz 200 once the brokers are back")
    up_after = time.monotonic() - t0
    print(f"/readyz 503 {down_after:.1f} s after the brokers went down, "
          f"200 {up_after:.1f} s after they came back")

    second = produce(kafka, "orders", 1000, "--partitions", 4)
    fn.log.wait_delivered(first.ids | second.ids, 90 * SLOW, proc=b)
    for path in ("/metrics", "/status", "/readyz", "/healthz"):
        body = get(port, path, headers=GOOD)[2]
        assert ADMIN_TOKEN not in body and FN_PASSWORD not in body, path
    shown = json.loads(get(port, "/status", headers=GOOD)[2])["pipelines"][0]["function"]
    assert shown["name"].startswith("http://") and FN_PASSWORD not in shown["name"], shown
    stop_cleanly(b)
    assert ADMIN_TOKEN not in b.stderr() and FN_PASSWORD not in b.stderr()


def check_status(doc, requests, received):
    assert doc["ready"] is True and doc["version"] and doc["uptime_seconds"] > 0
    p = doc["pipelines"][0]
    assert p["name"] == "orders" and p["ready"] is True and p["not_ready"] == []
    src = p["source"]
    assert src["kind"] == "kafka" and src["state"] == "connected" and not src["paused"]
    assert sorted((a["topic"], a["partition"]) for a in src["assigned"]) == \
        [("orders", i) for i in range(4)]
    assert src["spool_records"] is None and src["events_pending"] is None
    fn = p["function"]
    assert fn["kind"] == "http" and fn["breaker"]["state"] == "closed"
    usage = fn["usage"]
    assert usage["requests"] == requests
    assert usage["billed_ms"] >= requests
    assert usage["memory_size_mb"] == 256
    assert usage["gb_seconds"] == pytest.approx(usage["billed_ms"] / 1000 * 256 / 1024)
    assert usage["errors"] == 0 and usage["throttles"] == 0 and usage["concurrent"] == 0
    assert 1 <= usage["concurrent_max"] <= 8
    assert p["records"] == {"received": received, "filtered": 0, "delivered": received,
                            "dead_lettered": 0}
    assert p["invocations"]["success"] == requests
    assert p["inflight"] == {"records": 0, "bytes": 0}
    assert p["dead_letter"] == {"sink": "file", "state": "ok", "failures": 0, "error": None}


def check_metrics(text, requests, received):
    for name in CONTRACT:
        assert f"# TYPE {name} " in text, f"{name} missing"
    m = samples(text)
    assert value(m, "fnbridge_records_received_total") == received
    assert value(m, "fnbridge_records_delivered_total") == received
    assert value(m, "fnbridge_invocations_total", outcome="success") == requests
    assert value(m, "fnbridge_function_requests_total") == requests
    assert value(m, "fnbridge_invocation_duration_seconds_count") == requests
    assert value(m, "fnbridge_invocation_duration_seconds_bucket", le="+Inf") == requests
    assert value(m, "fnbridge_batch_records_sum") == received
    assert value(m, "fnbridge_batch_records_count") == requests
    billed = value(m, "fnbridge_function_billed_duration_seconds_total")
    assert billed >= requests / 1000
    assert value(m, "fnbridge_function_gigabyte_seconds_total") == pytest.approx(billed / 4)
    assert value(m, "fnbridge_function_memory_size_bytes") == 256 * 1024 * 1024
    assert value(m, "fnbridge_source_up") == 1
    assert value(m, "fnbridge_circuit_state", state="closed") == 1
    assert value(m, "fnbridge_circuit_state", state="open") == 0
    assert value(m, "fnbridge_dead_letter_sink_up") == 1
    for p in range(4):
        assert value(m, "fnbridge_kafka_consumer_lag", topic="orders", partition=str(p)) == 0


def auth_pipeline(kafka, topic, fn):
    return kafka_pipeline(topic, kafka, topic, f"g-{topic}", http_function(fn.url))


def test_a_non_loopback_listen_needs_a_token_or_the_opt_out(kafka, fn_server, tmp_path):
    fn = fn_server()
    pipeline = auth_pipeline(kafka, "auth", fn)
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "s",
                          {"listen": "0.0.0.0:9464"})
    r = run_fnbridge("check", "-c", config)
    assert r.returncode == 2
    assert re.search(r"c\.json:\d+:\d+: admin\.listen: '0\.0\.0\.0:9464' is not a "
                     r"loopback address: set admin\.token", r.stderr), r.stderr
    for admin in ({"listen": "0.0.0.0:9464", "allow_unauthenticated": True},
                  {"listen": "0.0.0.0:9464", "token": "${env:ADMIN_TOKEN}"},
                  {"listen": "localhost:9464"}, {"listen": "[::1]:9464"}):
        write_config(config, [pipeline], tmp_path / "s", admin)
        env = {**os.environ, "ADMIN_TOKEN": ADMIN_TOKEN}
        r = subprocess.run([FNBRIDGE, "check", "-c", config], capture_output=True,
                           text=True, env=env, timeout=30 * SLOW)
        assert r.returncode == 0, (admin, r.stderr)
        assert ADMIN_TOKEN not in r.stdout + r.stderr
    for bad, why in (("127.0.0.1", "must be HOST:PORT"), ("127.0.0.1:0", "port"),
                     ("::1:9464", "must be HOST:PORT"), ("[nope]:1", "IPv6"),
                     ("no-such-host.invalid:9464", "cannot resolve")):
        write_config(config, [pipeline], tmp_path / "s", {"listen": bad})
        r = run_fnbridge("check", "-c", config)
        assert r.returncode == 2 and "admin.listen" in r.stderr and why in r.stderr, \
            (bad, r.stderr)


def test_token_methods_and_paths(kafka, fn_server, procs, tmp_path):
    fn = fn_server()
    port = free_port()
    config = write_config(tmp_path / "c.json", [auth_pipeline(kafka, "paths", fn)],
                          tmp_path / "s",
                          {"listen": f"127.0.0.1:{port}", "token": "${env:ADMIN_TOKEN}"})
    b = start(procs, config, {"ADMIN_TOKEN": ADMIN_TOKEN})
    wait_until(lambda: answers(port) or not b.running(), 20 * SLOW, "the admin server")
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
                    {"Authorization": f"Basic {ADMIN_TOKEN}"}):
        status, h, body = get(port, "/metrics", headers=headers)
        assert status == 401 and h["WWW-Authenticate"].startswith("Bearer"), headers
        assert ADMIN_TOKEN not in body
    status, h, body = get(port, "/metrics", headers=GOOD)
    assert status == 200 and h["Content-Type"].startswith("text/plain; version=0.0.4")
    status, h, body = get(port, "/metrics", "HEAD", headers=GOOD)
    assert status == 200 and body == ""
    status, h, _ = get(port, "/metrics", "POST", headers=GOOD, body="x" * 100_000)
    assert status == 405 and h["Allow"] == "GET, HEAD"
    assert get(port, "/status", "DELETE", headers=GOOD)[0] == 405
    assert get(port, "/nope", headers=GOOD)[0] == 404
    assert get(port, "/metrics/", headers=GOOD)[0] == 404
    assert get(port, "/status", headers=GOOD)[1]["Content-Type"] == "application/json"
    # A request line past the admin server's bound is refused, not buffered.
    status = get(port, "/" + "a" * 100_000, headers=GOOD)[0]
    assert status in (414, 431, 400), status
    assert get(port, "/healthz", headers=GOOD)[0] == 200
    # The probes answer a kubelet without the token, with their verdict
    # only: no reasons, which may name brokers and errors.
    for path in ("/status", "/nope/../status"):
        assert get(port, path)[0] in (401, 404)
    status, _, body = get(port, "/healthz")
    assert (status, body) == (200, "ok\n")
    wait_until(lambda: get(port, "/readyz")[0] == 200, 30 * SLOW, "ready without the token")
    assert get(port, "/readyz")[2] == "ready\n"
    stop_cleanly(b)


def test_a_port_in_use_is_a_runtime_error(kafka, fn_server, procs, tmp_path):
    fn = fn_server()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = write_config(tmp_path / "c.json", [auth_pipeline(kafka, "paths", fn)],
                              tmp_path / "s", {"listen": f"127.0.0.1:{port}"})
        r = run_fnbridge("run", "-c", config)
    assert r.returncode == 1, r.stderr
    assert f"admin.listen: cannot listen on 127.0.0.1:{port}: Address already in use" \
        in r.stderr, r.stderr
