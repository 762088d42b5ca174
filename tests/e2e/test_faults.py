"""Faults an operator meets, each with real parts and each asserting that
nothing is lost: the function down for 30 s and back, hanging past its
timeout, a 429 storm with Retry-After, a Kafka broker taken down and back
(/readyz flips both ways), mosquitto restarted. Each test prints how long
fnbridge took to recover (make test shows it with -s; the figures of the
operations issue came from these lines)."""
import http.client
import json
import signal
import time

from helpers import (SLOW, FnLog, FnServer, MockKafka, free_port, kafka_pipeline, http_function,
                     produce, start_bridge, stop_cleanly, tool, wait_until)
from mqtt_helpers import Mosquitto, publish, mqtt_pipeline

TOPICS = {"faults": 4}
RETRY_FOREVER = {"max_attempts": 1000, "backoff": {"initial": "100ms", "max": "1s"},
                 "max_record_age": "1h", "bisect_on_error": False}


def admin_get(port, path):
    """(status, body text) of GET path on the admin server."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def ready(port):
    try:
        return admin_get(port, "/readyz")[0] == 200
    except OSError:
        return False


def write_config(path, pipelines, state_dir, admin_port):
    config = {"state_dir": str(state_dir), "shutdown_timeout": "10s",
              "admin": {"listen": f"127.0.0.1:{admin_port}"}, "pipelines": pipelines}
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def report(what, seconds):
    print(f"\nRECOVERY {what}: {seconds:.2f} s")


def no_dead_letters(path):
    return not path.exists() or path.stat().st_size == 0


def _fixed(procs, name, port, args):
    fn = FnServer.__new__(FnServer)
    fn.log_path = procs.workdir / f"{name}.log"
    fn.proc = procs.start([tool("fn_server"), "--port", str(port), "--log", fn.log_path]
                          + list(args), name)
    fn.port = int(fn.proc.wait_line(r"^PORT (\d+)$", 30 * SLOW).group(1))
    fn.url = f"http://127.0.0.1:{fn.port}/"
    fn.log = FnLog(fn.log_path)
    return fn


def delivered_ids(*fns):
    ok = set()
    for fn in fns:
        ok |= fn.log.refresh().ok
    return ok


def kafka_run(procs, tmp_path, group, fn_url, count, **extra):
    """A pipeline from a fresh topic's records to fn_url, with an admin
    server; returns (bridge, admin port, produced, dead-letter path)."""
    kafka = MockKafka(procs, TOPICS, brokers=1)
    produced = produce(kafka, "faults", count, "--size", 256)
    dlq = tmp_path / "dlq.jsonl"
    port = free_port()
    pipeline = kafka_pipeline("faults", kafka, "faults", group, http_function(fn_url, **extra.pop("fn", {})),
                              dlq=dlq, retry=RETRY_FOREVER, **extra)
    cfg = write_config(tmp_path / "fnbridge.yaml", [pipeline], tmp_path / "state", port)
    return start_bridge(procs, cfg), port, produced, dlq, kafka


def test_function_down_30s_then_back_loses_nothing(procs, tmp_path, group):
    fn = FnServer(procs, "fn-1", "--delay-ms", 20)
    bridge, port, produced, dlq, _ = kafka_run(procs, tmp_path, group, fn.url, 20_000,
                                               batch={"max_records": 50})
    wait_until(lambda: len(delivered_ids(fn)) >= 500, 60 * SLOW, "the first deliveries")
    fn.proc.signal(signal.SIGKILL)            # the function dies mid-stream
    fn.proc.wait(10 * SLOW)
    before = delivered_ids(fn)
    assert len(before) < produced.count, "everything was delivered before the outage"
    time.sleep(30)                            # the outage itself, not a wait for a condition
    assert bridge.running(), "fnbridge exited while the function was down"
    assert no_dead_letters(dlq), "records were dead-lettered during a 30 s outage"
    up = time.monotonic()
    fn2 = _fixed(procs, "fn-2", fn.port)
    fn2.log.wait_delivered(produced.ids - before, 120 * SLOW, proc=bridge)
    report("function down 30 s, backlog drained after it came back", time.monotonic() - up)
    assert delivered_ids(fn, fn2) >= produced.ids
    assert no_dead_letters(dlq)
    stop_cleanly(bridge)


def test_function_hanging_past_its_timeout_then_answering_loses_nothing(procs, tmp_path, group):
    hung = FnServer(procs, "fn-hung", "--hang-rate", 1)
    bridge, port, produced, dlq, _ = kafka_run(procs, tmp_path, group, hung.url, 2_000,
                                               fn={"timeout": "1s"})
    # Every call hangs: fnbridge gives up on each after its timeout and
    # retries; wait for several rounds of that, on the server's count.
    wait_until(lambda: json.loads(_stats(hung.port))["requests"] >= 12, 60 * SLOW,
               "hung calls retried after their timeout")
    assert not delivered_ids(hung) and bridge.running()
    hung.proc.signal(signal.SIGTERM)
    hung.proc.wait(10 * SLOW)
    up = time.monotonic()
    fn = _fixed(procs, "fn-ok", hung.port)
    fn.log.wait_delivered(produced.ids, 120 * SLOW, proc=bridge)
    report("function hanging past a 1 s timeout, all delivered after it answered",
           time.monotonic() - up)
    assert no_dead_letters(dlq)
    status, metrics = admin_get(port, "/metrics")
    assert status == 200
    assert 'fnbridge_invocations_total{pipeline="faults",outcome="timeout"}' in metrics
    stop_cleanly(bridge)


def _stats(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
    try:
        conn.request("GET", "/stats")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_429_storm_is_paced_by_retry_after_and_loses_nothing(procs, tmp_path, group):
    storm = FnServer(procs, "fn-429", "--rate-429", 1, "--retry-after", 2)
    bridge, port, produced, dlq, _ = kafka_run(procs, tmp_path, group, storm.url, 4_000)
    t0 = time.monotonic()
    wait_until(lambda: json.loads(_stats(storm.port))["requests"] >= 4, 60 * SLOW,
               "the first throttled calls")
    time.sleep(10)                            # the storm lasts 10 s
    storm_requests = json.loads(_stats(storm.port))["requests"]
    storm_seconds = time.monotonic() - t0
    # One batch per partition in flight (4), each waiting Retry-After (2 s)
    # between tries: at most 4 x (seconds / 2 + 1) calls, plus one round of
    # slack; without Retry-After the 100 ms..1 s backoff would make many more.
    bound = 4 * (storm_seconds / 2 + 2)
    assert storm_requests <= bound, f"{storm_requests} calls in {storm_seconds:.1f} s"
    storm.proc.signal(signal.SIGTERM)
    storm.proc.wait(10 * SLOW)
    up = time.monotonic()
    fn = _fixed(procs, "fn-calm", storm.port)
    fn.log.wait_delivered(produced.ids, 120 * SLOW, proc=bridge)
    report("429 storm with Retry-After 2 s, all delivered after it ended",
           time.monotonic() - up)
    assert no_dead_letters(dlq)
    _, metrics = admin_get(port, "/metrics")
    assert 'fnbridge_function_throttles_total{pipeline="faults"}' in metrics
    stop_cleanly(bridge)


def broker_command(kafka, line):
    kafka.proc.popen.stdin.write((line + "\n").encode())
    kafka.proc.popen.stdin.flush()


def test_kafka_broker_down_and_back_flips_readyz_and_loses_nothing(procs, tmp_path, group):
    fn = FnServer(procs, "fn")
    kafka = MockKafka(procs, TOPICS, brokers=1, control=True)
    produced = produce(kafka, "faults", 5_000, "--size", 256)
    dlq = tmp_path / "dlq.jsonl"
    port = free_port()
    pipeline = kafka_pipeline("faults", kafka, "faults", group, http_function(fn.url),
                              dlq=dlq, retry=RETRY_FOREVER)
    cfg = write_config(tmp_path / "fnbridge.yaml", [pipeline], tmp_path / "state", port)
    bridge = start_bridge(procs, cfg)
    wait_until(lambda: ready(port), 60 * SLOW, "/readyz 200 once connected")
    fn.log.wait_delivered(produced.ids, 120 * SLOW, proc=bridge)
    down = time.monotonic()
    broker_command(kafka, "broker-down 1")
    wait_until(lambda: not ready(port), 30 * SLOW, "/readyz 503 with the broker down")
    report("broker down, /readyz said not ready", time.monotonic() - down)
    status, body = admin_get(port, "/readyz")
    assert status == 503 and "faults" in body, body
    up = time.monotonic()
    broker_command(kafka, "broker-up 1")
    wait_until(lambda: ready(port), 60 * SLOW, "/readyz 200 with the broker back")
    report("broker back, /readyz said ready", time.monotonic() - up)
    later = produce(kafka, "faults", 2_000, "--size", 256)
    fn.log.wait_delivered(later.ids, 120 * SLOW, proc=bridge)
    report("broker back, new records delivered", time.monotonic() - up)
    assert no_dead_letters(dlq)
    stop_cleanly(bridge)


def test_mosquitto_restarted_flips_readyz_and_loses_nothing(procs, tmp_path):
    broker = Mosquitto(procs).start()
    fn = FnServer(procs, "fn", "--payload-ids")
    port = free_port()
    pipeline = mqtt_pipeline("faults", broker.url, "fnb-faults", fn.url,
                             dlq=tmp_path / "dlq.jsonl")
    cfg = write_config(tmp_path / "fnbridge.yaml", [pipeline], tmp_path / "state", port)
    bridge = start_bridge(procs, cfg)
    wait_until(lambda: ready(port), 60 * SLOW, "/readyz 200 once subscribed")
    first = publish(broker.url, "sensors/a", 2_000, prefix="a")
    down = time.monotonic()
    broker.stop()
    wait_until(lambda: not ready(port), 30 * SLOW, "/readyz 503 with mosquitto down")
    report("mosquitto down, /readyz said not ready", time.monotonic() - down)
    up = time.monotonic()
    broker.start()
    wait_until(lambda: ready(port), 60 * SLOW, "/readyz 200 with mosquitto back")
    report("mosquitto back, /readyz said ready", time.monotonic() - up)
    second = publish(broker.url, "sensors/a", 2_000, prefix="b")
    fn.log.wait_delivered(first.ids | second.ids, 120 * SLOW, proc=bridge)
    report("mosquitto back, every message delivered", time.monotonic() - up)
    stop_cleanly(bridge)
