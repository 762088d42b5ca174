"""`fnbridge invoke`: one event, as the user gives it, through a pipeline's
function and retry policy (README: Running it). The pipeline's source is never
contacted (its brokers here do not exist) and nothing is dead-lettered."""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from helpers import REPO, run_fnbridge, write_config

NO_BROKER = "127.0.0.1:1"     # nothing listens: invoke must not need it

HANDLER = r"""
import json, os, sys
body = sys.stdin.buffer.read()
with open(os.environ["CALLS"], "ab") as f:
    f.write(body + b"\n")
event = json.loads(body)
if isinstance(event, dict) and event.get("partial"):
    print(json.dumps({"batchItemFailures": [{"itemIdentifier": "orders-0-100"}]}))
    sys.exit(0)
if isinstance(event, dict) and event.get("fail"):
    print(json.dumps({"errorMessage": "asked to fail", "errorType": "Boom"}))
    sys.exit(3)
print(json.dumps({"echo": event}))
"""


def exec_pipeline(tmp_path, name="orders", max_attempts=3):
    handler = tmp_path / "handler.py"
    handler.write_text(HANDLER)
    calls = tmp_path / "calls.jsonl"
    return {
        "name": name,
        "source": {"kafka": {"brokers": NO_BROKER, "topics": ["t"], "group_id": "g"}},
        "function": {"exec": {"command": [sys.executable, str(handler)],
                              "env": {"CALLS": str(calls)}, "timeout": "20s"}},
        "retry": {"max_attempts": max_attempts,
                  "backoff": {"initial": "10ms", "max": "50ms"}},
    }, calls


def calls_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_event_from_stdin_reaches_the_function_and_its_answer_is_printed(tmp_path):
    pipeline, calls = exec_pipeline(tmp_path)
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state")
    event = {"orderId": 7, "items": ["a", "b"], "note": "ünï"}
    r = run_fnbridge("invoke", "-c", config, "--pipeline", "orders", "--event", "-",
                     input=json.dumps(event))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"echo": event}
    assert calls_of(calls) == [event]
    assert "orders: ok" in r.stderr and "1 attempt" in r.stderr
    # Nothing of the pipeline's state is touched: no dead-letter file.
    assert not (tmp_path / "state" / "dlq").exists()


def test_event_from_a_file_and_the_default_empty_event(tmp_path):
    pipeline, calls = exec_pipeline(tmp_path)
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state")
    (tmp_path / "e.json").write_text('[1, 2, {"x": null}]')
    r = run_fnbridge("invoke", "-c", config, "-p", "orders", "-e", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    r = run_fnbridge("invoke", "-c", config, "-p", "orders")
    assert r.returncode == 0, r.stderr
    assert calls_of(calls) == [[1, 2, {"x": None}], {}]


def test_a_partial_batch_answer_is_printed_not_acted_on(tmp_path):
    """The event's records are the user's: a batchItemFailures list in the
    answer names them, not anything fnbridge would retry."""
    pipeline, calls = exec_pipeline(tmp_path, max_attempts=3)
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state")
    r = run_fnbridge("invoke", "-c", config, "-p", "orders", "-e", "-", input='{"partial": 1}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"batchItemFailures": [{"itemIdentifier": "orders-0-100"}]}
    assert len(calls_of(calls)) == 1


def test_a_function_error_is_retried_by_policy_then_exit_1(tmp_path):
    pipeline, calls = exec_pipeline(tmp_path, max_attempts=3)
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state")
    (tmp_path / "e.json").write_text('{"fail": true}')
    r = run_fnbridge("invoke", "-c", config, "-p", "orders", "-e", tmp_path / "e.json")
    assert r.returncode == 1, r.stderr
    assert len(calls_of(calls)) == 3          # retry.max_attempts
    assert json.loads(r.stdout)["errorType"] == "Boom"
    assert "RetryAttemptsExhausted" in r.stderr and "3 attempts" in r.stderr
    assert "exit status 3" in r.stderr
    assert not (tmp_path / "state" / "dlq").exists()


class Scripted:
    """An HTTP function that answers 429 + Retry-After to its first calls,
    then 200 with a JSON body; keeps each request's body, content type and
    arrival time."""

    def __init__(self, throttle=1, retry_after="1"):
        self.requests = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                scripted.requests.append((time.monotonic(), body,
                                          self.headers.get("Content-Type")))
                if len(scripted.requests) <= throttle:
                    self._answer(429, b'{"message":"slow down"}', retry_after)
                else:
                    self._answer(200, b'{"statusCode":200,"n":%d}' % len(scripted.requests))

            def _answer(self, status, body, retry_after=None):
                self.send_response(status)
                if retry_after:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fn"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_http_target_gets_the_exact_bytes_and_429_is_honoured(tmp_path):
    fn = Scripted(throttle=1, retry_after="1")
    try:
        pipeline = {
            "name": "web",
            "source": {"mqtt": {"url": "mqtt://" + NO_BROKER, "client_id": "c",
                                "topics": ["x"]}},
            "function": {"http": {"url": fn.url, "timeout": "5s"}},
            "retry": {"max_attempts": 4, "backoff": {"initial": "10ms", "max": "20ms"}},
        }
        config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state")
        raw = b'{ "spaced" :  [1,2] ,"k":"v" }'
        (tmp_path / "e.json").write_bytes(raw)
        r = run_fnbridge("invoke", "-c", config, "-p", "web", "-e", tmp_path / "e.json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"statusCode": 200, "n": 2}
        assert [body for _, body, _ in fn.requests] == [raw, raw]    # sent as given
        assert {ct for _, _, ct in fn.requests} == {"application/json"}
        waited = fn.requests[1][0] - fn.requests[0][0]
        assert waited >= 0.9, f"Retry-After: 1 honoured, but retried after {waited:.2f}s"
        assert "2 attempts" in r.stderr
    finally:
        fn.close()


def test_usage_and_input_errors_exit_2_and_say_why(tmp_path):
    pipeline, calls = exec_pipeline(tmp_path)
    other, _ = exec_pipeline(tmp_path, name="billing")
    config = write_config(tmp_path / "c.json", [pipeline, other], tmp_path / "state")

    r = run_fnbridge("invoke", "-c", config, "-p", "nope")
    assert r.returncode == 2
    assert 'no pipeline named "nope"' in r.stderr and "orders billing" in r.stderr

    (tmp_path / "bad.json").write_text('{"a": 1,\n "b": }')
    r = run_fnbridge("invoke", "-c", config, "-p", "orders", "-e", tmp_path / "bad.json")
    assert r.returncode == 2
    assert f"{tmp_path / 'bad.json'}:2:" in r.stderr and "not JSON" in r.stderr

    r = run_fnbridge("invoke", "-c", config, "-p", "orders", "-e", tmp_path / "missing.json")
    assert r.returncode == 2 and "No such file" in r.stderr

    r = run_fnbridge("invoke", "-c", config)
    assert r.returncode == 2 and "--pipeline NAME" in r.stderr

    r = run_fnbridge("run", "-c", config, "--event", "x.json")
    assert r.returncode == 2 and "invalid option for 'run'" in r.stderr
    assert not calls.exists()                 # nothing was invoked

    r = run_fnbridge("help", "invoke")
    assert r.returncode == 0 and "--event FILE|-" in r.stdout


sys.path.insert(0, str(REPO / "tests" / "tools"))
from lambda_endpoint import LambdaEndpoint  # noqa: E402
from openfaas_gateway import OpenFaaSGateway  # noqa: E402

KEY, SECRET = "AKIDINVOKETEST", "invoke/secret/key/EXAMPLE"


def test_lambda_target_signed_and_a_function_error_exits_1(tmp_path):
    ep = LambdaEndpoint(functions={"orders"}, credentials={KEY: SECRET}, region="eu-west-1",
                        error_first=2)
    try:
        pipeline = {
            "name": "aws",
            "source": {"kafka": {"brokers": NO_BROKER, "topics": ["t"], "group_id": "g"}},
            "function": {"lambda": {"name": "orders", "endpoint": ep.endpoint,
                                    "region": "eu-west-1", "access_key": KEY,
                                    "secret_key": SECRET, "timeout": "5s"}},
            "retry": {"max_attempts": 2, "backoff": {"initial": "10ms", "max": "20ms"}},
        }
        config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state")
        (tmp_path / "e.json").write_text('{"orderId": 9}')
        r = run_fnbridge("invoke", "-c", config, "-p", "aws", "-e", tmp_path / "e.json")
        assert r.returncode == 1, r.stderr
        assert "RetryAttemptsExhausted" in r.stderr and "Unhandled" in r.stderr
        assert json.loads(r.stdout)["errorType"]          # the function's error body
        r = run_fnbridge("invoke", "-c", config, "-p", "aws", "-e", tmp_path / "e.json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["ok"] is True
        calls = ep.snapshot()
        assert len(calls) == 3 and not ep.bad()            # every request well signed
        assert {c["body"] for c in calls} == {b'{"orderId": 9}'}
    finally:
        ep.close()


def test_openfaas_target(tmp_path):
    gw = OpenFaaSGateway(functions={"fn": lambda body, headers: (200, b'{"seen":' + body + b"}")},
                         password="pw")
    try:
        pipeline = {
            "name": "faas",
            "source": {"kafka": {"brokers": NO_BROKER, "topics": ["t"], "group_id": "g"}},
            "function": {"openfaas": {"gateway": gw.url, "name": "fn", "password": "pw"}},
        }
        config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state")
        r = run_fnbridge("invoke", "-c", config, "-p", "faas", "-e", "-", input='{"x": 1}')
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"seen": {"x": 1}}
    finally:
        gw.close()


def test_runtime_api_worker_answers_and_is_gone_after_invoke(tmp_path):
    """A Lambda handler behind exec runtime-api (the example Python runtime):
    the worker is started for the one event (a cold start) and stopped when
    invoke exits."""
    (tmp_path / "fn.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        "    return {'echo': event, 'name': context.function_name, 'pid': os.getpid(),\n"
        "            'left_ms': context.get_remaining_time_in_millis()}\n")
    pipeline = {
        "name": "local",
        "source": {"kafka": {"brokers": NO_BROKER, "topics": ["t"], "group_id": "g"}},
        "function": {"exec": {
            "command": [sys.executable, str(REPO / "config/examples/runtime/bootstrap.py")],
            "mode": "runtime-api", "handler": "fn.handler", "cwd": str(tmp_path),
            "timeout": "20s"}},
    }
    config = write_config(tmp_path / "c.json", [pipeline], tmp_path / "state")
    r = run_fnbridge("invoke", "-c", config, "-p", "local", "-e", "-", input='{"n": [1, 2]}')
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["echo"] == {"n": [1, 2]} and answer["name"] == "local"
    assert 0 < answer["left_ms"] <= 20000
    assert not os.path.exists(f"/proc/{answer['pid']}"), "the worker outlived invoke"
