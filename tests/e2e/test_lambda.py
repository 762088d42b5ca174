"""Kafka -> the lambda target (README: Config reference; README: Outcomes, issue 5 point 1)
against tests/tools/lambda_endpoint.py, a Lambda Invoke API endpoint that
checks every request's path, invocation type and SigV4 signature as AWS
does, can answer function errors, 429, 413 and 404, and records every
invocation: the tests assert on what it recorded (bodies, headers, arrival
times), never on sleeps."""
import os
import subprocess
import sys

import pytest

import helpers
from helpers import (SLOW, dlq_ids, kafka_pipeline, produce, read_dlq, split_id,
                     stop_cleanly, wait_until, write_config)

sys.path.insert(0, str(helpers.REPO / "tests" / "tools"))
from lambda_endpoint import (EVENT_LIMIT, SYNC_LIMIT, AuthError, LambdaEndpoint,  # noqa: E402
                             check_sigv4)

TOPICS = {"l-signed": 4, "l-env": 2, "l-qual": 1, "l-arn": 1, "l-event": 1, "l-errors": 1,
          "l-throttle": 1, "l-413": 1, "l-6mib": 1, "l-404": 2}

KEY, SECRET = "AKIDFNBRIDGETEST", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYTESTKEY"
REGION = "eu-west-1"
AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
           "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
INVOKE_PATH = "/2015-03-31/functions/{}/invocations"


@pytest.fixture
def endpoint():
    """endpoint(**options) starts a LambdaEndpoint knowing `orders` and the
    test keys, in REGION (options override)."""
    started = []

    def start(**kw):
        opts = {"functions": {"orders"}, "credentials": {KEY: SECRET}, "region": REGION}
        opts.update(kw)
        ep = LambdaEndpoint(**opts)
        started.append(ep)
        return ep
    yield start
    for ep in started:
        ep.close()


def lambda_function(ep, name="orders", **opts):
    """The lambda target for ep, explicit keys; an option set to None is left out."""
    fn = {"name": name, "endpoint": ep.endpoint, "region": REGION, "access_key": KEY,
          "secret_key": SECRET, "timeout": "5s"}
    fn.update(opts)
    return {"lambda": {k: v for k, v in fn.items() if v is not None}}


def env_without_aws(**extra):
    env = {k: v for k, v in os.environ.items() if k not in AWS_ENV}
    env.update(extra)
    return env


def start_with_env(procs, tmp_path, pipelines, env, name="fnbridge"):
    config = write_config(tmp_path / f"{name}.yaml", pipelines, tmp_path / f"{name}-state")
    procs.logs.append((f"{name} config", config))
    return procs.start([helpers.FNBRIDGE, "run", "-c", config], name, env=env)


def no_bad_requests(ep):
    bad = ep.bad()
    assert not bad, f"{len(bad)} requests refused as malformed, e.g. {bad[0]['error']}"


def delivered_counts(ep):
    """{record id: invocations that delivered it}."""
    counts = {}
    for inv in ep.snapshot():
        if inv["answer"] in ("ok", "accepted"):
            for rid in inv["ids"]:
                counts[rid] = counts.get(rid, 0) + 1
    return counts


# ------------------------------------------------------- the endpoint itself


def test_endpoint_verifies_signatures_as_the_aws_sigv4_test_suite_does():
    """The endpoint's verifier against vectors of AWS's SigV4 test suite
    (service "service"), and a tampered body or key refused: what the
    other tests rely on when they find no bad request."""
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    creds = {"AKIDEXAMPLE": (secret, None)}

    def request(method, path, query, sig, key="AKIDEXAMPLE", body=b""):
        headers = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z",
                   "authorization": f"AWS4-HMAC-SHA256 Credential={key}/20150830/us-east-1/"
                                    f"service/aws4_request, SignedHeaders=host;x-amz-date, "
                                    f"Signature={sig}"}
        return check_sigv4(method, path, query, headers, body, creds, "us-east-1",
                           service="service", max_skew=None)

    vectors = [  # get-vanilla, post-vanilla, get-vanilla-query-order-key-case, get-utf8
        ("GET", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("POST", "/", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ("GET", "/", "Param2=value2&Param1=value1",
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        ("GET", "/\u1234", "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ]
    for method, path, query, sig in vectors:
        assert request(method, path, query, sig)["verified"], (method, path, query)
    with pytest.raises(AuthError, match="does not match"):
        request("POST", "/", "", vectors[1][3], body=b"tampered")
    with pytest.raises(AuthError) as e:
        request("GET", "/", "", vectors[0][3], key="AKIDOTHER")
    assert e.value.error_type == "UnrecognizedClientException"


# ------------------------------------------------------------------ delivery


def test_every_record_is_delivered_once_signed_with_the_configured_keys(
        kafka, endpoint, bridges, group, tmp_path):
    produced = produce(kafka, "l-signed", 400, "--partitions", 4)
    ep = endpoint()
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline("signed", kafka, "l-signed", group,
                                      lambda_function(ep), dlq=dlq)])

    ep.wait_delivered(produced.ids, 60 * SLOW, proc=b)
    stop_cleanly(b)

    no_bad_requests(ep)
    invocations = ep.snapshot()
    assert all(i["auth"]["verified"] for i in invocations), "a signature was not recomputed"
    assert {i["path"] for i in invocations} == {INVOKE_PATH.format("orders")}
    assert {i["raw_query"] for i in invocations} == {""}, "Qualifier sent without one configured"
    assert {i["invocation_type"] for i in invocations} == {"RequestResponse"}, \
        "X-Amz-Invocation-Type not sent as RequestResponse"
    assert not any("x-amz-security-token" in i["headers"] for i in invocations)
    counts = delivered_counts(ep)
    assert set(counts) == produced.ids
    assert set(counts.values()) == {1}, "a record was delivered twice"
    assert read_dlq(dlq) == []
    assert SECRET not in b.stderr()


def test_keys_session_token_and_region_come_from_the_environment(
        kafka, endpoint, procs, group, tmp_path):
    produced = produce(kafka, "l-env", 50, "--partitions", 2)
    key, secret, token = "ASIAENVKEYTEST", "env/secret+key", "FQoGZXIvYXdzEXAMPLE//token=="
    ep = endpoint(credentials={key: (secret, token)}, region="ap-south-1")
    fn = lambda_function(ep, region=None, access_key=None, secret_key=None)
    env = env_without_aws(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
                          AWS_SESSION_TOKEN=token, AWS_REGION="ap-south-1")
    b = start_with_env(procs, tmp_path, [kafka_pipeline("env", kafka, "l-env", group, fn)], env)

    ep.wait_delivered(produced.ids, 60 * SLOW, proc=b)
    stop_cleanly(b)

    no_bad_requests(ep)
    invocations = ep.snapshot()
    assert all(i["auth"]["verified"] and i["auth"]["key"] == key for i in invocations)
    assert {i["auth"]["region"] for i in invocations} == {"ap-south-1"}
    assert {i["headers"].get("x-amz-security-token") for i in invocations} == {token}
    stderr = b.stderr()
    assert secret not in stderr and token not in stderr


def test_qualifier_is_sent_as_a_query_parameter(kafka, endpoint, bridges, group, tmp_path):
    produced = produce(kafka, "l-qual", 20)
    ep = endpoint()
    b = bridges.start([kafka_pipeline("qual", kafka, "l-qual", group,
                                      lambda_function(ep, qualifier="live"))])

    ep.wait_delivered(produced.ids, 60 * SLOW, proc=b)
    stop_cleanly(b)

    no_bad_requests(ep)
    invocations = ep.snapshot()
    assert {i["qualifier"] for i in invocations} == {"live"}
    assert {i["raw_query"] for i in invocations} == {"Qualifier=live"}


def test_a_full_arn_as_name_is_invoked_and_signed_as_aws_sdks_sign_it(
        kafka, endpoint, bridges, group, tmp_path):
    """The name may be a full ARN (target_options.c). Its ':' make the path
    one whose signature differs by encoding: SigV4 (every service but S3)
    signs the path as sent, URI-encoded once more."""
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:orders"
    produced = produce(kafka, "l-arn", 10)
    ep = endpoint(functions={arn})
    b = bridges.start([kafka_pipeline("arn", kafka, "l-arn", group,
                                      lambda_function(ep, name=arn, qualifier="7"))])

    ep.wait_delivered(produced.ids, 30 * SLOW, proc=b)
    stop_cleanly(b)

    no_bad_requests(ep)
    assert {(i["function"], i["qualifier"]) for i in ep.snapshot()} == {(arn, "7")}


def test_event_invocations_are_accepted_with_202_and_never_exceed_1_mib(
        kafka, endpoint, bridges, group, tmp_path):
    """Event: 202 is success. A batch whose event would pass 1 MiB is sent
    in parts; a record too big for 1 MiB on its own is never sent and is
    dead-lettered with MaximumPayloadSizeExceeded."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1100 * 1024))
    before = produce(kafka, "l-event", 400, "--size", 4096)
    huge = produce(kafka, "l-event", 1, "--value-file", big)
    after = produce(kafka, "l-event", 10, "--start-seq", 401)
    (huge_id,) = huge.ids
    ep = endpoint()
    dlq = tmp_path / "dlq.jsonl"
    pipeline = kafka_pipeline("event", kafka, "l-event", group,
                              lambda_function(ep, invocation_type="Event"), dlq=dlq,
                              batch={"max_records": 1000, "max_bytes": "16MiB",
                                     "max_wait": "500ms"})
    pipeline["source"]["kafka"]["librdkafka"]["queued.max.messages.kbytes"] = 65536
    b = bridges.start([pipeline])

    ep.wait_delivered(before.ids | after.ids, 60 * SLOW, proc=b)
    wait_until(lambda: read_dlq(dlq) or not b.running(), 30 * SLOW, "a dead-letter record")
    stop_cleanly(b)

    no_bad_requests(ep)
    invocations = ep.snapshot()
    assert {i["invocation_type"] for i in invocations} == {"Event"}
    assert {i["status"] for i in invocations} == {202}, "an Event invocation was refused"
    biggest = max(i["body_len"] for i in invocations)
    assert biggest <= EVENT_LIMIT, f"an Event request of {biggest} bytes was sent"
    assert biggest > EVENT_LIMIT // 2, f"batches stayed small ({biggest} bytes): no limit met"
    assert huge_id not in ep.seen(), "the record over 1 MiB was sent"
    entries = read_dlq(dlq)
    assert len(entries) == 1
    assert entries[0]["requestContext"]["condition"] == "MaximumPayloadSizeExceeded"
    assert entries[0]["requestContext"]["approximateInvokeCount"] == 0
    _, _, huge_offset = split_id(huge_id)
    assert entries[0]["source"]["partitions"] == [{
        "topic": "l-event", "partition": 0, "startOffset": huge_offset,
        "endOffset": huge_offset, "batchSize": 1}]


def test_sync_requests_never_exceed_6_mib(kafka, endpoint, bridges, group, tmp_path):
    """RequestResponse: 6 MiB at most per request; batches above are sent in
    parts, a single record above is dead-lettered unsent. (Values are
    gzip-compressed in Kafka: the mock keeps only ~5 MiB per partition.)"""
    gzip = ("--compression", "gzip", "-X", "message.max.bytes=10000000")
    before = produce(kafka, "l-6mib", 60, "--size", 100_000, *gzip)
    huge = produce(kafka, "l-6mib", 1, "--size", 4_800_000, "--start-seq", 60, *gzip)
    after = produce(kafka, "l-6mib", 10, "--start-seq", 61)
    (huge_id,) = huge.ids
    ep = endpoint()
    dlq = tmp_path / "dlq.jsonl"
    pipeline = kafka_pipeline("sync6", kafka, "l-6mib", group, lambda_function(ep), dlq=dlq,
                              batch={"max_records": 1000, "max_bytes": "64MiB",
                                     "max_wait": "1s"})
    pipeline["source"]["kafka"]["librdkafka"]["queued.max.messages.kbytes"] = 65536
    b = bridges.start([pipeline])

    ep.wait_delivered(before.ids | after.ids, 60 * SLOW, proc=b)
    wait_until(lambda: read_dlq(dlq) or not b.running(), 30 * SLOW, "a dead-letter record")
    stop_cleanly(b)

    no_bad_requests(ep)
    invocations = ep.snapshot()
    biggest = max(i["body_len"] for i in invocations)
    assert biggest <= SYNC_LIMIT, f"a request of {biggest} bytes was sent"
    assert biggest > SYNC_LIMIT // 2, f"batches stayed small ({biggest} bytes): no limit met"
    assert {i["status"] for i in invocations} == {200}
    assert huge_id not in ep.seen(), "the record over 6 MiB was sent"
    entries = read_dlq(dlq)
    assert [e["requestContext"]["condition"] for e in entries] == ["MaximumPayloadSizeExceeded"]
    assert entries[0]["requestContext"]["approximateInvokeCount"] == 0
    assert [p["startOffset"] for p in entries[0]["source"]["partitions"]] == \
        [split_id(huge_id)[2]]


# ---------------------------------------------------------------- outcomes


def test_function_errors_are_retried_and_a_record_failing_every_time_is_dead_lettered(
        kafka, endpoint, bridges, group, tmp_path):
    produced = produce(kafka, "l-errors", 60)
    poison = "l-errors-0-30"
    ep = endpoint(error_first=2, error_ids={poison})
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline("errors", kafka, "l-errors", group,
                                      lambda_function(ep), dlq=dlq,
                                      retry={"max_attempts": 3})])

    ep.wait_delivered(produced.ids - {poison}, 60 * SLOW, proc=b)
    wait_until(lambda: read_dlq(dlq) or not b.running(), 30 * SLOW, "a dead-letter record")
    stop_cleanly(b)

    no_bad_requests(ep)
    invocations = ep.snapshot()
    first_two = invocations[:2]
    assert [i["answer"] for i in first_two] == ["function_error"] * 2
    failed_then = {rid for i in first_two for rid in i["ids"]} - {poison}
    assert failed_then, "the scripted function errors carried no record"
    assert failed_then <= ep.delivered(), "records of a function error were not retried"
    counts = delivered_counts(ep)
    assert set(counts.values()) == {1}, "a record was delivered twice"
    entries = read_dlq(dlq)
    assert dlq_ids(entries) == [poison]
    entry = entries[0]
    assert entry["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert entry["requestContext"]["approximateInvokeCount"] == 3
    assert entry["responseContext"]["statusCode"] == 200
    assert entry["responseContext"]["functionError"] == "Unhandled"
    assert "TestError" in entry["responseContext"]["body"]


def test_429_retry_after_is_honoured(kafka, endpoint, bridges, group, tmp_path):
    produced = produce(kafka, "l-throttle", 5)
    retry_after = 2
    ep = endpoint(throttle_first=1, retry_after=retry_after)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline(
        "throttle", kafka, "l-throttle", group, lambda_function(ep), dlq=dlq,
        retry={"max_attempts": 5, "backoff": {"initial": "10ms", "max": "100ms"}})])

    ep.wait_delivered(produced.ids, 60 * SLOW, proc=b)
    stop_cleanly(b)

    no_bad_requests(ep)
    invocations = ep.snapshot()
    throttled = invocations[0]
    assert throttled["status"] == 429
    retry = next(i for i in invocations[1:] if set(i["ids"]) & set(throttled["ids"]))
    gap = retry["time"] - throttled["time"]
    assert gap >= retry_after - 0.15, f"retried {gap:.3f} s after 429 with Retry-After: 2"
    assert gap < retry_after + 5 * SLOW, f"retried only {gap:.1f} s after Retry-After: 2"
    assert read_dlq(dlq) == []


def test_413_splits_the_batch_and_a_single_refused_record_is_dead_lettered(
        kafka, endpoint, bridges, group, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6000))
    before = produce(kafka, "l-413", 30)
    huge = produce(kafka, "l-413", 1, "--value-file", big)
    after = produce(kafka, "l-413", 30, "--start-seq", 31)
    (huge_id,) = huge.ids
    ep = endpoint(max_body=6000)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline("split", kafka, "l-413", group, lambda_function(ep),
                                      dlq=dlq, batch={"max_records": 100, "max_wait": "300ms"})])

    ep.wait_delivered(before.ids | after.ids, 60 * SLOW, proc=b)
    wait_until(lambda: read_dlq(dlq) or not b.running(), 30 * SLOW, "a dead-letter record")
    stop_cleanly(b)

    no_bad_requests(ep)
    invocations = ep.snapshot()
    refused = [i for i in invocations if i["status"] == 413]
    assert any(len(i["ids"]) > 1 for i in refused), "no batch was refused with 413"
    assert set(delivered_counts(ep).values()) == {1}, "a record was delivered twice"
    assert all(i["body_len"] <= 6000 for i in invocations if i["status"] == 200)
    entries = read_dlq(dlq)
    assert dlq_ids(entries) == [huge_id]
    assert entries[0]["requestContext"]["condition"] == "MaximumPayloadSizeExceeded"
    assert entries[0]["responseContext"]["statusCode"] == 413
    assert huge_id not in ep.delivered()


def test_404_is_dead_lettered_as_non_retryable_without_a_retry(
        kafka, endpoint, bridges, group, tmp_path):
    produced = produce(kafka, "l-404", 20, "--partitions", 2)
    ep = endpoint()
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline("missing", kafka, "l-404", group,
                                      lambda_function(ep, name="missing-fn"), dlq=dlq,
                                      retry={"max_attempts": 5})])

    wait_until(lambda: set(dlq_ids(read_dlq(dlq))) >= produced.ids or not b.running(),
               60 * SLOW, "every record dead-lettered")
    stop_cleanly(b)

    no_bad_requests(ep)
    entries = read_dlq(dlq)
    assert sorted(dlq_ids(entries)) == sorted(produced.ids), "each record once"
    for entry in entries:
        assert entry["requestContext"]["condition"] == "NonRetryableError"
        assert entry["requestContext"]["approximateInvokeCount"] == 1
        assert entry["responseContext"]["statusCode"] == 404
        assert "Function not found" in entry["responseContext"]["body"]
    assert set(ep.seen().values()) == {1}, "a record answered 404 was sent again"


# ------------------------------------------------------------------- check


def test_check_names_secret_key_when_only_access_key_is_set(tmp_path):
    token = "SESSION-TOKEN-NOT-TO-BE-SHOWN"
    path = tmp_path / "lambda.yaml"
    path.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        "pipelines:\n"
        "  - name: a\n"
        "    source: {kafka: {brokers: \"127.0.0.1:9\", topics: [t], group_id: g}}\n"
        "    function:\n"
        "      lambda: {name: orders, endpoint: \"http://127.0.0.1:9\",\n"
        f"               access_key: AKIDONLY, session_token: {token}}}\n")
    r = subprocess.run([helpers.FNBRIDGE, "check", "-c", str(path)], capture_output=True,
                       text=True, timeout=30 * SLOW, env=env_without_aws(),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r.stderr
    assert f"{path}:" in r.stderr and "pipelines[0].function.lambda" in r.stderr, r.stderr
    assert "secret_key" in r.stderr, r.stderr
    assert token not in r.stderr + r.stdout
