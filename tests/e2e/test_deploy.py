"""Deploying fnbridge (issue 13, point 9; README: Deploying, Scale-out):
the files in deploy/ and the sd_notify readiness behind the unit's
Type=notify.

The files: every config passes `fnbridge check` (with the variables its
secrets need); the unit passes `systemd-analyze verify` and has the
sandboxing the README promises; the Kubernetes manifests parse and agree
with the config they carry (admin port and paths, shutdown_timeout and the
grace period, max_inflight and the memory limit, the function on
localhost); the KEDA triggers name the pipeline's group, topic and a
/status field that exists.

sd_notify: a unix datagram socket of the test is NOTIFY_SOCKET; fnbridge
runs against a real mosquitto that is down at first, so READY=1 can only
come once the source has connected; SIGTERM brings STOPPING=1."""
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

import helpers
from helpers import FNBRIDGE, REPO, SLOW, run_fnbridge, stop_cleanly, wait_until, write_config
from mqtt_helpers import Mosquitto, mosquitto, mqtt_pipeline, publish  # noqa: F401 (fixture)

TOPICS = {}     # no Kafka topics: this module does not use the kafka fixture

DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "systemd" / "fnbridge.service"
SYSTEMD_CONFIG = DEPLOY / "systemd" / "fnbridge.yaml"
SIDECAR = DEPLOY / "kubernetes" / "fnbridge-sidecar.yaml"
KEDA_KAFKA = DEPLOY / "kubernetes" / "keda-kafka.yaml"
KEDA_METRICS = DEPLOY / "kubernetes" / "keda-metrics-api.yaml"
ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)")

# The /status shape of the brief every helper shares (README: Operations),
# one pipeline with every field, for the paths KEDA reads.
STATUS_SHAPE = {
    "version": "0.1.0", "uptime_seconds": 1, "ready": True,
    "pipelines": [{
        "name": "orders", "ready": True, "not_ready": [],
        "source": {"kind": "kafka", "state": "connected", "since": "", "error": None,
                   "paused": False,
                   "assigned": [{"topic": "orders", "partition": 0, "lag": 0}],
                   "spool_records": 0, "events_pending": 0},
        "function": {"kind": "http", "name": "orders",
                     "breaker": {"state": "closed", "open_until": None, "opened": 0},
                     "usage": {"requests": 0, "billed_ms": 0, "gb_seconds": 0, "errors": 0,
                               "throttles": 0, "cold_starts": 0, "init_ms": 0,
                               "concurrent": 0, "concurrent_max": 0, "memory_size_mb": 128}},
        "inflight": {"records": 0, "bytes": 0},
        "records": {"received": 0, "filtered": 0, "delivered": 0, "dead_lettered": 0},
        "invocations": {"success": 0}, "retries": 0,
        "dead_letter": {"sink": "file", "state": "ok", "failures": 0, "error": None},
        "last_error": None}],
}


# ------------------------------------------------------------------ helpers


def seconds(duration):
    """'30s', '5min', '1h', '250ms' (fnbridge's and systemd's) -> seconds."""
    m = re.fullmatch(r"(\d+)\s*(ms|s|sec|min|m|h)?", str(duration).strip())
    assert m, f"not a duration: {duration!r}"
    scale = {"ms": 0.001, None: 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    return int(m.group(1)) * scale[m.group(2)]


def size_bytes(size):
    """'64MiB', '1MiB', '128Mi', '96Mi' -> bytes."""
    m = re.fullmatch(r"(\d+)\s*(KiB|MiB|GiB|Ki|Mi|Gi)?", str(size).strip())
    assert m, f"not a size: {size!r}"
    return int(m.group(1)) * {None: 1, "KiB": 1 << 10, "Ki": 1 << 10, "MiB": 1 << 20,
                              "Mi": 1 << 20, "GiB": 1 << 30, "Gi": 1 << 30}[m.group(2)]


def parse_unit(path):
    """A unit file as {section: [(key, value), ...]} (keys may repeat)."""
    sections, current = {}, None
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"{path}: not a key=value line: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def unit_value(unit, section, key):
    values = [v for k, v in unit[section] if k == key]
    assert values, f"[{section}] has no {key}="
    return values[-1]


def load_docs(path):
    docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    assert docs, f"{path} holds no document"
    return docs


def the_doc(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def sidecar_parts():
    """The sidecar manifest's config text (from its ConfigMap), the config
    parsed, the Deployment, its fnbridge container and the Service."""
    docs = load_docs(SIDECAR)
    text = the_doc(docs, "ConfigMap")["data"]["fnbridge.yaml"]
    deployment = the_doc(docs, "Deployment")
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    return text, yaml.safe_load(text), deployment, containers, the_doc(docs, "Service")


def fnbridge_check(config_text, tmp_path, name, monkeypatch):
    """`fnbridge check` on config_text, its state_dir moved under tmp_path
    (the real one is the service manager's or the volume's to create), with
    a value for every ${env:...} it names. Returns the completed run."""
    state = tmp_path / f"{name}-state"
    text, n = re.subn(r"(?m)^(\s*)state_dir: .*$", rf"\g<1>state_dir: {state}", config_text)
    assert n == 1, f"{name}: expected one state_dir line"
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    for var in set(ENV_REF.findall(text)):
        monkeypatch.setenv(var, f"test-value-of-{var.lower()}")
    return run_fnbridge("check", "-c", path)


def gjson_get(doc, path):
    """The value at a GJSON dot path (what KEDA's metrics-api scaler reads)."""
    for part in path.split("."):
        if isinstance(doc, list):
            assert part.isdigit() and int(part) < len(doc), f"{path}: no element {part}"
            doc = doc[int(part)]
        else:
            assert isinstance(doc, dict) and part in doc, f"{path}: no field {part}"
            doc = doc[part]
    return doc


# ------------------------------------------------------------------- configs


def test_systemd_config_passes_check(tmp_path, monkeypatch):
    text = SYSTEMD_CONFIG.read_text()
    r = fnbridge_check(text, tmp_path, "systemd", monkeypatch)
    assert r.returncode == 0, r.stderr
    assert "ok, 1 pipeline" in r.stdout
    # Every secret it reads is one the unit's EnvironmentFile is said to hold.
    header = "".join(line for line in text.splitlines(True) if line.startswith("#"))
    for var in set(ENV_REF.findall(text)):
        assert re.search(rf"^#\s+{var}=", header, re.M), f"{var} is not in the header"
    assert "test-value-of" not in r.stdout + r.stderr, "check printed a secret"


def test_kubernetes_config_passes_check(tmp_path, monkeypatch):
    text, _, _, containers, _ = sidecar_parts()
    r = fnbridge_check(text, tmp_path, "kubernetes", monkeypatch)
    assert r.returncode == 0, r.stderr
    # Each variable the config reads is set in the container, from a Secret.
    env = {e["name"]: e for e in containers["fnbridge"]["env"]}
    for var in set(ENV_REF.findall(text)):
        assert var in env, f"the fnbridge container does not set {var}"
        assert "secretKeyRef" in env[var].get("valueFrom", {}), f"{var} is not from a Secret"


def test_check_refuses_the_systemd_config_without_its_secrets(tmp_path, monkeypatch):
    """The EnvironmentFile matters: without it check names what is missing."""
    for var in set(ENV_REF.findall(SYSTEMD_CONFIG.read_text())):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "fnbridge.yaml"
    shutil.copy(SYSTEMD_CONFIG, path)
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 2
    assert "environment variable KAFKA_PASSWORD is not set" in r.stderr


# ---------------------------------------------------------------------- unit


def test_unit_passes_systemd_analyze_verify(tmp_path):
    """systemd-analyze verify checks every key and that ExecStart can run:
    on a copy whose ExecStart is the binary under test."""
    text = UNIT.read_text().replace("/usr/local/bin/fnbridge", FNBRIDGE)
    unit = tmp_path / "fnbridge.service"
    unit.write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                       text=True, timeout=60 * SLOW)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    # Unknown keys and bad values are only warnings: none may appear.
    assert "fnbridge.service" not in out, out


def test_unit_sandboxing_and_timeouts():
    unit = parse_unit(UNIT)
    svc = dict(unit["Service"])
    expected = {"Type": "notify", "DynamicUser": "yes", "StateDirectory": "fnbridge",
                "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
                "SystemCallFilter": "@system-service", "Restart": "on-failure",
                "KillMode": "mixed"}
    for key, value in expected.items():
        assert unit_value(unit, "Service", key) == value, key
    families = set(unit_value(unit, "Service", "RestrictAddressFamilies").split())
    assert families == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "ExecReload" not in svc, "fnbridge does not reload: no ExecReload"
    assert "ExecReload" in UNIT.read_text(), "why there is none is said in a comment"
    assert unit_value(unit, "Service", "EnvironmentFile").startswith("/etc/fnbridge/")

    config = yaml.safe_load(SYSTEMD_CONFIG.read_text())
    exec_start = unit_value(unit, "Service", "ExecStart").split()
    assert exec_start[1:] == ["run", "-c", "/etc/fnbridge/fnbridge.yaml"]
    assert config["state_dir"] == "/var/lib/" + svc["StateDirectory"]
    stop = seconds(svc["TimeoutStopSec"])
    assert stop > seconds(config["shutdown_timeout"]), "the drain would be cut"
    # The watchdog: fnbridge pings at half of WatchdogSec; a stall counts
    # only past 10 s (bridge/sd_service.c), well inside it.
    assert seconds(svc["WatchdogSec"]) >= 20


# ---------------------------------------------------------------- kubernetes


def test_sidecar_probes_and_ports_agree_with_the_config():
    _, config, deployment, containers, service = sidecar_parts()
    fnb = containers["fnbridge"]
    host, _, port = config["admin"]["listen"].rpartition(":")
    # The kubelet and KEDA reach the pod's IP, not its loopback.
    assert host not in ("127.0.0.1", "localhost", "::1"), host
    assert "token" in config["admin"], "a non-loopback admin server needs a token"
    ports = {p["name"]: p["containerPort"] for p in fnb["ports"]}
    assert ports["admin"] == int(port)
    live, ready = fnb["livenessProbe"]["httpGet"], fnb["readinessProbe"]["httpGet"]
    assert live["path"] == "/healthz" and ready["path"] == "/readyz"
    for probe in (live, ready):
        assert probe["port"] in ("admin", int(port))
    assert service["spec"]["ports"][0]["targetPort"] in ("admin", int(port))
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()

    # The config is mounted where the container's -c reads it.
    args = fnb["args"]
    assert args[:2] == ["run", "-c"]
    mounts = {m["name"]: m["mountPath"] for m in fnb["volumeMounts"]}
    assert args[2] == mounts["config"] + "/fnbridge.yaml"
    assert config["state_dir"] == mounts["state"]


def test_sidecar_function_is_on_localhost():
    _, config, _, containers, _ = sidecar_parts()
    fn_ports = [p["containerPort"] for p in containers["function"]["ports"]]
    for pipeline in config["pipelines"]:
        url = pipeline["function"]["http"]["url"]
        m = re.match(r"http://127\.0\.0\.1:(\d+)/", url)
        assert m, f"{pipeline['name']}: the function is not on localhost: {url}"
        assert int(m.group(1)) in fn_ports


def test_sidecar_shutdown_fits_the_grace_period():
    """fnbridge gets SIGTERM at once and drains for up to shutdown_timeout;
    the function, stopped after its preStop wait, outlives the drain; both
    end within terminationGracePeriodSeconds."""
    _, config, deployment, containers, _ = sidecar_parts()
    drain = seconds(config["shutdown_timeout"])
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    command = containers["function"]["lifecycle"]["preStop"]["exec"]["command"]
    wait = int(re.search(r"sleep (\d+)", " ".join(command)).group(1))
    assert drain < wait < grace, (drain, wait, grace)


def test_sidecar_memory_limit_covers_max_inflight():
    """The limit holds what fnbridge may hold by its config: max_inflight
    bytes, a batch per concurrency slot twice over (the record and its
    encoded event), librdkafka's fetch queue (2 MiB by default) and 12 MiB
    for the process (its idle RSS here is about that)."""
    _, config, _, containers, _ = sidecar_parts()
    resources = containers["fnbridge"]["resources"]
    limit = size_bytes(resources["limits"]["memory"])
    assert size_bytes(resources["requests"]["memory"]) <= limit
    need = 12 << 20
    for pipeline in config["pipelines"]:
        need += size_bytes(pipeline["max_inflight"]["bytes"])
        need += pipeline["concurrency"] * size_bytes(pipeline["batch"]["max_bytes"]) * 2
        kbytes = pipeline["source"]["kafka"].get("librdkafka", {}).get(
            "queued.max.messages.kbytes", 2048)
        need += int(kbytes) * 1024
    assert limit >= need, f"limit {limit} below what the config allows ({need})"


# ---------------------------------------------------------------------- KEDA


def test_keda_kafka_trigger_matches_the_pipeline():
    _, config, deployment, _, _ = sidecar_parts()
    scaled = the_doc(load_docs(KEDA_KAFKA), "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    kafka = config["pipelines"][0]["source"]["kafka"]
    assert meta["consumerGroup"] == kafka["group_id"]
    assert meta["topic"] in kafka["topics"]
    assert meta["bootstrapServers"] == kafka["brokers"]
    assert meta["offsetResetPolicy"] == kafka.get("start", "earliest")
    assert int(meta["lagThreshold"]) > 0
    # KEDA takes metadata values as strings.
    assert all(isinstance(v, str) for v in meta.values())


def test_keda_metrics_api_reads_a_status_field():
    _, config, deployment, containers, service = sidecar_parts()
    docs = load_docs(KEDA_METRICS)
    scaled = the_doc(docs, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    trigger = scaled["spec"]["triggers"][0]
    meta = trigger["metadata"]
    assert trigger["type"] == "metrics-api" and meta["format"] == "json"
    # The field is a number in the /status shape, of the pipeline it says.
    location = meta["valueLocation"]
    assert isinstance(gjson_get(STATUS_SHAPE, location), (int, float)), location
    index = int(location.split(".")[1])
    assert config["pipelines"][index]["name"] == STATUS_SHAPE["pipelines"][0]["name"]
    # The Service on the admin port, path /status (the pod's port: KEDA
    # asks each endpoint).
    m = re.fullmatch(r"http://([^.:/]+)[^:/]*:(\d+)/status", meta["url"])
    assert m, meta["url"]
    assert m.group(1) == service["metadata"]["name"]
    assert int(m.group(2)) == int(config["admin"]["listen"].rpartition(":")[2])
    # Its bearer token is the admin token the container has.
    assert meta["authMode"] == "bearer"
    auth = the_doc(docs, "TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    ref = auth["spec"]["secretTargetRef"][0]
    assert ref["parameter"] == "token"
    admin_var = ENV_REF.search(config["admin"]["token"]).group(1)
    env = {e["name"]: e for e in containers["fnbridge"]["env"]}
    secret = env[admin_var]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == (secret["name"], secret["key"])


# ----------------------------------------------------------------- sd_notify


class NotifySocket:
    """A unix datagram socket fnbridge's NOTIFY_SOCKET names: a path in
    tmp_path, or an abstract name. Keeps every message with when it came."""

    def __init__(self, tmp_path, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"fnbridge-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = str(tmp_path / "notify.sock")
            self.sock.bind(path)
            self.env = path
        self.sock.setblocking(False)
        self.messages = []      # (monotonic time, text)

    def drain(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return self.messages
            self.messages.append((time.monotonic(), data.decode()))

    def wait(self, line, timeout, proc):
        """Waits for a message with this line; returns its index."""
        def found():
            if not proc.running():
                raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
            for i, (_, text) in enumerate(self.drain()):
                if line in text.split("\n"):
                    return i + 1
            return 0
        return wait_until(found, timeout * SLOW, f"{line} on NOTIFY_SOCKET") - 1

    def lines(self):
        return [line for _, text in self.drain() for line in text.split("\n")]

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    made = []

    def make(abstract=False):
        made.append(NotifySocket(tmp_path, abstract))
        return made[-1]
    yield make
    for n in made:
        n.close()


def bridge_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env.update(extra)
    return env


def start_mqtt_bridge(procs, tmp_path, broker, fn_url, env, name="fnbridge"):
    pipeline = mqtt_pipeline("sensors", broker.url, f"sd-{name}", fn_url)
    config = write_config(tmp_path / f"{name}.yaml", [pipeline], tmp_path / f"{name}-state")
    procs.logs.append((f"{name} config", config))
    return procs.start([FNBRIDGE, "run", "-c", config], name, env=env)


def test_ready_only_after_the_source_connected_then_stopping(procs, tmp_path, capture,
                                                             notify):
    fn = capture()
    sock = notify()
    broker = Mosquitto(procs)            # its port is chosen; not started yet
    bridge = start_mqtt_bridge(procs, tmp_path, broker, fn.url,
                               bridge_env(NOTIFY_SOCKET=sock.env))
    # It says what it waits for, and keeps failing to connect, not ready.
    sock.wait("STATUS=waiting for 1 of 1 source to connect: sensors (mqtt: starting)",
              20, bridge)
    wait_until(lambda: bridge.stderr().count("cannot connect to") >= 2, 20 * SLOW,
               "two failed connection attempts")
    assert "READY=1" not in sock.lines(), "ready while the broker is down"

    broker.start()
    i = sock.wait("READY=1", 60, bridge)
    # The source connected before READY=1 was sent (it logs first).
    assert "connected to mqtt://127.0.0.1" in bridge.stderr()
    assert "STATUS=running 1 pipeline, every source connected" in sock.messages[i][1]
    broker.wait_subscribed("sd-fnbridge", "sensors/#", proc=bridge)
    # Ready means messages flow.
    publish(broker.url, "sensors/a", 5, prefix="sd-")
    fn.wait_records(5, 30, proc=bridge)

    stop_cleanly(bridge)
    lines = sock.lines()
    assert "STOPPING=1" in lines
    assert lines.index("STOPPING=1") > lines.index("READY=1")
    assert lines.count("READY=1") == 1


def test_status_follows_a_broker_restart(procs, tmp_path, capture, notify, mosquitto):
    """After READY, a lost broker shows in STATUS, and its return too."""
    fn = capture()
    sock = notify()
    broker = mosquitto()
    bridge = start_mqtt_bridge(procs, tmp_path, broker, fn.url,
                               bridge_env(NOTIFY_SOCKET=sock.env))
    sock.wait("READY=1", 60, bridge)
    broker.stop()
    sock.wait("STATUS=running; waiting for 1 of 1 source to connect: sensors "
              "(mqtt: disconnected)", 60, bridge)
    broker.start()
    wait_until(lambda: sock.lines().count(
        "STATUS=running 1 pipeline, every source connected") >= 2, 60 * SLOW,
        "the status to say connected again")
    stop_cleanly(bridge)
    assert sock.lines().count("READY=1") == 1, "READY=1 is said once"


def test_abstract_notify_socket(procs, tmp_path, capture, notify, mosquitto):
    fn = capture()
    sock = notify(abstract=True)
    broker = mosquitto()
    bridge = start_mqtt_bridge(procs, tmp_path, broker, fn.url,
                               bridge_env(NOTIFY_SOCKET=sock.env))
    sock.wait("READY=1", 60, bridge)
    stop_cleanly(bridge)
    assert "STOPPING=1" in sock.lines()


def test_without_notify_socket_nothing_changes(procs, tmp_path, capture, notify, mosquitto):
    """No NOTIFY_SOCKET: it runs and delivers as ever, sends nothing (not
    even to a socket that exists) and says nothing of a service manager."""
    fn = capture()
    sock = notify()
    broker = mosquitto()
    bridge = start_mqtt_bridge(procs, tmp_path, broker, fn.url, bridge_env())
    broker.wait_subscribed("sd-fnbridge", "sensors/#", proc=bridge)
    publish(broker.url, "sensors/a", 3, prefix="plain-")
    fn.wait_records(3, 30, proc=bridge)
    stop_cleanly(bridge)
    assert sock.lines() == []
    assert "service manager" not in bridge.stderr()
    assert "watchdog" not in bridge.stderr()


def test_watchdog_pings_while_the_threads_turn(procs, tmp_path, capture, notify, mosquitto):
    """WATCHDOG_USEC=600000: a ping every 300 ms; WATCHDOG_PID of another
    process means the interval is not for fnbridge: no pings."""
    fn = capture()
    broker = mosquitto()
    sock = notify()
    bridge = start_mqtt_bridge(procs, tmp_path, broker, fn.url,
                               bridge_env(NOTIFY_SOCKET=sock.env, WATCHDOG_USEC="600000"))
    sock.wait("READY=1", 60, bridge)
    wait_until(lambda: sock.lines().count("WATCHDOG=1") >= 4, 30 * SLOW, "4 watchdog pings")
    stop_cleanly(bridge)

    other = notify(abstract=True)
    bridge = start_mqtt_bridge(procs, tmp_path, broker, fn.url,
                               bridge_env(NOTIFY_SOCKET=other.env, WATCHDOG_USEC="600000",
                                          WATCHDOG_PID="1"), name="fnbridge2")
    other.wait("READY=1", 60, bridge)
    # Not a synchronisation: the window in which five pings would be due.
    time.sleep(1.5)
    stop_cleanly(bridge)
    assert "WATCHDOG=1" not in other.lines()


def test_a_bad_notify_socket_is_ignored_with_a_warning(procs, tmp_path, capture, mosquitto):
    fn = capture()
    broker = mosquitto()
    bridge = start_mqtt_bridge(procs, tmp_path, broker, fn.url,
                               bridge_env(NOTIFY_SOCKET="relative/notify.sock"))
    broker.wait_subscribed("sd-fnbridge", "sensors/#", proc=bridge)
    publish(broker.url, "sensors/a", 2, prefix="bad-")
    fn.wait_records(2, 30, proc=bridge)
    stop_cleanly(bridge)
    assert re.search(r"level=warn .*NOTIFY_SOCKET 'relative/notify.sock' is neither",
                     bridge.stderr())


def test_readme_names_the_deploy_files_that_exist():
    """README: Deploying and Scale-out name files of deploy/; each exists,
    and each file of deploy/ is named there."""
    readme = (REPO / "README.md").read_text()
    named = set(re.findall(r"`(deploy/[A-Za-z0-9_./-]+)`", readme))
    assert named, "README names no deploy/ file"
    for path in named:
        assert (REPO / path).is_file(), f"README names {path}, which does not exist"
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert str(path.relative_to(REPO)) in named, f"README does not name {path}"


def test_readme_price_example_uses_the_metering_names():
    """The metering counters the README's price example reads are the
    names every helper shares (README: Operations)."""
    shared = {"fnbridge_function_requests_total",
              "fnbridge_function_billed_duration_seconds_total",
              "fnbridge_function_gigabyte_seconds_total", "fnbridge_function_errors_total",
              "fnbridge_function_throttles_total", "fnbridge_function_cold_starts_total",
              "fnbridge_function_init_duration_seconds_total",
              "fnbridge_function_concurrent_executions",
              "fnbridge_function_concurrent_executions_max",
              "fnbridge_function_memory_size_bytes"}
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Metering: the same work at Lambda's prices"):]
    section = section[:section.index("\n## ", 4)]
    used = set(re.findall(r"fnbridge_function_\w+", section))
    assert {"fnbridge_function_requests_total",
            "fnbridge_function_gigabyte_seconds_total"} <= used
    assert used <= shared, used - shared
    promql = re.search(r"```promql\n(.*?)```", section, re.S).group(1)
    assert "increase(fnbridge_function_requests_total[30d])" in promql
    assert "increase(fnbridge_function_gigabyte_seconds_total[30d])" in promql
