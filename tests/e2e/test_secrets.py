"""Secrets are never printed (README, Config reference, "What is never
printed"): one marker secret, given through the environment and a file,
goes into every key a test can exercise; then `check` on configs with
errors around those keys, `run` at log level debug (Kafka pipelines whose
functions fail into dead letters, MQTT with the password in the url, S3
with userinfo in the endpoint) and `invoke`. No byte of their stdout,
stderr or dead-letter files holds the marker, its URL-encoded form or its
base64 at any alignment."""
import base64
import os
import secrets
import sys
import urllib.parse

import pytest

import helpers
from helpers import (SLOW, kafka_pipeline, produce, read_dlq, run_fnbridge,
                     stop_cleanly, wait_until, write_config)
from mqtt_helpers import Mosquitto, mqtt_pipeline, publish
from s3_helpers import S3rver, s3_pipeline

sys.path.insert(0, str(helpers.REPO / "tests" / "tools"))
from lambda_endpoint import LambdaEndpoint  # noqa: E402

TOPICS = {"sec-exec": 1, "sec-http": 1, "sec-lambda": 1}

MARKER = "S3CR3T-" + secrets.token_hex(8)
ENV = "FNB_TEST_SECRET"
BY_ENV = "${env:%s}" % ENV
BY_FILE = "${file:secret.txt}"       # relative to the config's directory
REGION = "eu-west-1"


def forms(marker):
    """The marker and the ways a careless print could carry it."""
    out = {marker, urllib.parse.quote(marker, safe=""), marker.lower()}
    raw = marker.encode()
    for pad in range(3):            # base64 at each alignment, clear of its edges
        enc = base64.b64encode(b"\0" * pad + raw).decode()
        out.add(enc[4:-4])
    return out


def leaks(text):
    return sorted(f for f in forms(MARKER) if f in text)


def assert_no_marker(label, data):
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    found = leaks(data)
    assert not found, f"{label} prints the secret ({found}):\n{data[-3000:]}"


@pytest.fixture
def secret_env(tmp_path):
    (tmp_path / "secret.txt").write_text(MARKER + "\n")
    env = dict(os.environ)
    env[ENV] = MARKER
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    old = os.environ.get(ENV)
    os.environ[ENV] = MARKER          # for run_fnbridge, which inherits it
    yield env
    if old is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = old


def all_output(tmp_path):
    """Every file fnbridge or the test wrote under tmp_path that is not an
    input: stdout, stderr, dead letters."""
    skip = {"secret.txt"}
    for p in sorted(tmp_path.rglob("*")):
        if p.is_file() and p.name not in skip and p.suffix in (".out", ".err", ".jsonl"):
            yield p


# ------------------------------------------------------------------ check

KAFKA = {"brokers": "127.0.0.1:1", "topics": ["t"], "group_id": "g"}
HTTP = {"http": {"url": "http://127.0.0.1:1/fn"}}


def pipe(name="p", source=None, function=None, **extra):
    return {"name": name, "source": source or {"kafka": dict(KAFKA)},
            "function": function or HTTP, **extra}


# Each config has one mistake next to the marker; `want` is in the error.
CHECK_CASES = {
    "mqtt url password, bad port": (
        [pipe(source={"mqtt": {"url": f"mqtt://fnb:{BY_ENV}@127.0.0.1:99999",
                               "topics": ["a/#"]}})], "bad port"),
    "mqtt url user and password keys": (
        [pipe(source={"mqtt": {"url": f"mqtt://{BY_ENV}:{BY_FILE}@127.0.0.1:1883",
                               "username": BY_ENV, "topics": ["a/#"]}})],
        "leave out username"),
    "mqtt username and password, reply on 3.1.1": (
        [pipe(source={"mqtt": {"url": "mqtt://127.0.0.1:1883", "topics": ["a/#"],
                               "username": BY_ENV, "password": BY_FILE,
                               "protocol": "3.1.1", "reply": True,
                               "client_id": f"c-{BY_ENV}"}})], "reply needs protocol 5"),
    "duplicate pipeline names": (
        [pipe(name=BY_ENV), pipe(name=BY_FILE)], "duplicate pipeline name"),
    "pipeline name, bad format": (
        [pipe(name=BY_ENV, function={"http": {"url": "http://127.0.0.1:1/",
                                              "format": "apigw-v2"}})], "must be one of"),
    "lambda name and keys, bad region": (
        [pipe(function={"lambda": {"name": f"fn-{BY_ENV}", "region": BY_ENV,
                                   "access_key": BY_ENV, "secret_key": BY_FILE,
                                   "session_token": BY_ENV}})], "not a region name"),
    "lambda access key without secret": (
        [pipe(function={"lambda": {"name": f"arn:aws:lambda:{REGION}:1:function:{BY_ENV}",
                                   "region": REGION, "access_key": BY_ENV}})],
        "without a secret key"),
    "exec command not found": (
        [pipe(function={"exec": {"command": [f"/nonexistent/{BY_ENV}",
                                             f"--token={BY_FILE}"]}})], "command:"),
    "exec cwd missing": (
        [pipe(function={"exec": {"command": ["/bin/true", BY_ENV],
                                 "cwd": f"/nonexistent/{BY_ENV}"}})], "cwd:"),
    "exec env name": (
        [pipe(function={"exec": {"command": ["/bin/true"],
                                 "env": {"OK": BY_ENV, "BAD=NAME": BY_FILE}}})],
        "not a valid variable name"),
    "http url userinfo and query, bad header": (
        [pipe(function={"http": {"url": f"http://u:{BY_ENV}@127.0.0.1:1/fn?k={BY_FILE}",
                                 "headers": {"X-Token": BY_ENV, "bad name": BY_FILE}}})],
        "not a valid header name"),
    "http url not http": (
        [pipe(function={"http": {"url": f"ftp://u:{BY_ENV}@127.0.0.1/"}})],
        "must be an http"),
    "openfaas password and password_file": (
        [pipe(function={"openfaas": {"gateway": f"http://admin:{BY_ENV}@127.0.0.1:1",
                                     "name": f"fn-{BY_ENV}", "password": BY_FILE,
                                     "password_file": "secret.txt"}})], "both set"),
    "s3 endpoint with userinfo and query": (
        [pipe(source={"s3": {"endpoint": f"http://ak:{BY_ENV}@127.0.0.1:1/?x={BY_ENV}",
                             "bucket": "bkt"}})], "query or fragment"),
    "s3 keys, one missing": (
        [pipe(source={"s3": {"endpoint": f"http://ak:{BY_ENV}@127.0.0.1:1",
                             "bucket": "bkt", "access_key": BY_ENV}})],
        "without a secret key"),
    "kafka property value refused by librdkafka": (
        [pipe(source={"kafka": {**KAFKA, "brokers": f"127.0.0.1:1,{BY_ENV}.invalid:9092",
                                "librdkafka": {"sasl.password": BY_FILE,
                                               "session.timeout.ms": BY_ENV}}})],
        "session.timeout.ms"),
    "typed values": (
        [pipe(concurrency=BY_ENV, batch={"max_wait": BY_FILE})], "must be"),
}


@pytest.mark.parametrize("case", sorted(CHECK_CASES))
def test_check_errors_never_print_the_secret(tmp_path, secret_env, case):
    pipelines, want = CHECK_CASES[case]
    config = write_config(tmp_path / "fnbridge.yaml", pipelines, tmp_path / "state")
    r = run_fnbridge("check", "-c", config)
    assert r.returncode == 2, f"check passed:\n{r.stdout}{r.stderr}"
    assert want in r.stderr, r.stderr
    assert_no_marker("check stderr", r.stderr)
    assert_no_marker("check stdout", r.stdout)


def test_check_ok_lists_the_pipeline_by_its_written_name(tmp_path, secret_env):
    config = write_config(tmp_path / "fnbridge.yaml", [pipe(name=f"p-{BY_ENV}")],
                          tmp_path / "state")
    r = run_fnbridge("check", "-c", config)
    assert r.returncode == 0, r.stderr
    assert f"p-{BY_ENV}: kafka -> http" in r.stdout
    assert_no_marker("check stdout", r.stdout + r.stderr)


# -------------------------------------------------------------------- run

FAIL_STDIO = "import sys; sys.stdin.read(); sys.exit(3)"


def test_run_at_debug_kafka_dead_letters_hold_no_secret(
        kafka, procs, fn_server, tmp_path, secret_env):
    """Three Kafka pipelines whose functions fail into dead letters: exec
    with the secret in its argv and the pipeline's name, http with it in
    the url's userinfo, query and a header, lambda with it in the name and
    the keys. One extra broker, the secret in its host name, makes
    librdkafka log it."""
    ep = LambdaEndpoint(functions={f"fn-{MARKER}"}, region=REGION,
                        credentials={MARKER: (MARKER, f"tok-{MARKER}")},
                        error_first=10_000)
    try:
        fn = fn_server("--status", 500)
        retry = {"max_attempts": 2, "backoff": {"initial": "10ms", "max": "20ms"}}
        brokers = f"{kafka.bootstrap},{BY_ENV}.invalid:9092"
        dlqs = {t: tmp_path / f"dlq-{t}-{BY_ENV}.jsonl" for t in TOPICS}
        pipelines = [
            kafka_pipeline(BY_ENV, kafka, "sec-exec", "g-sec-exec",
                           {"exec": {"command": [helpers.PYTHON, "-c", FAIL_STDIO,
                                                 f"--token={BY_ENV}", BY_FILE],
                                     "timeout": "10s"}},
                           dlq=dlqs["sec-exec"], retry=retry),
            kafka_pipeline(f"h-{BY_FILE}", kafka, "sec-http", "g-sec-http",
                           {"http": {"url": f"http://u:{BY_ENV}@127.0.0.1:{fn.port}/"
                                            f"?k={BY_FILE}",
                                     "headers": {"X-Token": BY_ENV,
                                                 "Authorization": f"Bearer {BY_FILE}"},
                                     "timeout": "5s"}},
                           dlq=dlqs["sec-http"], retry=retry),
            kafka_pipeline("lam", kafka, "sec-lambda", "g-sec-lambda",
                           {"lambda": {"name": f"fn-{BY_ENV}", "endpoint": ep.endpoint,
                                       "region": REGION, "access_key": BY_ENV,
                                       "secret_key": BY_FILE,
                                       "session_token": f"tok-{BY_ENV}",
                                       "timeout": "5s"}},
                           dlq=dlqs["sec-lambda"], retry=retry),
        ]
        for p in pipelines:
            p["source"]["kafka"]["brokers"] = brokers
            p["source"]["kafka"]["librdkafka"]["sasl.password"] = BY_ENV
        for t in TOPICS:
            produce(kafka, t, 3)
        config = write_config(tmp_path / "fnbridge.yaml", pipelines, tmp_path / "state",
                              log_level="debug")
        b = procs.start([helpers.FNBRIDGE, "run", "-c", config], "fnbridge", env=secret_env)
        real = {t: tmp_path / f"dlq-{t}-{MARKER}.jsonl" for t in TOPICS}
        wait_until(lambda: all(len(read_dlq(p)) >= 1 for p in real.values())
                   or not b.running(), 120 * SLOW, "a dead letter from every pipeline")
        assert b.running(), b.stderr()[-3000:]
        stop_cleanly(b)
        assert ep.invocations, "the lambda endpoint was never called"
        assert not ep.bad(), ep.timeout_detail()      # signed with the real keys
    finally:
        ep.close()

    entries = {t: read_dlq(p) for t, p in real.items()}
    # The names are there, as written: the mask did not just drop them.
    # (One secret given twice shows as the interpolation met first.)
    assert {e["pipeline"] for e in entries["sec-exec"]} == {BY_ENV}
    assert {e["pipeline"] for e in entries["sec-http"]} <= {f"h-{BY_FILE}", f"h-{BY_ENV}"}
    arn = entries["sec-exec"][0]["requestContext"]["functionArn"]
    assert f"--token={BY_ENV} " in arn, arn
    assert entries["sec-http"][0]["requestContext"]["functionArn"] == \
        f"http://127.0.0.1:{fn.port}/"
    assert f"fn-{BY_ENV}" in entries["sec-lambda"][0]["requestContext"]["functionArn"]
    for e in entries["sec-exec"]:
        assert e["payload"]["bootstrapServers"] == brokers
    text = b.stderr()
    assert "level=debug" in text and f"pipeline={BY_ENV} connector=kafka" in text
    for p in all_output(tmp_path):
        if p.name.startswith(("fnbridge", "dlq")):
            assert_no_marker(str(p.relative_to(tmp_path)), p.read_bytes())


def test_run_at_debug_mqtt_and_s3_print_no_secret(procs, capture, tmp_path, secret_env):
    """MQTT with the password in the url (the broker requires it: delivery
    proves it was used) and in username/password keys the broker refuses;
    S3 with userinfo in the endpoint, and keys s3rver refuses."""
    broker = Mosquitto(procs, password=("fnb", MARKER)).start()
    store = S3rver(procs, buckets=("sec-bucket",))
    fn = capture()
    port_url = broker.url.split("://", 1)[1]
    s3_bad = s3_pipeline("s3-bad", f"http://ak:{BY_ENV}@{store.endpoint[7:]}", "sec-bucket",
                         fn.url, s3={"access_key": BY_ENV, "secret_key": BY_FILE,
                                     "session_token": BY_ENV, "poll_interval": "100ms"})
    s3_good = s3_pipeline(f"s3-{BY_ENV}", f"http://ak:{BY_FILE}@{store.endpoint[7:]}",
                          "sec-bucket", fn.url,
                          s3={"access_key": "S3RVER", "secret_key": "S3RVER",
                              "poll_interval": "100ms"})
    pipelines = [
        mqtt_pipeline(f"m-{BY_ENV}", f"mqtt://fnb:{BY_ENV}@{port_url}", f"c-{BY_FILE}",
                      fn.url, dlq=tmp_path / "dlq-mqtt.jsonl"),
        mqtt_pipeline("m-refused", broker.url, "c-refused", fn.url,
                      mqtt={"username": BY_ENV, "password": f"x{BY_FILE}"}),
        s3_bad, s3_good,
    ]
    config = write_config(tmp_path / "fnbridge.yaml", pipelines, tmp_path / "state",
                          log_level="debug")
    b = procs.start([helpers.FNBRIDGE, "run", "-c", config], "fnbridge", env=secret_env)
    broker.wait_subscribed(f"c-{MARKER}", "sensors/#", proc=b, timeout=60 * SLOW)
    publish(broker.url, "sensors/a", 1, "--username", "fnb", "--password", MARKER,
            prefix="m-")
    store.put("sec-bucket", "k1.csv", b"a,b\n")
    wait_until(lambda: (any(e.get("source") == "mqtt" for e in list(fn.events))
                        and any("Records" in e for e in list(fn.events)))
               or not b.running(), 60 * SLOW, "an MQTT message and an S3 event delivered")
    wait_until(lambda: "refused the connection" in b.stderr() or not b.running(),
               30 * SLOW, "the refused MQTT login logged")
    assert b.running(), b.stderr()[-3000:]
    stop_cleanly(b)
    text = b.stderr()
    assert "on http://***@127.0.0.1" in text, "the S3 endpoint is not logged at all"
    assert "mqtt://***@127.0.0.1" in text
    for p in all_output(tmp_path):
        if p.name.startswith(("fnbridge", "dlq")):
            assert_no_marker(str(p.relative_to(tmp_path)), p.read_bytes())


# ----------------------------------------------------------------- invoke

def test_invoke_failures_print_no_secret(tmp_path, secret_env):
    ep = LambdaEndpoint(functions={f"fn-{MARKER}"}, region=REGION,
                        credentials={MARKER: (MARKER, f"tok-{MARKER}")}, error_first=10_000)
    try:
        retry = {"max_attempts": 2, "backoff": {"initial": "10ms", "max": "20ms"}}
        pipelines = [
            pipe(name=BY_ENV, retry=retry,
                 function={"lambda": {"name": f"fn-{BY_ENV}", "endpoint": ep.endpoint,
                                      "region": REGION, "access_key": BY_ENV,
                                      "secret_key": BY_FILE, "session_token": BY_ENV}}),
            pipe(name="gone", retry=retry,
                 function={"lambda": {"name": f"gone-{BY_ENV}", "endpoint": ep.endpoint,
                                      "region": REGION, "access_key": BY_ENV,
                                      "secret_key": BY_FILE, "session_token": BY_ENV}}),
            pipe(name="exec", retry=retry,
                 function={"exec": {"command": [helpers.PYTHON, "-c", FAIL_STDIO,
                                                BY_ENV]}}),
            pipe(name="web", retry=retry,
                 function={"http": {"url": f"http://u:{BY_ENV}@{BY_ENV}.invalid/?q={BY_ENV}",
                                    "timeout": "2s"}}),
        ]
        config = write_config(tmp_path / "fnbridge.yaml", pipelines, tmp_path / "state",
                              log_level="debug")
        outputs = []
        for name in (MARKER, "gone", "exec", "web"):
            r = run_fnbridge("invoke", "-c", config, "-p", name, "-e", "-", input='{"a": 1}')
            assert r.returncode == 1, f"{name}: {r.returncode}\n{r.stderr}"
            assert "failed" in r.stderr, r.stderr
            outputs.append((name, r))
        assert ep.invocations, "the lambda endpoint was never called"
    finally:
        ep.close()
    for name, r in outputs:
        assert_no_marker(f"invoke {name} stderr", r.stderr)
        # The function's own answer is data and printed as it is: these
        # functions' answers do not hold the secret.
        assert_no_marker(f"invoke {name} stdout", r.stdout)
