"""Small helpers for fnbridge's end-to-end tests.

Every process is started in its own process group with stdout and stderr
written to files (never pipes that could fill up); every wait polls a
condition with a deadline.
"""
import base64
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FNBRIDGE = os.environ.get("FNBRIDGE") or str(REPO / "build" / "fnbridge")
TOOLS = Path(os.environ.get("TOOLS") or REPO / "build" / "tools")
PYTHON = "/usr/bin/python3"

# Deadlines are for failures only: an ASan build is several times slower.
SLOW = 4 if ("ASAN" in os.environ or "asan" in FNBRIDGE) else 1


def tool(name):
    return str(TOOLS / name)


def wait_until(cond, timeout, what, interval=0.05):
    """Polls cond() until it returns something true; fails after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port():
    """A port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=150):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError as e:
        return f"<{e}>"
    return "\n".join(text[-lines:])


# ----------------------------------------------------------------- processes


class Proc:
    """A child process in its own process group, output in files."""

    def __init__(self, argv, workdir, name, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.out_path = Path(workdir) / f"{name}.out"
        self.err_path = Path(workdir) / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True, env=env)
        self.pid = self.popen.pid

    def running(self):
        return self.popen.poll() is None

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def wait_line(self, pattern, timeout):
        """Waits for a stdout line matching pattern; returns the match."""
        rx = re.compile(pattern, re.M)

        def found():
            m = rx.search(self.out_path.read_text(errors="replace"))
            if not m and not self.running():
                raise AssertionError(
                    f"{self.name} exited with {self.popen.returncode} before "
                    f"printing /{pattern}/; stderr:\n{tail(self.err_path)}")
            return m
        return wait_until(found, timeout, f"{self.name} to print /{pattern}/")

    def signal(self, sig):
        """Signals the process itself (not its group)."""
        if self.running():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code (negative: killed by signal)."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running after {timeout:.0f} s; stderr:\n"
                f"{tail(self.err_path)}") from None

    def kill(self):
        """SIGKILL to the whole process group, then reap."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(30)

    def cleanup(self):
        """Teardown: SIGTERM the group, SIGKILL it if it lingers."""
        if self.running():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
        # Also whatever is left of the group once the leader is gone.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.running():
            self.popen.wait(30)


class Procs:
    """Every process a test (or a module) started; cleaned up together."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.all = []
        self.logs = []          # (label, path) shown when a test fails

    def start(self, argv, name, env=None):
        p = Proc(argv, self.workdir, name, env)
        self.all.append(p)
        self.logs.append((f"{name} stderr", p.err_path))
        return p

    def cleanup(self):
        for p in reversed(self.all):
            p.cleanup()


# ---------------------------------------------------------------- mock kafka


class MockKafka:
    def __init__(self, procs, topics, brokers=3):
        argv = [tool("mock_kafka"), "--brokers", brokers]
        for name, partitions in topics.items():
            argv += ["--topic", f"{name}:{partitions}"]
        self.proc = procs.start(argv, "mock_kafka")
        self.bootstrap = self.proc.wait_line(r"^BOOTSTRAP (\S+)$", 30 * SLOW).group(1)
        self.topics = dict(topics)


class ControlledKafka(Proc):
    """mock_kafka with --stdin-control: brokers go down and up on command."""

    def __init__(self, procs, topics, brokers):
        self.n_brokers = brokers
        self.answers = 0
        argv = [tool("mock_kafka"), "--brokers", brokers, "--stdin-control"]
        for name, partitions in topics.items():
            argv += ["--topic", f"{name}:{partitions}"]
        self.name = "mock_kafka_ctl"
        self.argv = [str(a) for a in argv]
        self.out_path = procs.workdir / "mock_kafka_ctl.out"
        self.err_path = procs.workdir / "mock_kafka_ctl.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=out,
                                          stderr=err, start_new_session=True)
        self.pid = self.popen.pid
        procs.all.append(self)
        procs.logs.append(("mock_kafka_ctl stderr", self.err_path))
        self.bootstrap = self.wait_line(r"^BOOTSTRAP (\S+)$", 30 * SLOW).group(1)

    def command(self, line):
        self.popen.stdin.write((line + "\n").encode())
        self.popen.stdin.flush()
        self.answers += 1
        want = self.answers

        def answered():
            lines = re.findall(r"^(ok|error.*)$", self.out_path.read_text(), re.M)
            return lines[want - 1] if len(lines) >= want else None
        answer = wait_until(answered, 10 * SLOW, f"mock_kafka to answer {line!r}")
        assert answer == "ok", f"{line}: {answer}"

    def all_brokers(self, state):
        for broker in range(1, self.n_brokers + 1):
            self.command(f"broker-{state} {broker}")


class Produced:
    """What kproduce reported: offset ranges per partition of one topic."""

    def __init__(self, topic, ranges):
        self.topic = topic
        self.ranges = ranges    # {partition: (first, last)}

    @property
    def ids(self):
        return {f"{self.topic}-{p}-{o}"
                for p, (a, b) in self.ranges.items() for o in range(a, b + 1)}

    @property
    def count(self):
        return sum(b - a + 1 for a, b in self.ranges.values())


def produce(kafka, topic, count, *args, workdir=None):
    """Runs kproduce to completion; returns a Produced."""
    argv = [tool("kproduce"), "--bootstrap", kafka.bootstrap, "--topic", topic,
            "--count", str(count)] + [str(a) for a in args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120 * SLOW,
                       start_new_session=True)
    assert r.returncode == 0, f"kproduce failed ({r.returncode}): {r.stderr}"
    line = next(l for l in r.stdout.splitlines() if l.startswith("PRODUCED "))
    ranges = {int(p): (int(a), int(b))
              for p, a, b in re.findall(r"p(\d+)=(\d+)\.\.(\d+)", line)}
    produced = Produced(topic, ranges)
    assert produced.count == count, f"kproduce reported {line!r}"
    return produced


def split_id(rid):
    """'<topic>-<partition>-<offset>' -> (topic, partition, offset)."""
    topic, p, o = rid.rsplit("-", 2)
    return topic, int(p), int(o)


# ----------------------------------------------------------------- fn_server


class FnLog:
    """fn_server's log ("<status> <id>" per record), read incrementally.
    Each entry also carries the monotonic time this reader first saw it."""

    def __init__(self, path):
        self.path = Path(path)
        self.pos = 0
        self.entries = []       # (status, id, seen_at)
        self.ok = set()         # ids seen with status 200
        self.seen = {}          # id -> number of times received

    def refresh(self):
        lines, self.pos = new_lines(self.path, self.pos)
        now = time.monotonic()
        for line in lines:
            status, rid = line.split(" ", 1)
            status = int(status)
            self.entries.append((status, rid, now))
            self.seen[rid] = self.seen.get(rid, 0) + 1
            if status == 200:
                self.ok.add(rid)
        return self

    def statuses(self):
        return {s for s, _, _ in self.entries}

    def wait_delivered(self, ids, timeout, proc=None, interval=0.1):
        """Waits until every id in ids has been answered 200 (and fails at
        once if proc, the fnbridge process, exits meanwhile)."""
        ids = set(ids)

        def done():
            if proc is not None and not proc.running():
                raise AssertionError(f"{proc.name} exited early with "
                                     f"{proc.popen.returncode}")
            return ids <= self.refresh().ok
        try:
            wait_until(done, timeout, f"{len(ids)} records delivered", interval)
        except AssertionError as e:
            missing = ids - self.ok
            raise AssertionError(f"{e}: {len(missing)} missing, e.g. "
                                 f"{sorted(missing)[:5]}") from None


class FnServer:
    """fn_server on a free port, or on port (the port a function that was
    stopped had, so fnbridge finds its successor at the same URL)."""

    def __init__(self, procs, name, *args, port=0):
        self.log_path = procs.workdir / f"{name}.log"
        self.proc = procs.start([tool("fn_server"), "--port", str(port),
                                 "--log", self.log_path] + list(args), name)
        self.port = int(self.proc.wait_line(r"^PORT (\d+)$", 30 * SLOW).group(1))
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = FnLog(self.log_path)


# ------------------------------------------------------------------ fnbridge


def kafka_pipeline(name, kafka, topic, group, function, dlq=None, **extra):
    """One pipeline as a dict; extra keys are merged over the defaults."""
    pipeline = {
        "name": name,
        "source": {"kafka": {
            "brokers": kafka.bootstrap, "topics": [topic], "group_id": group,
            "start": "earliest",
            "librdkafka": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
        }},
        "batch": {"max_records": 100, "max_wait": "50ms"},
        "function": function,
        "concurrency": 8,
        "retry": {"max_attempts": 3, "backoff": {"initial": "10ms", "max": "200ms"},
                  "bisect_on_error": True},
    }
    return with_extra(pipeline, dlq, extra)


def with_extra(pipeline, dlq, extra):
    """Adds the dead-letter file and merges extra keys over the pipeline's
    (one level deep for mappings)."""
    if dlq:
        pipeline["dead_letter"] = {"file": {"path": str(dlq)}}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(pipeline.get(key), dict):
            pipeline[key] = {**pipeline[key], **value}
        else:
            pipeline[key] = value
    return pipeline


def http_function(url, **opts):
    return {"http": {"url": url, "format": "lambda", "timeout": "5s", **opts}}


def write_config(path, pipelines, state_dir, shutdown_timeout="10s", log_level="info",
                 admin=None):
    """Writes a config (JSON, which is valid YAML) and returns its path;
    admin is the admin section, if any."""
    config = {"state_dir": str(state_dir), "log": {"level": log_level},
              "shutdown_timeout": shutdown_timeout, "pipelines": pipelines}
    if admin:
        config["admin"] = admin
    Path(path).write_text(json.dumps(config, indent=2) + "\n")
    return Path(path)


def start_bridge(procs, config_path, name="fnbridge"):
    return procs.start([FNBRIDGE, "run", "-c", config_path], name)


def stop_bridge(bridge, timeout):
    """SIGTERM, then the exit code and how long the stop took."""
    t0 = time.monotonic()
    bridge.signal(signal.SIGTERM)
    rc = bridge.wait(timeout)
    return rc, time.monotonic() - t0


def stop_cleanly(bridge, timeout=30):
    """SIGTERM and assert a clean exit (an ASan finding makes it non-zero)."""
    rc, took = stop_bridge(bridge, timeout * SLOW)
    assert rc == 0, f"fnbridge exited with {rc} after SIGTERM"
    return took


def run_fnbridge(*args, timeout=30, input=None):
    """Runs a short fnbridge command (check, help, invoke, ...) to completion.
    Under ASan an exit status cannot tell a finding from a failure the test
    expects (both are 1), so a sanitizer report fails the test here."""
    r = subprocess.run([FNBRIDGE] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout * SLOW, input=input,
                       stdin=None if input is not None else subprocess.DEVNULL)
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr[-4000:]
    return r


# --------------------------------------------------------------- dead letter


def new_lines(path, pos):
    """The whole lines a file gained past byte pos (one still being written
    is left for the next call), and the position after them."""
    try:
        with open(path, "rb") as f:
            f.seek(pos)
            data = f.read()
    except FileNotFoundError:
        return [], pos
    end = data.rfind(b"\n") + 1
    return data[:end].decode().splitlines(), pos + end


def read_dlq(path):
    """The dead-letter file's whole lines (one being written, not yet ended
    by its newline, is left for the next read)."""
    path = Path(path)
    if not path.exists():
        return []
    whole = path.read_text().split("\n")[:-1]
    return [json.loads(line) for line in whole if line.strip()]


def event_records(event):
    """The records of an event as sent: lambda (Kafka) or json format."""
    records = event["records"]
    if isinstance(records, dict):
        return [r for batch in records.values() for r in batch]
    return records


def event_ids(event):
    return [f"{r['topic']}-{r['partition']}-{r['offset']}" for r in event_records(event)]


def dlq_ids(entries):
    return [rid for e in entries for rid in event_ids(e["payload"])]


def b64(data):
    return base64.b64encode(data).decode()


def signed_bytes(data):
    return [b - 256 if b > 127 else b for b in data]
