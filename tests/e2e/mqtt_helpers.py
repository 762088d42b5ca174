"""Helpers for the MQTT end-to-end tests: a real mosquitto broker on a free
port (persistence on, optional password file and TLS listener), the
mqtt_pub publisher, certificates made with the openssl CLI, a capturing
HTTP function written in Python, a paho-mqtt subscriber, the `mosquitto`
fixture, and readers for a process's memory and for dead-letter files
parsed strictly."""
import base64
import json
import os
import re
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import helpers
from helpers import SLOW, free_port, tool, wait_until, with_extra

MOSQUITTO = "/usr/sbin/mosquitto"


# ------------------------------------------------------------- certificates


class Certs:
    """A CA, a server certificate it signed for 127.0.0.1 and localhost, a
    client certificate it signed, and a second CA that signed nothing."""

    def __init__(self, workdir):
        self.dir = Path(workdir) / "certs"
        self.dir.mkdir(parents=True, exist_ok=True)
        d = self.dir
        self.ca, self.ca_key = d / "ca.pem", d / "ca.key"
        self.other_ca, self.other_ca_key = d / "other-ca.pem", d / "other-ca.key"
        self.server_cert, self.server_key = d / "server.pem", d / "server.key"
        self.client_cert, self.client_key = d / "client.pem", d / "client.key"
        self._ca(self.ca, self.ca_key, "fnbridge test CA")
        self._ca(self.other_ca, self.other_ca_key, "unrelated test CA")
        self._leaf("server", self.server_cert, self.server_key, "localhost",
                   "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "extendedKeyUsage=serverAuth\n")
        self._leaf("client", self.client_cert, self.client_key, "fnbridge-test-client",
                   "extendedKeyUsage=clientAuth\n")

    def _openssl(self, *args):
        r = subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True,
                           text=True, timeout=30 * SLOW, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"openssl {args[0]} failed: {r.stderr}"

    def _ca(self, cert, key, cn):
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                      "-subj", f"/CN={cn}")

    def _leaf(self, name, cert, key, cn, extensions):
        csr, ext = self.dir / f"{name}.csr", self.dir / f"{name}.ext"
        ext.write_text("basicConstraints=CA:FALSE\n"
                       "keyUsage=digitalSignature,keyEncipherment\n" + extensions)
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                      "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)


# ---------------------------------------------------------------- mosquitto


class Mosquitto:
    """A mosquitto broker bound to 127.0.0.1 on a free port, persistence in
    its own directory; restart() keeps the port and the directory. Its log
    (connections, subscriptions) is the Proc's stderr.

    password: (user, password) -> password_file and no anonymous clients.
    certs: a Certs -> also a TLS listener on tls_port (require_certificate
    makes it ask for a client certificate)."""

    def __init__(self, procs, name="mosquitto", password=None, certs=None,
                 require_certificate=False, autosave_interval=1):
        self.procs = procs
        self.name = name
        self.dir = procs.workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.certs = certs
        self.tls_port = free_port() if certs else None
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.tls_url = f"mqtts://127.0.0.1:{self.tls_port}" if certs else None
        self.runs = 0
        self.proc = None
        self.conf = self.dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.dir}/",
            # Written on every clean stop, and each second while running.
            f"autosave_interval {autosave_interval}",
            # The default 1000 drops messages queued for a client that is away.
            # Not 0 ("no limit"): in 2.0.11 that also lets only one QoS 1
            # message be in flight to a client at a time.
            "max_queued_messages 10000000",
            "max_inflight_messages 100",
            "log_dest stderr",
            "log_type error", "log_type warning", "log_type notice",
            "log_type information", "log_type subscribe",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            lines.append("user root")   # else it drops to an account that
                                        # cannot read the test's directory
        if password:
            self.password_file = self.dir / "passwd"
            r = subprocess.run(["mosquitto_passwd", "-b", "-c", str(self.password_file),
                                password[0], password[1]], capture_output=True, text=True,
                               timeout=30 * SLOW)
            assert r.returncode == 0, f"mosquitto_passwd failed: {r.stderr}"
            lines += [f"password_file {self.password_file}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        if certs:
            lines += [f"listener {self.tls_port} 127.0.0.1",
                      f"cafile {certs.ca}",
                      f"certfile {certs.server_cert}",
                      f"keyfile {certs.server_key}",
                      f"require_certificate {'true' if require_certificate else 'false'}"]
        self.conf.write_text("\n".join(lines) + "\n")
        procs.logs.append((f"{name} config", self.conf))

    def start(self):
        self.runs += 1
        self.proc = self.procs.start([MOSQUITTO, "-c", self.conf], f"{self.name}-{self.runs}")
        self.wait_ready()
        return self

    def wait_ready(self):
        """Waits for the 'running' line (printed once every listener is open)."""
        def ready():
            if not self.proc.running():
                raise AssertionError(f"mosquitto exited with {self.proc.popen.returncode}:\n"
                                     f"{self.proc.stderr()}")
            return re.search(r"mosquitto version \S+ running", self.proc.stderr())
        wait_until(ready, 20 * SLOW, "mosquitto to accept connections")

    def stop(self):
        """SIGTERM (mosquitto writes its database) and wait; returns the code."""
        self.proc.signal(signal.SIGTERM)
        return self.proc.wait(20 * SLOW)

    def restart(self):
        rc = self.stop()
        assert rc == 0, f"mosquitto exited with {rc} on SIGTERM"
        return self.start()

    def log(self):
        return self.proc.stderr()

    def subscriptions(self, client_id, topic_filter):
        """How many times client_id subscribed to topic_filter in this run."""
        rx = re.compile(rf"^\d+: {re.escape(client_id)} \d {re.escape(topic_filter)}$", re.M)
        return len(rx.findall(self.log()))

    def wait_subscribed(self, client_id, topic_filter, timeout=30, count=1, proc=None):
        """Waits until client_id has subscribed topic_filter (count times in
        this run of the broker); fails at once if proc (fnbridge) exits."""
        def done():
            if proc is not None and not proc.running():
                raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
            return self.subscriptions(client_id, topic_filter) >= count
        wait_until(done, timeout * SLOW, f"{client_id} to subscribe {topic_filter}")

    def disconnections(self, client_id):
        """How many times client_id's connection ended in this run."""
        cid = re.escape(client_id)
        rx = re.compile(rf"^\d+: (?:Client {cid} (?:disconnected|closed its connection)"
                        rf"|Socket error on client {cid}, disconnecting)", re.M)
        return len(rx.findall(self.log()))

    def connections(self, client_id=None):
        """Connection attempts in this run: CONNECTs from client_id, or every
        accepted TCP connection when client_id is None."""
        if client_id is None:
            return len(re.findall(r"^\d+: New connection from ", self.log(), re.M))
        rx = re.compile(rf"^\d+: New client connected from \S+ as {re.escape(client_id)} ", re.M)
        return len(rx.findall(self.log()))


# ----------------------------------------------------------------- mqtt_pub


def binary_payload(prefix, k, size):
    """What `mqtt_pub --binary` sends as message k: \\xff\\xfe<prefix><k>\\0,
    then splitmix64(k) words, little-endian, up to size bytes."""
    head = b"\xff\xfe" + f"{prefix}{k}".encode() + b"\x00"
    out = bytearray(head)
    state, mask = k, (1 << 64) - 1
    while len(out) < size:
        state = (state + 0x9e3779b97f4a7c15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & mask
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & mask
        z ^= z >> 31
        out += z.to_bytes(8, "little")
    return bytes(out[:max(size, len(head))])


def parse_ranges(line):
    """'ACKED 0..4 7..9' -> {0, 1, 2, 3, 4, 7, 8, 9}"""
    ks = set()
    for a, b in re.findall(r"(\d+)\.\.(\d+)", line):
        ks.update(range(int(a), int(b) + 1))
    return ks


class Published:
    """The messages mqtt_pub got a PUBACK for (all of them unless the
    connection was lost: then those its ACKED line names)."""

    def __init__(self, prefix, start, count, acked=None, seconds=None):
        self.prefix = prefix
        self.ks = set(range(start, start + count)) if acked is None else acked
        self.seconds = seconds

    @property
    def ids(self):
        return {f"{self.prefix}{k}" for k in self.ks}

    @property
    def count(self):
        return len(self.ks)


def _pub_argv(url, topic, count, args, prefix, start):
    return [tool("mqtt_pub"), "--url", url, "--topic", topic, "--count", str(count),
            "--prefix", prefix, "--start", str(start)] + [str(a) for a in args]


def _parse_result(out, prefix, start, count, rc, stderr):
    m = re.search(r"^PUBLISHED (\d+) SECONDS (\S+) RATE", out, re.M)
    if rc == 0 and m:
        assert int(m.group(1)) == count, f"mqtt_pub reported {m.group(0)!r}"
        return Published(prefix, start, count, seconds=float(m.group(2)))
    m = re.search(r"^ACKED.*$", out, re.M)
    if rc == 3 and m:
        return Published(prefix, start, count, acked=parse_ranges(m.group(0)))
    raise AssertionError(f"mqtt_pub failed ({rc}): {stderr}")


def publish(url, topic, count, *args, prefix="", start=0, timeout=120):
    """Runs mqtt_pub to completion (every PUBACK in); returns a Published."""
    r = subprocess.run(_pub_argv(url, topic, count, args, prefix, start), capture_output=True,
                       text=True, timeout=timeout * SLOW, start_new_session=True,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"mqtt_pub failed ({r.returncode}): {r.stderr}"
    return _parse_result(r.stdout, prefix, start, count, r.returncode, r.stderr)


class Publisher:
    """mqtt_pub running in the background (a Proc of procs)."""

    def __init__(self, procs, url, topic, count, *args, prefix="", start=0, name="mqtt_pub"):
        self.prefix, self.start, self.count = prefix, start, count
        self.proc = procs.start(_pub_argv(url, topic, count, args, prefix, start), name)

    def running(self):
        return self.proc.running()

    def result(self, timeout=120, allow_lost=False):
        """Waits for exit; a Published. With allow_lost, a lost connection
        (exit 3) gives the messages that were acknowledged before it."""
        rc = self.proc.wait(timeout * SLOW)
        if not allow_lost:
            assert rc == 0, f"mqtt_pub exited with {rc}: {self.proc.stderr()}"
        return _parse_result(self.proc.out_path.read_text(), self.prefix, self.start,
                             self.count, rc, self.proc.stderr())


# ------------------------------------------------------------------ pipeline


def mqtt_pipeline(name, broker_url, client_id, fn_url, dlq=None, topics=("sensors/#",),
                  mqtt=None, **extra):
    """One MQTT pipeline as a dict: json format to an http function; mqtt
    keys are merged over the source's, extra keys over the pipeline's."""
    pipeline = {
        "name": name,
        "source": {"mqtt": {"url": broker_url, "client_id": client_id,
                            "topics": list(topics), "qos": 1, "session_expiry": "1d",
                            **(mqtt or {})}},
        "batch": {"max_records": 100, "max_wait": "20ms"},
        "function": {"http": {"url": fn_url, "format": "json", "timeout": "5s"}},
        "concurrency": 8,
        "retry": {"max_attempts": 3, "backoff": {"initial": "10ms", "max": "200ms"}},
    }
    return with_extra(pipeline, dlq, extra)


# --------------------------------------------------------- capture function


class CaptureFunction:
    """An HTTP function on 127.0.0.1 (a free port the OS picks) that keeps
    every event POSTed to it. respond(event) -> (status, body bytes) decides
    the answer; the default is 200 with an empty body. Every request is also
    kept as it came, in `requests`: (headers, body bytes), headers an
    http.client.HTTPMessage (case-insensitive get). A body that is not JSON
    is answered 400, unless raw is true (binary CloudEvents, payload): then
    it is answered by respond(None)."""

    def __init__(self, respond=None, raw=False):
        self.events = []
        self.requests = []
        self.lock = threading.Lock()
        self.respond = respond or (lambda event: (200, b""))
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"       # keep-alive, as fnbridge uses it

            def do_POST(self):
                body = self._read_body()
                with capture.lock:
                    capture.requests.append((self.headers, body))
                try:
                    event = json.loads(body)
                except ValueError as e:
                    if not raw:
                        self._answer(400, f"invalid JSON: {e}".encode())
                        return
                    self._answer(*capture.respond(None))
                    return
                with capture.lock:
                    capture.events.append(event)
                status, answer = capture.respond(event)
                self._answer(status, answer)

            def _read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _answer(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def records(self):
        """Every record of every event so far (json format), in arrival order."""
        with self.lock:
            return [r for e in self.events for r in e.get("records", [])]

    def wait_records(self, n, timeout, proc=None):
        def enough():
            if proc is not None and not proc.running():
                raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
            return len(self.records()) >= n
        wait_until(enough, timeout * SLOW, f"{n} records at the capture function")
        return self.records()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def record_payload_id(record):
    """The id mqtt_pub put in a record's payload (JSON or --binary)."""
    if record.get("payloadEncoding") == "json" and isinstance(record.get("payload"), dict):
        return record["payload"].get("id")
    data = base64.b64decode(record["payload"])
    if data.startswith(b"\xff\xfe") and b"\x00" in data:
        return data[2:data.index(b"\x00")].decode()
    return None


# --------------------------------------------------------------- subscriber


class Subscriber:
    """A paho-mqtt (MQTT v5) subscriber that keeps what arrives; the
    subscription is acknowledged when the constructor returns."""

    def __init__(self, broker, topic_filter, client_id="test-subscriber"):
        import paho.mqtt.client as mqtt
        self.messages = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)

        def on_message(client, userdata, msg):
            with self.lock:
                self.messages.append(msg)

        self.client.on_message = on_message
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect("127.0.0.1", broker.port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe(topic_filter, qos=1)
        assert subscribed.wait(20 * SLOW), f"no SUBACK for {topic_filter}"

    def wait_messages(self, n, timeout):
        def enough():
            with self.lock:
                return len(self.messages) >= n
        wait_until(enough, timeout * SLOW, f"{n} messages at the subscriber")
        with self.lock:
            return list(self.messages)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


# ------------------------------------------------------------------ fixture


@pytest.fixture
def mosquitto(procs):
    """mosquitto(**kw) starts a broker (Mosquitto) for this test; a test
    module imports this name to have the fixture."""
    assert os.access(helpers.tool("mqtt_pub"), os.X_OK), "no mqtt_pub: run `make tools`"

    def start(**kw):
        return Mosquitto(procs, **kw).start()
    return start


# ------------------------------------------------------- memory, dead letters


def proc_status_kb(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, ...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def strict_json_lines(path):
    """Every line of a dead-letter file, each decoded as strict UTF-8 (no
    surrogates, no overlongs) and parsed as strict JSON (no NaN or
    Infinity, no control characters in strings); fails on the first line
    that is not."""
    out = []
    for n, raw in enumerate(Path(path).read_bytes().split(b"\n"), 1):
        if not raw:
            continue
        try:
            out.append(json.loads(raw.decode("utf-8", errors="strict"),
                                  parse_constant=_no_constant))
        except ValueError as e:
            raise AssertionError(f"{path} line {n} is not strict JSON: {e}: "
                                 f"{raw[:200]!r}") from None
    return out
