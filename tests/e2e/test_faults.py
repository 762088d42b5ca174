"""Faults an operator meets (README: Operations, Faults), with real parts,
each asserting that nothing is lost: every record produced reached the
function with a 2xx or is in the dead-letter sink (with a policy that
retries for ever: every one reached the function), and the positions
fnbridge commits reach the end. The faults: the function down for 30 s,
hanging past its timeout, a 429 storm with Retry-After, the Kafka broker
down and back, every broker gone at shutdown, mosquitto restarted, the dead-letter sink unavailable, the
circuit breaker opening, and a 200k-record backlog under a memory bound.

Each test prints the recovery times it saw ("RECOVERY ..." lines, shown by
`pytest -s`); no time is asserted. /readyz is read from the admin server."""
import http.client
import json
import re
import signal
import sys
import threading
import time

from confluent_kafka import Consumer, TopicPartition

from helpers import (REPO, SLOW, ControlledKafka, FnServer, MockKafka, event_ids,
                     free_port, http_function, kafka_pipeline, produce, read_dlq,
                     start_bridge, stop_bridge, stop_cleanly, wait_until, write_config)
from mqtt_helpers import (Publisher, mosquitto, mqtt_pipeline,  # noqa: F401 (fixture)
                          proc_status_kb, publish)

sys.path.insert(0, str(REPO / "tests" / "tools"))
from fake_http import Server, read_body, send  # noqa: E402

TOPICS = {"f_down": 4, "f_hang": 4, "f_429": 4, "f_sink": 2, "f_cb": 4, "f_backlog": 32}
# Retries that never give up within a test: nothing may be dead-lettered.
RETRY_FOREVER = {"max_attempts": 100000, "backoff": {"initial": "100ms", "max": "1s"},
                 "max_record_age": "7d", "bisect_on_error": False}
MIB = 1 << 20


def report(what, seconds):
    print(f"\nRECOVERY {what}: {seconds:.2f} s", flush=True)


# ------------------------------------------------------------ admin server


class Admin:
    """The admin server of one fnbridge (no token: reasons are shown)."""

    def __init__(self, port, bridge):
        self.port = port
        self.bridge = bridge

    def get(self, path):
        """(status, body) of GET path; (None, why) while nothing answers."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10 * SLOW)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read().decode()
        except OSError as e:
            return None, str(e)
        finally:
            conn.close()

    def wait_ready(self, ready, timeout, what, reason=""):
        """Waits for /readyz to answer 200 (ready) or 503 with reason in
        its body; returns the body."""
        want = 200 if ready else 503

        def done():
            assert self.bridge.running(), f"fnbridge exited with {self.bridge.popen.returncode}"
            status, body = self.get("/readyz")
            return body if status == want and reason in body else None
        return wait_until(done, timeout, what)

    def pipeline(self):
        status, body = self.get("/status")
        assert status == 200, (status, body)
        return json.loads(body)["pipelines"][0]

    def metric(self, name, **labels):
        """One sample of /metrics: name with the pipeline's label and labels."""
        status, text = self.get("/metrics")
        assert status == 200, (status, text)
        for line in text.splitlines():
            m = re.match(r'^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$', line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            got.pop("pipeline", None)
            if got == labels:
                return float(m.group(3))
        raise AssertionError(f"no sample {name} {labels} in /metrics")

    def wait_settled(self, timeout):
        """Waits until nothing is in flight and every assigned partition's
        lag is 0: fnbridge committed up to the end of what it fetched."""
        def done():
            p = self.pipeline()
            lags = [a["lag"] for a in p["source"]["assigned"]]
            return p["inflight"]["records"] == 0 and lags and all(lag == 0 for lag in lags)
        wait_until(done, timeout, "nothing in flight and every lag 0")


def start(procs, tmp_path, pipeline, log_level="info"):
    """fnbridge on one pipeline with an admin server; (process, Admin)."""
    port = free_port()
    config = write_config(tmp_path / "fnbridge.json", [pipeline], tmp_path / "state",
                          log_level=log_level, admin={"listen": f"127.0.0.1:{port}"})
    procs.logs.append(("fnbridge config", config))
    bridge = start_bridge(procs, config)
    admin = Admin(port, bridge)
    wait_until(lambda: admin.get("/healthz")[0] or not bridge.running(), 20 * SLOW,
               "the admin server")
    return bridge, admin


def fn_stats(fn):
    conn = http.client.HTTPConnection("127.0.0.1", fn.port, timeout=10 * SLOW)
    try:
        conn.request("GET", "/stats")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def no_dead_letters(path):
    return read_dlq(path) == []


def committed(bootstrap, group, topic, partitions):
    """{partition: offset} the broker holds as committed for group."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in partitions], timeout=10 * SLOW)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


# ---------------------------------------------------------------- the faults


OUTAGE_S = 30


def test_function_down_30s_then_back(kafka, procs, group, tmp_path):
    """fn_server killed mid-stream (connections refused) for 30 s, more
    records produced meanwhile; then a new one on the same port. /readyz
    says stalled during the outage (records in flight, none settled past
    the bound from the config: 50 ms + 2 x 2 s + 1 s + 5 s)."""
    fn = FnServer(procs, "fn-1", "--delay-ms", 100)
    first = produce(kafka, "f_down", 6000, "--size", 256, "--partitions", 4)
    dlq = tmp_path / "dlq.jsonl"
    bridge, admin = start(procs, tmp_path, kafka_pipeline(
        "down", kafka, "f_down", group, http_function(fn.url, timeout="2s"), dlq=dlq,
        batch={"max_records": 50, "max_wait": "50ms"}, retry=RETRY_FOREVER))
    admin.wait_ready(True, 30 * SLOW, "/readyz 200 once assigned")
    wait_until(lambda: len(fn.log.refresh().ok) >= 1000, 60 * SLOW, "1000 delivered")

    fn.proc.signal(signal.SIGKILL)
    fn.proc.wait(10 * SLOW)
    down = time.monotonic()
    before = fn.log.refresh().ok
    assert len(before) < first.count, "everything was delivered before the outage"
    during = produce(kafka, "f_down", 2000, "--size", 256, "--partitions", 4)
    body = admin.wait_ready(False, OUTAGE_S, "/readyz 503 while the function is down")
    report("function down: /readyz 503 after", time.monotonic() - down)
    assert "down: stalled:" in body, body
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down)))   # the outage itself
    assert bridge.running(), "fnbridge exited while the function was down"
    assert no_dead_letters(dlq), "records were dead-lettered during the outage"

    back = FnServer(procs, "fn-2", port=fn.port)
    up = time.monotonic()
    back.log.wait_delivered((first.ids | during.ids) - before, 120 * SLOW, proc=bridge)
    report("function down 30 s: all delivered after it came back", time.monotonic() - up)
    admin.wait_ready(True, 30 * SLOW, "/readyz 200 with the function back")
    report("function down 30 s: /readyz 200 after it came back", time.monotonic() - up)
    admin.wait_settled(30 * SLOW)
    assert no_dead_letters(dlq)
    stop_cleanly(bridge)


HANG_S = 1.5        # the hanging function answers this long after a call


def test_function_hanging_past_its_timeout(kafka, procs, timed, group, tmp_path):
    """The function answers every call 1.5 s late, past the 1 s timeout
    (its late answers are 504s fnbridge never reads); once it answers in
    time, every record is delivered, once."""
    hanging = [True]
    fn = timed(lambda n, ids: (504, HANG_S) if hanging[0] else (200, 0))
    # A late answer meets the connection fnbridge closed: not worth a trace.
    fn.server.httpd.handle_error = lambda request, address: None
    produced = produce(kafka, "f_hang", 2000, "--size", 256, "--partitions", 4)
    dlq = tmp_path / "dlq.jsonl"
    bridge, admin = start(procs, tmp_path, kafka_pipeline(
        "hang", kafka, "f_hang", group, http_function(fn.url, timeout="1s"), dlq=dlq,
        retry=RETRY_FOREVER))

    def retried_twice():
        assert bridge.running()
        seen = {}
        for call in fn.snapshot():
            seen[call.ids[0]] = seen.get(call.ids[0], 0) + 1
        return max(seen.values(), default=0) >= 3
    wait_until(retried_twice, 60 * SLOW, "a batch timed out and retried twice")
    assert not fn.delivered()
    status, body = admin.get("/readyz")
    print(f"\nhanging function: /readyz {status} {body.strip()!r}")

    hanging[0] = False
    up = time.monotonic()
    fn.wait_delivered(produced.ids, 60 * SLOW, proc=bridge)
    report("function hanging past its timeout: all delivered once it answered in time",
           time.monotonic() - up)
    admin.wait_settled(30 * SLOW)
    assert admin.metric("fnbridge_invocations_total", outcome="timeout") >= 3
    records = admin.pipeline()["records"]
    assert records["delivered"] == produced.count and records["dead_lettered"] == 0, records
    assert no_dead_letters(dlq)
    stop_cleanly(bridge)


RETRY_AFTER_S = 2
STORM_S = 8
PARTITIONS_429 = TOPICS["f_429"]


def test_429_storm_with_retry_after(kafka, procs, group, tmp_path):
    """Every call answered 429 with Retry-After: 2 for 8 s. With ordering
    by partition a partition's records are in one batch at a time (a batch
    may take several partitions'), so at most one batch per partition is
    out, each waiting Retry-After between tries: at most partitions x
    (seconds / 2 + 1) calls, +1 round of slack. The backoff alone (10 ms
    to 100 ms) would make ~80 times as many. Then a function that answers
    200 on the same port."""
    storm = FnServer(procs, "fn-429", "--rate-429", 1, "--retry-after", RETRY_AFTER_S)
    produced = produce(kafka, "f_429", 2000, "--size", 256, "--partitions", PARTITIONS_429)
    dlq = tmp_path / "dlq.jsonl"
    bridge, admin = start(procs, tmp_path, kafka_pipeline(
        "storm", kafka, "f_429", group, http_function(storm.url), dlq=dlq,
        retry={**RETRY_FOREVER, "backoff": {"initial": "10ms", "max": "100ms"}}))
    wait_until(lambda: fn_stats(storm)["requests"] >= 1 or not bridge.running(), 60 * SLOW,
               "the first throttled call")
    t0 = time.monotonic()
    time.sleep(STORM_S)                     # the storm itself
    calls = fn_stats(storm)["requests"]
    seconds = time.monotonic() - t0
    bound = PARTITIONS_429 * (seconds / RETRY_AFTER_S + 2)
    print(f"\n429 storm: {calls} calls in {seconds:.1f} s (bound {bound:.0f})")
    assert 2 <= calls <= bound, f"{calls} calls in {seconds:.1f} s"
    assert not storm.log.refresh().ok and no_dead_letters(dlq)

    storm.proc.signal(signal.SIGTERM)
    storm.proc.wait(10 * SLOW)
    calm = FnServer(procs, "fn-calm", port=storm.port)
    up = time.monotonic()
    calm.log.wait_delivered(produced.ids, 60 * SLOW, proc=bridge)
    report("429 storm: all delivered after it ended", time.monotonic() - up)
    admin.wait_settled(30 * SLOW)
    assert admin.metric("fnbridge_function_throttles_total") >= calls
    assert no_dead_letters(dlq)
    stop_cleanly(bridge)


def test_kafka_broker_down_and_back(procs, group, tmp_path):
    """The mock cluster's only broker refuses connections for a few
    seconds while records are being delivered (their commits fail
    meanwhile), then takes them again."""
    kafka = ControlledKafka(procs, {"f_broker": 4}, brokers=1)
    fn = FnServer(procs, "fn", "--delay-ms", 50)
    first = produce(kafka, "f_broker", 4000, "--size", 256, "--partitions", 4)
    dlq = tmp_path / "dlq.jsonl"
    bridge, admin = start(procs, tmp_path, kafka_pipeline(
        "broker", kafka, "f_broker", group, http_function(fn.url), dlq=dlq,
        retry=RETRY_FOREVER))
    admin.wait_ready(True, 30 * SLOW, "/readyz 200 once assigned")
    wait_until(lambda: len(fn.log.refresh().ok) >= 500, 60 * SLOW, "500 delivered")

    kafka.all_brokers("down")
    down = time.monotonic()
    body = admin.wait_ready(False, 30 * SLOW, "/readyz 503 with the broker down")
    report("broker down: /readyz 503 after", time.monotonic() - down)
    assert "broker: source disconnected" in body, body
    assert admin.get("/healthz")[0] == 200
    time.sleep(3)                           # the outage itself
    kafka.all_brokers("up")
    up = time.monotonic()
    admin.wait_ready(True, 60 * SLOW, "/readyz 200 with the broker back")
    report("broker back: /readyz 200 after", time.monotonic() - up)
    later = produce(kafka, "f_broker", 1000, "--size", 256, "--partitions", 4)
    fn.log.wait_delivered(first.ids | later.ids, 60 * SLOW, proc=bridge)
    report("broker back: all delivered, new records included", time.monotonic() - up)
    admin.wait_settled(30 * SLOW)
    assert no_dead_letters(dlq)
    stop_cleanly(bridge)


def test_shutdown_with_every_broker_gone_ends_within_its_bound(procs, group, tmp_path):
    """SIGTERM after the whole cluster died: the final commit cannot be
    answered. fnbridge gives it up after its bound, does not wait for the
    group to end (librdkafka would wait for ever for the commit, then for
    the group's session), and exits 0; what was not committed is
    delivered again by the next run (at least once)."""
    kafka = MockKafka(procs, {"f_gone": 4}, brokers=3)
    fn = FnServer(procs, "fn")
    produced = produce(kafka, "f_gone", 2000, "--size", 256, "--partitions", 4)
    config = write_config(tmp_path / "fnbridge.json", [kafka_pipeline(
        "gone", kafka, "f_gone", group, http_function(fn.url), dlq=tmp_path / "dlq.jsonl",
        retry=RETRY_FOREVER)], tmp_path / "state", shutdown_timeout="2s")
    bridge = start_bridge(procs, config)
    fn.log.wait_delivered(produced.ids, 60 * SLOW, proc=bridge)
    kafka.proc.kill()
    rc, took = stop_bridge(bridge, 60 * SLOW)
    report("every broker gone: SIGTERM to exit", took)
    assert rc == 0, f"fnbridge exited with {rc}"
    assert "offset commit at shutdown got no answer within 5000 ms" in bridge.stderr()
    # 2 s to drain, 5 s for the commit, and some slack: not the minute
    # and more it took when fnbridge waited for librdkafka's close.
    assert took < 20 * SLOW, f"the stop took {took:.1f} s"


def test_mosquitto_restarted(mosquitto, procs, tmp_path):
    """mosquitto stopped (SIGTERM: it saves sessions and queues) while a
    publisher sends QoS 1 messages, then started again on the same port.
    Every message it acknowledged, and those published after, arrive."""
    broker = mosquitto()
    fn = FnServer(procs, "fn", "--payload-ids", "--delay-ms", 20)
    dlq = tmp_path / "dlq.jsonl"
    bridge, admin = start(procs, tmp_path, mqtt_pipeline(
        "mq", broker.url, "fnb-faults", fn.url, dlq=dlq, batch={"max_records": 20},
        retry=RETRY_FOREVER))
    broker.wait_subscribed("fnb-faults", "sensors/#", proc=bridge)
    admin.wait_ready(True, 30 * SLOW, "/readyz 200 once subscribed")
    pub = Publisher(procs, broker.url, "sensors/faults", 20_000, "--rate", 2000, prefix="a-")
    wait_until(lambda: len(fn.log.refresh().ok) >= 500, 30 * SLOW, "500 delivered")
    assert pub.running(), "the publisher finished before the restart"

    assert broker.stop() == 0
    down = time.monotonic()
    acked = pub.result(30, allow_lost=True)
    assert 0 < acked.count < 20_000, f"{acked.count} of 20000 acknowledged"
    body = admin.wait_ready(False, 30 * SLOW, "/readyz 503 with mosquitto down")
    report("mosquitto down: /readyz 503 after", time.monotonic() - down)
    assert "mq: source disconnected" in body, body
    broker.start()
    up = time.monotonic()
    admin.wait_ready(True, 60 * SLOW, "/readyz 200 with mosquitto back")
    report("mosquitto back: /readyz 200 after", time.monotonic() - up)
    after = publish(broker.url, "sensors/faults", 2000, prefix="b-")
    fn.log.wait_delivered(acked.ids | after.ids, 60 * SLOW, proc=bridge)
    report("mosquitto back: every acknowledged message delivered", time.monotonic() - up)
    wait_until(lambda: admin.pipeline()["inflight"]["records"] == 0 and
               admin.pipeline()["source"]["spool_records"] == 0, 30 * SLOW, "the spool empty")
    assert no_dead_letters(dlq)
    stop_cleanly(bridge)


class SinkServer:
    """An HTTP dead-letter sink on a port chosen beforehand: nothing
    listens there until start(); it keeps each POSTed line."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/dlq"
        self.lines = []
        self.lock = threading.Lock()
        self.server = None

    def _handle(self, h, method):
        body = read_body(h)
        with self.lock:
            self.lines.append(json.loads(body))
        send(h, 200)

    def start(self):
        self.server = Server(self._handle, self.port)

    def ids(self):
        with self.lock:
            return {rid for line in self.lines for rid in event_ids(line["payload"])}

    def close(self):
        if self.server:
            self.server.close()


def test_dead_letter_sink_unavailable_then_available(kafka, procs, group, tmp_path):
    """Three poison records (500 whatever the batch) go to an HTTP sink
    nobody listens on: nothing past them is committed, /readyz says the
    sink fails; once a server listens there they reach it, the rest is
    delivered and every offset committed."""
    produced = produce(kafka, "f_sink", 1000, "--size", 256, "--partitions", 2)
    base = {p: a for p, (a, _) in produced.ranges.items()}
    poison = {f"f_sink-0-{base[0] + 100}", f"f_sink-0-{base[0] + 300}",
              f"f_sink-1-{base[1] + 200}"}
    fn = FnServer(procs, "fn", *[a for rid in sorted(poison) for a in ("--poison", rid)])
    sink = SinkServer()
    try:
        bridge, admin = start(procs, tmp_path, kafka_pipeline(
            "sink", kafka, "f_sink", group, http_function(fn.url),
            dead_letter={"http": {"url": sink.url, "timeout": "2s"}},
            batch={"max_records": 10, "max_wait": "20ms"}))
        admin.wait_ready(False, 60 * SLOW, "/readyz 503 with the sink failing",
                         reason="sink: dead-letter sink failing")
        failing = time.monotonic()
        wait_until(lambda: admin.metric("fnbridge_dead_letter_sink_failures_total") >= 3,
                   30 * SLOW, "three failed writes")
        assert admin.metric("fnbridge_dead_letter_sink_up") == 0
        assert admin.pipeline()["source"]["paused"], "the source takes records meanwhile"
        first_poison = {p: min(int(r.rsplit("-", 1)[1]) for r in poison
                               if r.startswith(f"f_sink-{p}-")) for p in (0, 1)}
        held = committed(kafka.bootstrap, group, "f_sink", (0, 1))
        for p, offset in held.items():
            assert offset <= first_poison[p], f"partition {p} committed to {offset}"
        assert admin.get("/readyz")[0] == 503

        sink.start()
        up = time.monotonic()
        wait_until(lambda: sink.ids() >= poison, 60 * SLOW, "the poison records at the sink")
        fn.log.wait_delivered(produced.ids - poison, 60 * SLOW, proc=bridge)
        report("dead-letter sink back: every record delivered or at the sink",
               time.monotonic() - up)
        admin.wait_ready(True, 30 * SLOW, "/readyz 200 with the sink back")
        report("dead-letter sink back: /readyz 200 after", time.monotonic() - up)
        print(f"(the sink was down {up - failing:.1f} s more after /readyz said 503)")
        ends = {p: b + 1 for p, (_, b) in produced.ranges.items()}
        wait_until(lambda: committed(kafka.bootstrap, group, "f_sink", (0, 1)) == ends,
                   30 * SLOW, "every offset committed")
        assert sink.ids() == poison, sink.ids() - poison
        assert not poison & fn.log.ok
        assert (fn.log.ok | sink.ids()) >= produced.ids
        stop_cleanly(bridge)
    finally:
        sink.close()


COOLDOWN_S = 1.5
CLOCK_SLACK = 0.005     # fnbridge's timers run on whole milliseconds
ADMISSION_SLACK = 0.1 * SLOW   # from the function's answer to fnbridge acting on it


def test_circuit_breaker_opens_pauses_and_closes(kafka, procs, timed, group, tmp_path):
    """The function fails (500) until the circuit opened three times;
    after it opened, every call is a lone probe a whole cooldown after the
    one before, and the source is paused; once the function answers, the
    probe closes the circuit and everything is delivered."""
    failing = [True]
    fn = timed(lambda n, ids: (500, 0) if failing[0] else (200, 0.005))
    produced = produce(kafka, "f_cb", 2000, "--size", 256, "--partitions", 4)
    dlq = tmp_path / "dlq.jsonl"
    bridge, admin = start(procs, tmp_path, kafka_pipeline(
        "cb", kafka, "f_cb", group, http_function(fn.url), dlq=dlq,
        circuit_breaker={"failures": 3, "cooldown": f"{int(COOLDOWN_S * 1000)}ms"},
        retry={**RETRY_FOREVER, "backoff": {"initial": "10ms", "max": "50ms"}}))

    def open_and_paused():
        p = admin.pipeline()
        return p["function"]["breaker"]["state"] == "open" and p["source"]["paused"]
    wait_until(open_and_paused, 60 * SLOW, "the circuit open and the source paused")
    body = admin.get("/readyz")[1]
    assert "cb: circuit open" in body, body
    wait_until(lambda: admin.metric("fnbridge_circuit_opened_total") >= 3, 30 * SLOW,
               "the circuit opened three times")
    failing[0] = False
    healed = time.monotonic()
    fn.wait_delivered(produced.ids, 60 * SLOW, proc=bridge)
    report("circuit breaker: all delivered after the function recovered",
           time.monotonic() - healed)
    admin.wait_ready(True, 30 * SLOW, "/readyz 200 with the circuit closed")
    report("circuit breaker: /readyz 200 after the function recovered",
           time.monotonic() - healed)
    assert admin.pipeline()["function"]["breaker"]["state"] == "closed"
    admin.wait_settled(30 * SLOW)

    calls = fn.snapshot()
    # The circuit opened when fnbridge had the third failure back, a moment
    # after the function sent it: a call started before that moment may
    # still arrive just after (ADMISSION_SLACK). Calls that arrived later,
    # up to the first that succeeded, are the probes.
    opened = sorted(c.answered for c in calls)[2]
    first_ok = next(c for c in calls if c.status == 200)
    probes = [c for c in calls if opened + ADMISSION_SLACK < c.arrived <= first_ok.arrived]
    print(f"\ncircuit breaker: {len(probes)} probes, {len(calls)} calls in all")
    assert len(probes) >= 3, f"{len(probes)} probes"
    prev = opened
    for c in probes:
        assert c.arrived - prev >= COOLDOWN_S - CLOCK_SLACK, \
            f"call {c.n} {c.arrived - prev:.3f} s after the circuit (re)opened"
        prev = c.answered
    assert no_dead_letters(dlq)
    stop_cleanly(bridge)


BACKLOG = 200_000
MAX_INFLIGHT_RECORDS = 10_000
MAX_INFLIGHT_BYTES = 4 * MIB
# fnbridge idle is about 14 MiB, librdkafka's prefetch queue 2 MiB plus the
# fetch responses it keeps alive (one per broker); 44 MiB over the
# configured bytes leaves room for those, the encoded events in flight and
# the allocator's arenas (the peak measured here is 32 to 35 MiB). With
# max_inflight out of the way (10M records, 16 GiB) the same run peaks
# above 100 MiB and fails. Under AddressSanitizer (shadow memory, its
# allocator's own overhead) the constant is larger: 67 MiB measured, above
# 160 MiB without the bound.
RSS_BOUND_MIB = MAX_INFLIGHT_BYTES // MIB + (44 if SLOW == 1 else 96)


class RssSampler:
    """VmRSS of a process every 100 ms, in a thread, tagged by phase."""

    def __init__(self, pid):
        self.pid = pid
        self.phase = "start"
        self.peaks = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.wait(0.1):
            try:
                rss = proc_status_kb(self.pid, "VmRSS")
            except (OSError, AssertionError):
                return
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)

    def stop(self):
        self.stopped.set()
        self.thread.join()


def test_backlog_of_200k_records_stays_within_max_inflight(kafka, procs, group, tmp_path,
                                                           lean_asan):
    """200k records of 256 B produced while the function is slow (200 ms
    a call), then the function down for 5 s, then back. What fnbridge
    holds stays within max_inflight: its peak RSS (VmHWM) within the
    configured bytes plus a constant; every record is delivered."""
    slow = FnServer(procs, "fn-slow", "--delay-ms", 200)
    dlq = tmp_path / "dlq.jsonl"
    bridge, admin = start(procs, tmp_path, kafka_pipeline(
        "backlog", kafka, "f_backlog", group, http_function(slow.url), dlq=dlq,
        batch={"max_records": 100, "max_wait": "50ms"}, concurrency=8,
        max_inflight={"records": MAX_INFLIGHT_RECORDS, "bytes": f"{MAX_INFLIGHT_BYTES // MIB}MiB"},
        retry=RETRY_FOREVER), log_level="warn")
    sampler = RssSampler(bridge.pid)
    try:
        admin.wait_ready(True, 30 * SLOW, "/readyz 200 once assigned")
        sampler.phase = "slow"
        produced = produce(kafka, "f_backlog", BACKLOG, "--size", 256, "--partitions",
                           TOPICS["f_backlog"])
        wait_until(lambda: admin.pipeline()["inflight"]["records"]
                   >= 0.9 * MAX_INFLIGHT_RECORDS, 60 * SLOW, "the backlog pressing")
        time.sleep(3)                       # the slow phase goes on
        sampler.phase = "down"
        slow.proc.signal(signal.SIGKILL)
        slow.proc.wait(10 * SLOW)
        delivered_slow = slow.log.refresh().ok
        time.sleep(5)                       # the outage itself
        assert bridge.running()
        sampler.phase = "back"
        back = FnServer(procs, "fn-back", port=slow.port)
        up = time.monotonic()
        back.log.wait_delivered(produced.ids - delivered_slow, 120 * SLOW, proc=bridge)
        drained = time.monotonic() - up
        report(f"backlog: {BACKLOG - len(delivered_slow)} records drained after the "
               f"function came back", drained)
        hwm_kb = proc_status_kb(bridge.pid, "VmHWM")
    finally:
        sampler.stop()
    peaks = ", ".join(f"{ph} {kb / 1024:.1f}" for ph, kb in sampler.peaks.items())
    print(f"backlog: peak VmRSS MiB per phase: {peaks}; VmHWM {hwm_kb / 1024:.1f} MiB "
          f"(bound {RSS_BOUND_MIB} MiB; {len(delivered_slow)} delivered while slow)")
    assert hwm_kb <= RSS_BOUND_MIB * 1024, f"VmHWM {hwm_kb} kB"
    admin.wait_settled(30 * SLOW)
    assert no_dead_letters(dlq)
    stop_cleanly(bridge)
