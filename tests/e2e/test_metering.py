"""Usage metering (README: Metrics) counts what Lambda bills: a request is a
call the function ran. Calls refused at connect (the function not up yet)
and throttles (429) are not requests and bill nothing; a 500 is a request
and an error. Checked against what a real HTTP function saw, in /status
and in /metrics."""
import json
import os

from helpers import (FNBRIDGE, SLOW, free_port, http_function, kafka_pipeline, produce,
                     stop_cleanly, wait_until)
from test_admin import get, samples, value

TOPICS = {"metering": 1}


def status_of(port):
    return json.loads(get(port, "/status")[2])["pipelines"][0]


def transient_calls(port):
    try:
        return status_of(port)["invocations"]["transient"]
    except OSError:
        return 0            # the admin server is not listening yet


def test_refused_calls_and_throttles_are_not_requests(kafka, timed, procs, group, tmp_path):
    fn_port, admin_port = free_port(), free_port()
    pipeline = kafka_pipeline(
        "orders", kafka, "metering", group, http_function(f"http://127.0.0.1:{fn_port}/fn"),
        dlq=tmp_path / "dlq.jsonl", concurrency=1,
        batch={"max_records": 10, "max_wait": "20ms"},
        retry={"max_attempts": 1000, "backoff": {"initial": "10ms", "max": "50ms"},
               "bisect_on_error": False})
    config = {"state_dir": str(tmp_path / "state"), "log": {"level": "info"},
              "admin": {"listen": f"127.0.0.1:{admin_port}"}, "pipelines": [pipeline]}
    path = tmp_path / "metering.yaml"
    path.write_text(json.dumps(config))
    produced = produce(kafka, "metering", 25)
    b = procs.start([FNBRIDGE, "run", "-c", path], "fnbridge", env=dict(os.environ))

    # Nothing listens on the function's port yet: every call is refused.
    wait_until(lambda: transient_calls(admin_port) >= 3, 30 * SLOW,
               "three refused calls", interval=0.05)
    refused = status_of(admin_port)
    assert refused["function"]["usage"]["requests"] == 0, refused
    assert refused["function"]["usage"]["billed_ms"] == 0, refused

    fn = timed(lambda n, ids: ((429, 0) if n <= 2 else (500, 0) if n == 3 else (200, 0)),
               port=fn_port)
    fn.wait_delivered(produced.ids, 60 * SLOW, proc=b)
    wait_until(lambda: status_of(admin_port)["records"]["delivered"] == 25, 10 * SLOW,
               "the status to count every record delivered")
    calls = fn.snapshot()
    ran = [c for c in calls if c.status != 429]
    doc = status_of(admin_port)
    usage = doc["function"]["usage"]
    assert usage["requests"] == len(ran), (usage, [c.status for c in calls])
    assert usage["throttles"] == 2 and usage["errors"] == 1, usage
    assert usage["billed_ms"] >= len(ran)
    assert doc["invocations"]["throttled"] == 2
    assert doc["invocations"]["transient"] >= refused["invocations"]["transient"] + 1
    metrics = samples(get(admin_port, "/metrics")[2])
    assert value(metrics, "fnbridge_function_requests_total") == len(ran)
    assert value(metrics, "fnbridge_function_throttles_total") == 2
    assert value(metrics, "fnbridge_function_errors_total") == 1
    stop_cleanly(b)
