"""AWS's own Node.js runtime interface client (npm aws-lambda-ric, at the
version tests/node/package-lock.json pins; `make deps` builds it) runs
unchanged as an exec runtime-api worker: it starts only when the worker has
the environment Lambda defines for a function (it refuses to without the
log group and stream), and its batchItemFailures answers are honoured.

The handler is ric_handler/index.mjs; its env map says which records it
fails (once) and where it writes what it saw."""
import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from helpers import (FNBRIDGE, REPO, SLOW, kafka_pipeline, produce, read_dlq,
                     run_fnbridge, split_id, stop_cleanly, wait_until, write_config)

TOPICS = {"ric-batch": 4}
HANDLER_DIR = REPO / "tests" / "e2e" / "ric_handler"
RIC = Path(os.environ.get("AWS_RIC") or
           REPO / "tests" / "node" / "node_modules" / ".bin" / "aws-lambda-ric")
FAIL_MOD, FAIL_REM = 97, 13

# What Lambda reserves and fnbridge sets for every runtime-api worker.
RESERVED = {"_HANDLER", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT",
            "LAMBDA_RUNTIME_DIR"}
STREAM = re.compile(r"(\d{4})/(\d{2})/(\d{2})/\[\$LATEST\][0-9a-f]{32}")


@pytest.fixture(scope="module", autouse=True)
def ric_installed():
    if not os.access(RIC, os.X_OK):
        pytest.exit(f"{RIC} is missing: run `make deps` (npm ci in tests/node)", returncode=2)


class Out:
    """What the handler's workers wrote into their OUT directory."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.mkdir()

    def lines(self):
        return [line for f in self.path.glob("*.log") for line in f.read_text().splitlines()]

    def ids(self, kind):
        """{id: how many times} for the lines "<kind> <id>"."""
        counts = {}
        for line in self.lines():
            word, _, rid = line.partition(" ")
            if word == kind:
                counts[rid] = counts.get(rid, 0) + 1
        return counts

    def envs(self):
        return [json.loads(f.read_text()) for f in self.path.glob("env-*.json")]

    def contexts(self):
        return [json.loads(f.read_text()) for f in self.path.glob("context-*.json")]


@pytest.fixture
def out(tmp_path):
    """The handler's OUT directory; its workers still alive at teardown are
    killed (a failed test may leave them)."""
    o = Out(tmp_path / "out")
    yield o
    for seen in o.envs():
        try:
            os.kill(seen["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass


def ric_function(out, workers=2, env=None, **opts):
    """The exec runtime-api target running the handler under aws-lambda-ric."""
    return {"exec": {
        "command": ["node", str(RIC), "index.handler"], "mode": "runtime-api",
        "cwd": str(HANDLER_DIR), "handler": "index.handler", "workers": workers,
        "timeout": "30s", "env": {"OUT": str(out.path), **(env or {})}, **opts}}


def start_with_env(bridges, pipelines, env, name="fnbridge"):
    """bridges.start with fnbridge's whole environment given (and the
    sanitizers' options, if any)."""
    env = {**{k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")}, **env}
    config = write_config(bridges.workdir / f"{name}.yaml", pipelines,
                          bridges.workdir / f"{name}-state")
    bridges.procs.logs.append((f"{name} config", config))
    proc = bridges.procs.start([FNBRIDGE, "run", "-c", config], name, env=env)
    proc.env = env
    return proc


def committed(kafka, group, topic):
    """{partition: committed offset} of the group (after fnbridge stopped)."""
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        parts = consumer.committed([TopicPartition(topic, p)
                                    for p in range(kafka.topics[topic])], timeout=30 * SLOW)
        return {tp.partition: tp.offset for tp in parts}
    finally:
        consumer.close()


def assert_lambda_env(env, name, memory, task_root, program):
    """The reserved variables hold what Lambda would put there, made local."""
    assert env["_HANDLER"] == "index.handler"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(memory)
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    m = STREAM.fullmatch(env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert m, f"log stream {env['AWS_LAMBDA_LOG_STREAM_NAME']!r} not named as Lambda names it"
    day = time.strftime("%Y/%m/%d", time.gmtime())
    yesterday = time.strftime("%Y/%m/%d", time.gmtime(time.time() - 86400))
    assert "/".join(m.groups()) in (day, yesterday)
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["LAMBDA_TASK_ROOT"] == str(task_root)
    assert env["LAMBDA_RUNTIME_DIR"] == os.path.dirname(os.path.realpath(program))


# -------------------------------------------------------------------- tests


def test_aws_ric_takes_2000_records_and_its_batch_item_failures_are_retried(
        kafka, bridges, group, tmp_path, out):
    produced = produce(kafka, "ric-batch", 2000, "--partitions", 4)
    chosen = {rid for rid in produced.ids if split_id(rid)[2] % FAIL_MOD == FAIL_REM}
    assert 15 <= len(chosen) <= 30
    dlq = tmp_path / "dlq.jsonl"
    path = "/usr/local/bin:/usr/bin:/bin"
    function = ric_function(out, memory_size=256, env={
        "FAIL_MOD": FAIL_MOD, "FAIL_REM": FAIL_REM,
        "AWS_ACCESS_KEY_ID": "AKIDLOCAL", "AWS_SECRET_ACCESS_KEY": "local/secret",
        "TZ": "Asia/Tokyo"})
    b = start_with_env(bridges, [kafka_pipeline(
        "ric-batch", kafka, "ric-batch", group, function, dlq=dlq,
        retry={"max_attempts": 3})],
        {"PATH": path, "HOME": str(tmp_path), "AWS_SESSION_TOKEN": "fnbridge-own",
         "AWS_REGION": "ap-south-1", "LANG": "POSIX"})

    def done():
        assert b.running(), f"fnbridge exited with {b.popen.returncode}"
        assert not read_dlq(dlq), f"dead-lettered: {read_dlq(dlq)[:1]}"
        return set(out.ids("ok")) >= produced.ids
    try:
        wait_until(done, 120 * SLOW, "every record answered ok", 0.2)
    except AssertionError as e:
        missing = produced.ids - set(out.ids("ok"))
        raise AssertionError(f"{e}: {len(missing)} not answered ok") from None
    stop_cleanly(b)

    # every record delivered; the named ones retried, then answered ok
    ok, failed, seen = out.ids("ok"), out.ids("fail"), out.ids("seen")
    assert set(ok) == produced.ids
    assert set(failed) == chosen, "the handler failed other records than the chosen ones"
    assert all(n == 1 for n in failed.values())
    for rid in chosen:
        assert seen[rid] >= 2 and ok[rid] >= 1, f"{rid} was not retried after it failed"
    assert read_dlq(dlq) == []

    # committed offsets reach the end of every partition
    ends = {p: last + 1 for p, (_, last) in produced.ranges.items()}
    assert committed(kafka, group, "ric-batch") == ends

    # the workers' environment: Lambda's variables and the env map's, only
    envs = out.envs()
    assert 1 <= len(envs) <= 2, f"{len(envs)} workers started for workers: 2"
    for seen_env in envs:
        env = seen_env["env"]
        assert_lambda_env(env, "ric-batch", 256, HANDLER_DIR, shutil.which("node", path=path))
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert env["TZ"] == "Asia/Tokyo"                      # Lambda lets users set it
        assert env["LANG"] in ("en_US.UTF-8", "C.UTF-8")      # not fnbridge's LANG
        assert env["PATH"] == path
        assert env["AWS_ACCESS_KEY_ID"] == "AKIDLOCAL"        # given in env
        assert "AWS_SESSION_TOKEN" not in env                 # fnbridge's own
        assert "AWS_EXECUTION_ENV" not in env                 # no `runtime` given
        assert set(env) == RESERVED | {"PATH", "LANG", "TZ", "OUT", "FAIL_MOD", "FAIL_REM",
                                       "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
        assert seen_env["cwd"] == str(HANDLER_DIR)
    for ctx in out.contexts():          # what the RIC built from them
        assert ctx["functionName"] == "ric-batch"
        assert ctx["logGroupName"] == "/aws/lambda/ric-batch"
        assert STREAM.fullmatch(ctx["logStreamName"])
        assert ctx["memoryLimitInMB"] == "256"
        assert ctx["invokedFunctionArn"] == \
            "arn:aws:lambda:us-east-1:000000000000:function:ric-batch"


def test_region_and_runtime_reach_the_aws_ric_worker(tmp_path, out):
    """`region` and `runtime` set AWS_REGION, AWS_DEFAULT_REGION and
    AWS_EXECUTION_ENV; one event through `fnbridge invoke`."""
    function = ric_function(out, workers=1, region="eu-central-1", runtime="nodejs22.x")
    config = write_config(tmp_path / "invoke.yaml", [{
        "name": "ric-invoke", "function": function,
        "source": {"kafka": {"brokers": "127.0.0.1:1", "topics": ["t"], "group_id": "g"}}}],
        tmp_path / "state")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"eventSource": "SelfManagedKafka", "records": {"t-0": [
        {"topic": "t", "partition": 0, "offset": 5, "timestamp": 0,
         "timestampType": "CREATE_TIME", "value": "e30=", "headers": []}]}}))
    r = run_fnbridge("invoke", "-c", config, "--pipeline", "ric-invoke", "--event", event,
                     timeout=60)
    assert r.returncode == 0, f"invoke failed ({r.returncode}): {r.stdout} {r.stderr}"
    assert json.loads(r.stdout) == {"batchItemFailures": []}
    [seen] = out.envs()
    env = seen["env"]
    assert_lambda_env(env, "ric-invoke", 128, HANDLER_DIR, shutil.which("node"))
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-central-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs22.x"
    assert env["TZ"] == ":UTC"
    [ctx] = out.contexts()
    assert ctx["invokedFunctionArn"] == \
        "arn:aws:lambda:eu-central-1:000000000000:function:ric-invoke"


def test_check_refuses_a_reserved_variable_in_env_where_it_is_written(tmp_path):
    """As Lambda refuses them in a function's configuration; the variables
    Lambda lets users set, and stdio's env map, pass."""
    config = tmp_path / "reserved.yaml"
    config.write_text(
        "pipelines:\n"
        "  - name: reserved\n"
        "    source: {kafka: {brokers: \"127.0.0.1:1\", topics: [t], group_id: g}}\n"
        "    function:\n"
        "      exec:\n"
        "        mode: runtime-api\n"
        f"        command: [node, {json.dumps(str(RIC))}]\n"
        "        env:\n"
        "          TZ: Europe/Paris\n"
        "          LANG: C.UTF-8\n"
        "          AWS_LAMBDA_LOG_GROUP_NAME: /mine\n"
        "          AWS_SECRET_ACCESS_KEY: allowed\n"
        "          AWS_REGION: eu-west-1\n")
    r = run_fnbridge("check", "-c", config)
    assert r.returncode == 2, f"check passed: {r.stdout}"
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert errors == [
        f"{config}:11:11: pipelines[0].function.exec.env.AWS_LAMBDA_LOG_GROUP_NAME: "
        "AWS_LAMBDA_LOG_GROUP_NAME is reserved by Lambda: fnbridge sets it "
        "(/aws/lambda/ and the pipeline's name)",
        f"{config}:13:11: pipelines[0].function.exec.env.AWS_REGION: "
        "AWS_REGION is reserved by Lambda: fnbridge sets it from `region`"], r.stderr

    config.write_text(config.read_text().replace("runtime-api", "stdio"))
    r = run_fnbridge("check", "-c", config)
    assert r.returncode == 0, r.stderr
