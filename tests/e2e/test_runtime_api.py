"""The exec target in mode runtime-api (README: Function exec): fnbridge serves
the AWS Lambda Runtime API on 127.0.0.1 to warm worker processes it starts
on demand, stops when idle and replaces when they die.

Most tests run RUNTIME below, a custom runtime whose behaviour the
pipeline's env map chooses; the last ones run the example runtimes of
config/examples/runtime unchanged."""
import json
import os
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from helpers import (FNBRIDGE, REPO, SLOW, dlq_ids, event_ids, kafka_pipeline,
                     produce, read_dlq, stop_cleanly, wait_until, write_config)

EXAMPLES = REPO / "config" / "examples" / "runtime"

TOPICS = {
    "rt-many": 4, "rt-kill": 1, "rt-idle": 1, "rt-hang": 1, "rt-error": 1,
    "rt-env-cwd": 1, "rt-env-nocwd": 1, "rt-partial": 1,
    "rt-ex-bootstrap": 1, "rt-ex-bootstrap.py": 1,
    "rt-exfail-bootstrap": 1, "rt-exfail-bootstrap.py": 1,
    "rt-init-error": 1, "rt-exit": 1, "rt-ex-init-error": 1, "rt-stall": 1,
}

# A Lambda custom runtime speaking only the documented Runtime API. Its
# environment (the exec target's env map) sets what it does:
#   OUT   directory it writes to: "spawns" (a line per process started),
#         "<pid>" per worker: "seen ID" when an invocation carries record
#         ID, "ok ID" once the response naming ID a success was accepted,
#         "bad WHAT" for a malformed invocation; "env-<pid>.json" in MODE env
#   MODE  ok | kill (SIGKILL itself on MARK's first attempt) | hang (never
#         answer MARK) | error (POST /error for MARK) | partial (name MARK in
#         batchItemFailures) | stall (answer MARK, then never ask for the
#         next event) | env (also dump its environment) | init-error
#         (POST /init/error and exit 1) | exit (exit 1 at once)
#   MARK  the record id the MODE applies to
#   TIMEOUT_MS  the target's timeout: Lambda-Runtime-Deadline-Ms is checked
RUNTIME = textwrap.dedent("""\
    #!/usr/bin/python3
    import json, os, signal, sys, time, urllib.request

    API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
    OUT = os.environ["OUT"]
    MODE = os.environ.get("MODE", "ok")
    MARK = os.environ.get("MARK", "")
    TIMEOUT_MS = int(os.environ.get("TIMEOUT_MS", "0"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(path, body=None, headers={}):
        req = urllib.request.Request(API + path, data=body, headers=headers)
        with opener.open(req) as resp:
            return resp.status, resp.read(), resp.headers

    def log(*lines, name=str(os.getpid())):
        with open(os.path.join(OUT, name), "a") as f:
            f.write("".join(line + "\\n" for line in lines))

    def error(path, message, kind):
        call(path, json.dumps({"errorMessage": message, "errorType": kind}).encode(),
             {"Lambda-Runtime-Function-Error-Type": kind})

    log(str(os.getpid()), name="spawns")
    if MODE == "env":
        with open("/proc/self/environ", "rb") as f:    # exactly what exec got
            env = dict(kv.decode().split("=", 1) for kv in f.read().split(b"\\0") if kv)
        with open(os.path.join(OUT, f"env-{os.getpid()}.json"), "w") as f:
            json.dump({"environ": env, "cwd": os.getcwd()}, f)
    if MODE == "exit":
        sys.exit(1)
    if MODE == "init-error":
        error("/init/error", "cannot load the handler", "Runtime.ImportModuleError")
        sys.exit(1)

    seen_requests = set()
    while True:
        try:
            _, body, headers = call("/invocation/next")
        except OSError:
            sys.exit(0)
        rid = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        deadline = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        left = deadline - time.time() * 1000
        if not rid or rid in seen_requests:
            log(f"bad request id {rid!r}")
        seen_requests.add(rid)
        if not headers.get("Lambda-Runtime-Invoked-Function-Arn"):
            log("bad no Lambda-Runtime-Invoked-Function-Arn")
        if TIMEOUT_MS and not 0 < left <= TIMEOUT_MS + 1000:
            log(f"bad deadline {deadline}: {left:.0f} ms left")
        records = [r for batch in json.loads(body)["records"].values() for r in batch]
        ids = [f"{r['topic']}-{r['partition']}-{r['offset']}" for r in records]
        log(*[f"seen {i}" for i in ids])
        failed = set()
        if MARK in ids:
            if MODE == "kill" and not os.path.exists(os.path.join(OUT, "killed")):
                log(str(os.getpid()), name="killed")
                os.kill(os.getpid(), signal.SIGKILL)
            if MODE == "hang":
                log(str(os.getpid()), name="hung")
                time.sleep(3600)
            if MODE == "error":
                error(f"/invocation/{rid}/error", f"record {MARK} failed", "MarkedError")
                continue
            if MODE == "partial":
                failed = {MARK}
        status, _, _ = call(f"/invocation/{rid}/response", json.dumps({
            "batchItemFailures": [{"itemIdentifier": {
                "partition": f"{r['topic']}-{r['partition']}", "offset": r["offset"]}}
                for r, i in zip(records, ids) if i in failed]}).encode())
        if 200 <= status < 300:
            log(*[f"ok {i}" for i in ids if i not in failed])
        if MODE == "stall" and MARK in ids:
            log(str(os.getpid()), name="stalled")
            time.sleep(3600)
""")


# ------------------------------------------------------------------ helpers


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Out:
    """What the runtime's workers wrote into their OUT directory."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.mkdir()

    def pids(self, name):
        """Pids listed in file name ("spawns", "killed", "hung"), in order."""
        f = self.path / name
        return [int(p) for p in f.read_text().split()] if f.exists() else []

    def lines(self):
        """(pid, line) of every worker's log."""
        return [(int(f.name), line) for f in self.path.iterdir() if f.name.isdigit()
                for line in f.read_text().splitlines()]

    def ids(self, kind):
        """{id: how many times} for the lines "<kind> <id>"."""
        counts = {}
        for _, line in self.lines():
            word, _, rid = line.partition(" ")
            if word == kind:
                counts[rid] = counts.get(rid, 0) + 1
        return counts

    def ok_pids(self):
        """{id: pid of the worker that answered it last}."""
        return {line[3:]: pid for pid, line in self.lines() if line.startswith("ok ")}

    def bad(self):
        return [line for _, line in self.lines() if line.startswith("bad ")]

    def env(self):
        return [json.loads(f.read_text()) for f in self.path.glob("env-*.json")]


@pytest.fixture
def out(tmp_path):
    """The runtime's OUT directory; workers it lists as started that are
    still alive at teardown are killed (and reported by the tests)."""
    o = Out(tmp_path / "out")
    yield o
    for pid in o.pids("spawns"):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def runtime_function(tmp_path, out, mode="ok", mark="", workers=1, timeout="10s",
                     idle_timeout="60s", env=None, **opts):
    """The exec runtime-api target running RUNTIME."""
    runtime = tmp_path / "runtime.py"
    runtime.write_text(RUNTIME)
    runtime.chmod(0o755)
    return {"exec": {
        "command": [str(runtime)], "mode": "runtime-api", "workers": workers,
        "timeout": timeout, "idle_timeout": idle_timeout,
        "env": {"OUT": str(out.path), "MODE": mode, "MARK": mark, **(env or {})},
        **opts}}


def pipeline(name, kafka, group, function, dlq, **extra):
    """Pipeline name reads topic name; batches of one record unless told."""
    extra.setdefault("batch", {"max_records": 1, "max_wait": "20ms"})
    return kafka_pipeline(name, kafka, name, group, function, dlq=dlq, **extra)


def start_with_env(bridges, pipelines, env, name="fnbridge"):
    """Like bridges.start, with fnbridge's whole environment given (plus the
    sanitizers' options, if any: they must not reach workers either)."""
    env = {**{k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")}, **env}
    config = write_config(bridges.workdir / f"{name}.yaml", pipelines,
                          bridges.workdir / f"{name}-state")
    bridges.procs.logs.append((f"{name} config", config))
    proc = bridges.procs.start([FNBRIDGE, "run", "-c", config], name, env=env)
    proc.env = env
    return proc


def wait_ok(out, ids, bridge, timeout=60):
    """Waits until every id was answered with success (fails at once if
    fnbridge exits)."""
    ids = set(ids)

    def done():
        assert bridge.running(), f"fnbridge exited with {bridge.popen.returncode}"
        return ids <= set(out.ids("ok"))
    try:
        wait_until(done, timeout * SLOW, f"{len(ids)} records answered", 0.1)
    except AssertionError as e:
        missing = sorted(ids - set(out.ids("ok")))
        raise AssertionError(f"{e}: {len(missing)} missing, e.g. {missing[:5]}") from None


def wait_dlq(dlq, bridge, count=1, timeout=60):
    wait_until(lambda: len(dlq_ids(read_dlq(dlq))) >= count or not bridge.running(),
               timeout * SLOW, f"{count} dead-lettered records")
    assert bridge.running(), f"fnbridge exited with {bridge.popen.returncode}"
    return read_dlq(dlq)


def assert_gone(pids, timeout=10):
    wait_until(lambda: not any(alive(p) for p in pids), timeout * SLOW,
               f"workers {[p for p in pids if alive(p)]} to be gone")


# -------------------------------------------------------------------- tests


def test_1000_events_through_4_warm_workers_are_all_answered(
        kafka, bridges, group, tmp_path, out):
    produced = produce(kafka, "rt-many", 1000, "--partitions", 4)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([pipeline("rt-many", kafka, group, runtime_function(
        tmp_path, out, workers=4, timeout="10s", env={"TIMEOUT_MS": "10000"}), dlq)])

    wait_ok(out, produced.ids, b)
    stop_cleanly(b)

    assert out.bad() == []
    assert set(out.ids("ok")) == produced.ids
    assert set(out.ids("seen").values()) == {1}, "an event was invoked twice"
    assert read_dlq(dlq) == []
    spawns = out.pids("spawns")
    served = set(out.ok_pids().values())
    assert 1 < len(served) <= 4, f"events served by workers {served}"
    assert len(spawns) <= 4, f"{len(spawns)} workers started for workers: 4 (none died)"
    assert_gone(spawns)     # stopping fnbridge stops its workers


def test_worker_killed_mid_invocation_is_replaced_and_the_record_retried(
        kafka, bridges, group, tmp_path, out):
    produced = produce(kafka, "rt-kill", 20)
    mark = "rt-kill-0-5"
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([pipeline("rt-kill", kafka, group, runtime_function(
        tmp_path, out, mode="kill", mark=mark, workers=2), dlq)])

    wait_ok(out, produced.ids, b)
    stop_cleanly(b)

    killed = out.pids("killed")
    assert len(killed) == 1, "the worker did not kill itself on the marked record"
    assert not alive(killed[0])
    assert out.ids("seen")[mark] == 2, "the record was not invoked again"
    assert out.ok_pids()[mark] != killed[0]
    assert read_dlq(dlq) == []
    assert_gone(out.pids("spawns"))


def test_idle_worker_stops_after_idle_timeout_and_the_next_event_cold_starts_one(
        kafka, bridges, group, tmp_path, out):
    idle = 2.0
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([pipeline("rt-idle", kafka, group, runtime_function(
        tmp_path, out, workers=1, idle_timeout=f"{idle:.0f}s"), dlq)])

    first = produce(kafka, "rt-idle", 1)
    wait_ok(out, first.ids, b)
    second = produce(kafka, "rt-idle", 1)
    wait_ok(out, second.ids, b)
    answered = time.monotonic()
    warm = out.pids("spawns")
    assert len(warm) == 1, f"a warm worker should serve both events, started {warm}"

    assert_gone(warm, timeout=idle + 10)
    assert time.monotonic() - answered >= idle * 0.75, "the worker stopped before idle_timeout"

    third = produce(kafka, "rt-idle", 1)
    wait_ok(out, third.ids, b)
    stop_cleanly(b)
    spawns = out.pids("spawns")
    assert len(spawns) == 2 and spawns[1] != warm[0], f"no cold start: {spawns}"
    assert out.ok_pids()[next(iter(third.ids))] == spawns[1]
    assert read_dlq(dlq) == []


def test_worker_that_answers_but_never_asks_again_is_stopped_after_idle_timeout(
        kafka, bridges, group, tmp_path, out):
    """Its slot would otherwise be held for good: no deadline runs once it
    answered, and it never parks in /next where idle_timeout was counted."""
    idle = 1.0
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([pipeline("rt-stall", kafka, group, runtime_function(
        tmp_path, out, mode="stall", mark="rt-stall-0-0", workers=1,
        idle_timeout=f"{idle:.0f}s"), dlq)])
    first = produce(kafka, "rt-stall", 1)
    wait_ok(out, first.ids, b)
    stalled = out.pids("stalled")
    assert_gone(stalled, timeout=idle + 10)
    second = produce(kafka, "rt-stall", 1)          # the one slot is free again
    wait_ok(out, second.ids, b)
    stop_cleanly(b)
    assert len(out.pids("spawns")) == 2
    assert read_dlq(dlq) == []


def test_handler_that_never_answers_is_killed_at_its_deadline(
        kafka, bridges, group, tmp_path, out):
    produced = produce(kafka, "rt-hang", 2)
    mark = "rt-hang-0-0"
    dlq = tmp_path / "dlq.jsonl"
    t0 = time.monotonic()
    b = bridges.start([pipeline("rt-hang", kafka, group, runtime_function(
        tmp_path, out, mode="hang", mark=mark, timeout="1s"), dlq,
        retry={"max_attempts": 2})])

    entries = wait_dlq(dlq, b)
    wait_ok(out, produced.ids - {mark}, b)      # a fresh worker takes over
    took = time.monotonic() - t0
    stop_cleanly(b)

    assert dlq_ids(entries) == [mark]
    ctx = entries[0]["requestContext"]
    assert ctx["condition"] == "RetryAttemptsExhausted"
    assert ctx["approximateInvokeCount"] == 2
    assert "timed out" in (entries[0]["responseContext"]["functionError"] or "").lower()
    hung = out.pids("hung")
    assert len(hung) == 2, f"expected a hung worker per attempt, got {hung}"
    assert not any(alive(p) for p in hung), "a worker outlived its deadline"
    assert took < 30 * SLOW, f"two 1 s deadlines took {took:.1f} s"


def test_error_posted_by_the_function_is_retried_then_dead_lettered(
        kafka, bridges, group, tmp_path, out):
    produced = produce(kafka, "rt-error", 10)
    mark = "rt-error-0-3"
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([pipeline("rt-error", kafka, group, runtime_function(
        tmp_path, out, mode="error", mark=mark), dlq, retry={"max_attempts": 3})])

    entries = wait_dlq(dlq, b)
    wait_ok(out, produced.ids - {mark}, b)
    stop_cleanly(b)

    assert dlq_ids(entries) == [mark]
    ctx = entries[0]["requestContext"]
    assert ctx["condition"] == "RetryAttemptsExhausted"
    assert ctx["approximateInvokeCount"] == 3
    assert out.ids("seen")[mark] == 3
    function_error = entries[0]["responseContext"]["functionError"] or ""
    assert "MarkedError" in function_error or f"record {mark} failed" in function_error, \
        f"functionError {function_error!r} does not name the function's error"
    assert mark not in out.ids("ok")
    assert len(out.pids("spawns")) == 1, "a posted error should not cost the worker"


@pytest.mark.parametrize("cwd", [True, False], ids=["cwd", "no-cwd"])
def test_workers_get_the_lambda_environment_and_nothing_of_fnbridges(
        kafka, bridges, group, tmp_path, out, cwd):
    topic = "rt-env-cwd" if cwd else "rt-env-nocwd"
    produced = produce(kafka, topic, 1)
    root = tmp_path / "task"
    root.mkdir()
    dlq = tmp_path / "dlq.jsonl"
    function = runtime_function(tmp_path, out, mode="env", handler="app.main",
                                memory_size=256, env={"TABLE": "orders"})
    if cwd:
        function["exec"]["cwd"] = str(root)
    fnbridge_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "FNB_SECRET": "xyz",
                    "HOME": str(tmp_path), "AWS_SECRET_ACCESS_KEY": "not-for-functions",
                    "LANG": "POSIX"}
    b = start_with_env(bridges, [pipeline(topic, kafka, group, function, dlq)],
                       fnbridge_env)

    wait_ok(out, produced.ids, b)
    stop_cleanly(b)

    [seen] = out.env()
    env = seen["environ"]
    # LANG is the worker's own (Lambda's default), not fnbridge's
    leaked = {k for k, v in b.env.items() if env.get(k) == v} - {"PATH"}
    assert not leaked, f"fnbridge's environment leaked into the worker: {sorted(leaked)}"
    assert env["PATH"] == fnbridge_env["PATH"]
    assert env["TABLE"] == "orders" and env["OUT"] == str(out.path)
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert env["_HANDLER"] == "app.main"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == topic       # the pipeline's name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"]
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["LANG"] in ("en_US.UTF-8", "C.UTF-8") and env["TZ"] == ":UTC"
    task_root = root if cwd else tmp_path       # else the command's directory
    assert env["LAMBDA_TASK_ROOT"] == str(task_root)
    if cwd:
        assert seen["cwd"] == str(root)


def test_batch_item_failures_retry_only_the_named_record(
        kafka, bridges, group, tmp_path, out):
    produced = produce(kafka, "rt-partial", 50)
    mark = "rt-partial-0-20"
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([pipeline("rt-partial", kafka, group, runtime_function(
        tmp_path, out, mode="partial", mark=mark), dlq,
        batch={"max_records": 100, "max_wait": "300ms"}, retry={"max_attempts": 3})])

    entries = wait_dlq(dlq, b)
    wait_ok(out, produced.ids - {mark}, b)
    stop_cleanly(b)

    seen = out.ids("seen")
    assert seen[mark] >= 2, "the record named in batchItemFailures was not retried"
    before = {f"rt-partial-0-{o}": seen[f"rt-partial-0-{o}"] for o in range(20)}
    assert set(before.values()) == {1}, f"records before the failed one redelivered: {before}"
    assert mark not in out.ids("ok")
    assert dlq_ids(entries) == [mark]


@pytest.mark.parametrize("bootstrap", ["bootstrap", "bootstrap.py"])
def test_example_runtime_delivers_events(kafka, bridges, group, tmp_path, bootstrap):
    """config/examples/runtime, unchanged: the shell runtime appends each
    event to $RESULTS; the Python one a line per record, and names records
    whose value is not JSON in batchItemFailures."""
    topic = f"rt-ex-{bootstrap}"
    produced = produce(kafka, topic, 30)
    text = produce(kafka, topic, 1, "--no-value-json", "--start-seq", 30)
    [not_json] = text.ids
    results = tmp_path / "results.txt"
    dlq = tmp_path / "dlq.jsonl"
    function = {"exec": {"command": [f"./{bootstrap}"], "mode": "runtime-api",
                         "cwd": str(EXAMPLES), "handler": "function.handler",
                         "workers": 2, "timeout": "10s", "env": {"RESULTS": str(results)}}}
    # PATH as a user's: python3 and curl found there (#!/usr/bin/env python3)
    b = start_with_env(bridges, [pipeline(topic, kafka, group, function, dlq,
                                          batch={"max_records": 10, "max_wait": "50ms"},
                                          retry={"max_attempts": 2})],
                       {"PATH": "/usr/bin:/bin"})

    def delivered():
        if not results.exists():
            return set()
        lines = results.read_text().splitlines()
        if bootstrap == "bootstrap":
            return {i for line in lines for i in event_ids(json.loads(line))}
        return {line.split(" ", 1)[0] for line in lines}

    def done():
        assert b.running(), f"fnbridge exited with {b.popen.returncode}"
        if bootstrap == "bootstrap":       # every event at the shell handler
            return delivered() >= produced.ids | text.ids
        # every JSON record handled, the other one dead-lettered
        return delivered() >= produced.ids and read_dlq(dlq)
    wait_until(done, 60 * SLOW, "the records handled")
    stop_cleanly(b)

    if bootstrap == "bootstrap.py":
        assert delivered() == produced.ids
        assert dlq_ids(read_dlq(dlq)) == [not_json]
    else:
        assert read_dlq(dlq) == []


@pytest.mark.parametrize("bootstrap, error_type", [
    ("bootstrap", "Runtime.HandlerError"), ("bootstrap.py", "IsADirectoryError")])
def test_example_runtime_reports_a_failing_handler_as_a_function_error(
        kafka, bridges, group, tmp_path, bootstrap, error_type):
    """RESULTS names a directory: the example handlers cannot write it and
    fail; the runtimes post /error, so each record is retried, then
    dead-lettered with the error type."""
    topic = f"rt-exfail-{bootstrap}"
    produced = produce(kafka, topic, 3)
    dlq = tmp_path / "dlq.jsonl"
    function = {"exec": {"command": [f"./{bootstrap}"], "mode": "runtime-api",
                         "cwd": str(EXAMPLES), "handler": "function.handler",
                         "workers": 1, "timeout": "10s", "env": {"RESULTS": str(tmp_path)}}}
    b = start_with_env(bridges, [pipeline(topic, kafka, group, function, dlq,
                                          batch={"max_records": 10, "max_wait": "50ms"},
                                          retry={"max_attempts": 2,
                                                 "bisect_on_error": False})],
                       {"PATH": "/usr/bin:/bin"})

    entries = wait_dlq(dlq, b, count=3)
    stop_cleanly(b)

    assert sorted(dlq_ids(entries)) == sorted(produced.ids)
    for entry in entries:
        assert entry["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert entry["requestContext"]["approximateInvokeCount"] == 2
        assert error_type in (entry["responseContext"]["functionError"] or "")


def test_example_config_and_runtimes_are_ready_to_use():
    """local-lambda.yaml passes `fnbridge check` where its comment says to run
    it (the repository's root); the runtimes are executable scripts."""
    r = subprocess.run([FNBRIDGE, "check", "-c", "config/examples/local-lambda.yaml"],
                       cwd=REPO, capture_output=True, text=True, timeout=30 * SLOW,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "orders: kafka -> exec" in r.stdout
    for name, shebang in (("bootstrap", "#!/bin/sh\n"),
                          ("bootstrap.py", "#!/usr/bin/env python3\n")):
        path = EXAMPLES / name
        assert os.access(path, os.X_OK), f"{path} is not executable"
        assert path.read_text().startswith(shebang)


def examples_init_failure(tmp_path, out):
    """The shell example runtime with a handler script that does not exist,
    started through sh so that each start is counted."""
    return {"exec": {
        "command": ["/bin/sh", "-c", 'echo $$ >>"$OUT/spawns"; exec ./bootstrap'],
        "mode": "runtime-api", "cwd": str(EXAMPLES), "handler": "missing.handler",
        "workers": 2, "timeout": "3s", "env": {"OUT": str(out.path)}}}


@pytest.mark.parametrize("case", ["init-error", "exit", "ex-init-error"])
def test_runtime_failing_at_init_dead_letters_without_a_spawn_storm(
        kafka, bridges, group, tmp_path, out, case):
    topic = f"rt-{case}"
    produced = produce(kafka, topic, 2)
    dlq = tmp_path / "dlq.jsonl"
    if case == "ex-init-error":
        function = examples_init_failure(tmp_path, out)
    else:
        function = runtime_function(tmp_path, out, mode=case, workers=2, timeout="3s")
    attempts = 2
    b = bridges.start([pipeline(topic, kafka, group, function, dlq,
                                batch={"max_records": 10, "max_wait": "100ms"},
                                retry={"max_attempts": attempts,
                                       "bisect_on_error": False})])

    entries = wait_dlq(dlq, b, count=2)
    settled = len(out.pids("spawns"))
    time.sleep(1.0)             # an absence: nothing may start without events
    stop_cleanly(b)

    assert sorted(dlq_ids(entries)) == sorted(produced.ids)
    assert entries[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    spawns = out.pids("spawns")
    # One start per attempt, at most one more per worker slot (workers: 2).
    assert 1 <= len(spawns) <= attempts + 2, f"{len(spawns)} workers started"
    assert len(spawns) == settled, "workers kept starting with no event to serve"
    assert_gone(spawns)
