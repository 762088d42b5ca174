"""Who may use a worker slot's Lambda Runtime API (exec mode runtime-api):
only the worker process fnbridge started there and its descendants. Another
user's process, or a process of fnbridge's own user that is not the
worker's, is refused (403, then closed) on every route, is logged once
however often it tries, and changes nothing: the worker's own answer is
the one fnbridge takes and commits. Connections others hold open are
closed and cannot starve a cold start; a worker gets a few connections,
not any number.

The tests run as root (here and in CI); the other user is nobody, through
setpriv."""
import http.client
import json
import os
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from helpers import (PYTHON, SLOW, kafka_pipeline, produce, read_dlq, stop_cleanly,
                     wait_until)

TOPICS = {"guard-nobody": 1, "guard-same-uid": 1, "guard-child": 1, "guard-held": 1,
          "guard-greedy": 1}

# A Lambda custom runtime (standard library only, a new connection per
# call). Writes to $OUT: "spawns" (a line per process started) and, per
# process, "held RID IDS" for an event taken, "answered STATUS RID" for
# the status its /response got. HOLD=1: waits for the file $OUT/go-RID
# before answering. GREEDY=N: first opens N idle connections to its API
# and writes "greedy CLOSED" (how many of them the API closed), then
# closes them all.
RUNTIME = textwrap.dedent("""\
    #!/usr/bin/python3
    import json, os, select, socket, sys, time, urllib.error, urllib.request

    ADDR = os.environ["AWS_LAMBDA_RUNTIME_API"]
    API = "http://" + ADDR + "/2018-06-01/runtime"
    OUT = os.environ["OUT"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(path, body=None):
        req = urllib.request.Request(API + path, data=body)
        try:
            with opener.open(req) as resp:
                return resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def log(line, name=str(os.getpid())):
        with open(os.path.join(OUT, name), "a") as f:
            f.write(line + "\\n")

    def closed_by_server(socks, seconds):
        closed, deadline = set(), time.monotonic() + seconds
        while len(closed) < len(socks) and time.monotonic() < deadline:
            ready, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.1)
            for s in ready:
                try:
                    if not s.recv(1):
                        closed.add(s)
                except OSError:
                    closed.add(s)
        return len(closed)

    log(str(os.getpid()), name="spawns")
    greedy = int(os.environ.get("GREEDY", "0"))
    if greedy:
        host, port = ADDR.split(":")
        socks = [socket.create_connection((host, int(port))) for _ in range(greedy)]
        log(f"greedy {closed_by_server(socks, 5)}")
        for s in socks:
            s.close()
    while True:
        try:
            _, body, headers = call("/invocation/next")
        except OSError:
            sys.exit(0)
        rid = headers["Lambda-Runtime-Aws-Request-Id"]
        records = [r for b in json.loads(body)["records"].values() for r in b]
        ids = [f"{r['topic']}-{r['partition']}-{r['offset']}" for r in records]
        log("held " + rid + " " + " ".join(ids))
        if os.environ.get("HOLD"):
            go, deadline = os.path.join(OUT, "go-" + rid), time.monotonic() + 300
            while not os.path.exists(go) and time.monotonic() < deadline:
                time.sleep(0.02)
        status, _, _ = call(f"/invocation/{rid}/response", b'{"batchItemFailures": []}')
        log(f"answered {status} {rid}")
""")

# What another process tries on a worker's port: argv PORT RID LOOPS. Each
# route once, then LOOPS more GET /next, each on a new connection. Prints
# a JSON list of {"path", "status", "body"} or {"path", "error"}.
INTRUDER = textwrap.dedent("""\
    import http.client, json, sys
    port, rid, loops = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    error = json.dumps({"errorType": "Forged", "errorMessage": "forged"})
    tries = [("GET", "/invocation/next", None),
             ("POST", f"/invocation/{rid}/response", '{"batchItemFailures": [], "forged": 1}'),
             ("POST", f"/invocation/{rid}/error", error),
             ("POST", "/init/error", error)] + [("GET", "/invocation/next", None)] * loops
    results = []
    for method, path, body in tries:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            c.request(method, "/2018-06-01/runtime" + path, body=body)
            r = c.getresponse()
            results.append({"path": path, "status": r.status,
                            "body": r.read().decode(errors="replace")})
        except (OSError, http.client.HTTPException) as e:
            results.append({"path": path, "error": type(e).__name__})
        finally:
            c.close()
    print(json.dumps(results))
""")

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


# ------------------------------------------------------------------ helpers


class Out:
    """What the runtime's workers wrote into their OUT directory."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.mkdir()

    def spawns(self):
        f = self.path / "spawns"
        return [int(p) for p in f.read_text().split()] if f.exists() else []

    def lines(self, word):
        """The rest of every worker line that starts with word."""
        return [line.split(" ", 1)[1] for f in self.path.iterdir() if f.name.isdigit()
                for line in f.read_text().splitlines() if line.startswith(word + " ")]

    def held(self):
        """{request id: the record ids it carried}."""
        return dict(line.split(" ", 1) for line in self.lines("held"))

    def answered(self):
        """{request id: the status the worker's /response got}."""
        return {rid: int(status) for status, rid in
                (line.split() for line in self.lines("answered"))}


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def out(tmp_path):
    o = Out(tmp_path / "out")
    o.path.chmod(0o755)
    yield o
    for pid in o.spawns():
        if alive(pid):
            os.kill(pid, 9)


def function(tmp_path, out, command=None, env=None, **opts):
    runtime = tmp_path / "runtime.py"
    runtime.write_text(RUNTIME)
    runtime.chmod(0o755)
    return {"exec": {"command": command or [str(runtime)], "mode": "runtime-api",
                     "workers": 1, "timeout": "120s", "idle_timeout": "60s",
                     "env": {"OUT": str(out.path), **(env or {})}, **opts}}


def pipeline(name, kafka, group, fn, dlq):
    return kafka_pipeline(name, kafka, name, group, fn, dlq=dlq, concurrency=1,
                          batch={"max_records": 1, "max_wait": "20ms"},
                          retry={"max_attempts": 2, "backoff": {"initial": "10ms"}})


def api_port(pid):
    """The port of the slot worker pid was started on, from its environment."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    return int(env[b"AWS_LAMBDA_RUNTIME_API"].decode().rsplit(":", 1)[1])


def wait_held(out, bridge, count=1):
    def held():
        assert bridge.running(), f"fnbridge exited with {bridge.popen.returncode}"
        return len(out.held()) >= count and out.held()
    return wait_until(held, 60 * SLOW, f"{count} events taken by the worker")


def wait_answered(out, bridge, count=1):
    def answered():
        assert bridge.running(), f"fnbridge exited with {bridge.popen.returncode}"
        return len(out.answered()) >= count and out.answered()
    return wait_until(answered, 60 * SLOW, f"{count} events answered by the worker")


def intrude(port, rid, loops, as_nobody):
    argv = (AS_NOBODY if as_nobody else []) + [PYTHON, "-c", INTRUDER, str(port), rid,
                                               str(loops)]
    r = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=120 * SLOW)
    assert r.returncode == 0, f"the intruder failed: {r.stderr}"
    return json.loads(r.stdout)


def refused(result):
    """A 403 that says why, or a connection closed without an answer."""
    if "error" in result:
        return result["error"] in ("RemoteDisconnected", "ConnectionResetError",
                                   "BrokenPipeError")
    return result["status"] == 403 and "worker process" in result["body"]


def refusal_lines(bridge, uid):
    return [line for line in bridge.stderr().splitlines()
            if f"refused a connection from uid {uid}" in line]


def closed_by_server(socks, timeout, at_least=None):
    """Waits until the server closed at_least (default: every one) of the
    sockets; returns how many it did."""
    closed = set()
    want = len(socks) if at_least is None else at_least
    deadline = time.monotonic() + timeout
    while len(closed) < want and time.monotonic() < deadline:
        for s in socks:
            if s in closed:
                continue
            try:
                if not s.recv(1):
                    closed.add(s)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(s)
        time.sleep(0.05)
    return len(closed)


# -------------------------------------------------------------------- tests


@pytest.mark.parametrize("as_nobody", [True, False], ids=["other-user", "same-user"])
def test_intruder_is_refused_and_the_workers_own_answer_is_committed(
        kafka, bridges, group, tmp_path, out, as_nobody):
    """other-user: nobody, refused for its uid; same-user: a process of
    fnbridge's own user (root) that fnbridge did not start, refused for not
    being the worker or one of its descendants."""
    topic = "guard-nobody" if as_nobody else "guard-same-uid"
    dlq = tmp_path / "dlq.jsonl"
    first = produce(kafka, topic, 1)
    b = bridges.start([pipeline(topic, kafka, group, function(
        tmp_path, out, env={"HOLD": "1"}), dlq)])
    [(rid, ids)] = wait_held(out, b).items()
    assert ids.split() == sorted(first.ids)
    [worker] = out.spawns()

    results = intrude(api_port(worker), rid, 30, as_nobody)
    (out.path / f"go-{rid}").touch()
    answered = wait_answered(out, b)

    not_refused = [r for r in results if not refused(r)]
    assert not not_refused, f"served to a process that is not the worker: {not_refused}"
    assert answered == {rid: 202}, \
        f"the worker's own answer was not the one taken: {answered}"
    uid = 65534 if as_nobody else os.getuid()
    lines = refusal_lines(b, uid)
    assert len(lines) == 1, f"{len(results)} refusals of one peer logged as {lines}"
    why = "another user than the worker's" if as_nobody else "not from the worker process"
    assert why in lines[0], lines[0]
    assert all(r.get("status") == 403 for r in results[:4]), results[:4]

    # Committed: a fnbridge started again on the group takes up after it.
    stop_cleanly(b)
    assert read_dlq(dlq) == []
    second = produce(kafka, topic, 1)
    again = bridges.restart(b, "fnbridge-again")

    def next_answered():
        for held_rid in out.held():
            (out.path / f"go-{held_rid}").touch()
        return len(out.answered()) >= 2 or not again.running()
    wait_until(next_answered, 60 * SLOW, "the next record answered")
    stop_cleanly(again)
    carried = sorted(i for ids in out.held().values() for i in ids.split())
    assert carried == sorted(first.ids | second.ids), \
        f"records taken: {carried}; the first was not committed"


def test_a_descendant_of_the_worker_is_served(kafka, bridges, group, tmp_path, out):
    """The worker is a shell that runs the runtime as its child."""
    dlq = tmp_path / "dlq.jsonl"
    produced = produce(kafka, "guard-child", 3)
    runtime = tmp_path / "runtime.py"
    b = bridges.start([pipeline("guard-child", kafka, group, function(
        tmp_path, out, command=["/bin/sh", "-c", f"{runtime}; exit $?"]), dlq)])
    answered = wait_answered(out, b, 3)
    [child] = out.spawns()
    with open(f"/proc/{child}/stat") as f:
        parent = int(f.read().rsplit(")", 1)[1].split()[1])
    with open(f"/proc/{parent}/cmdline", "rb") as f:
        assert f.read().startswith(b"/bin/sh\0"), "the runtime is not the shell's child"
    stop_cleanly(b)
    assert set(answered.values()) == {202}
    assert sorted(i for ids in out.held().values() for i in ids.split()) == \
        sorted(produced.ids)
    assert "refused a connection" not in b.stderr()


def test_held_connections_do_not_starve_cold_starts(kafka, bridges, group, tmp_path, out):
    """32 connections held open by this test (not the worker) while the
    slot is empty, then a cold start: it succeeds, and the server closes
    every held connection (over the cap at once, the rest when they time
    out without a request)."""
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([pipeline("guard-held", kafka, group, function(
        tmp_path, out, idle_timeout="1s"), dlq)])
    produce(kafka, "guard-held", 1)
    wait_answered(out, b)
    [first] = out.spawns()
    port = api_port(first)
    wait_until(lambda: not alive(first), 30 * SLOW, "the idle worker to stop")

    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    try:
        for s in held:
            s.setblocking(False)
        # Those past the cap are closed as they are accepted: once they
        # are, the server has seen all 32 (so they are judged while the
        # slot is empty).
        early = closed_by_server(held, 20 * SLOW, at_least=len(held) - 4)
        produce(kafka, "guard-held", 1)
        answered = wait_answered(out, b, 2)
        closed = closed_by_server(held, 20 * SLOW)
    finally:
        for s in held:
            s.close()
    stop_cleanly(b)
    assert set(answered.values()) == {202}
    assert len(out.spawns()) == 2, f"workers started: {out.spawns()}"
    assert read_dlq(dlq) == [], "a cold start failed"
    assert early >= len(held) - 4, f"only {early} held connections closed at once"
    assert closed == len(held), f"{len(held) - closed} held connections still open"
    assert len(refusal_lines(b, os.getuid())) == 1


def test_a_worker_gets_a_few_connections_not_any_number(
        kafka, bridges, group, tmp_path, out):
    """A worker that opens 24 idle connections: the ones past its cap (16) are
    closed at once, and once it lets go of them it is served as usual."""
    dlq = tmp_path / "dlq.jsonl"
    produced = produce(kafka, "guard-greedy", 2)
    b = bridges.start([pipeline("guard-greedy", kafka, group, function(
        tmp_path, out, env={"GREEDY": "24"}), dlq)])
    answered = wait_answered(out, b, 2)
    stop_cleanly(b)
    [closed] = out.lines("greedy")
    assert 8 <= int(closed) < 24, f"the API closed {closed} of 24 idle connections"
    assert set(answered.values()) == {202}
    assert sorted(i for ids in out.held().values() for i in ids.split()) == \
        sorted(produced.ids)
    assert "opened more than 16 connections" in b.stderr()
