#!/usr/bin/env python3
"""bootstrap.py - an AWS Lambda custom runtime in Python, standard library only.

_HANDLER=function.handler imports function.py from $LAMBDA_TASK_ROOT and
calls handler(event, context) for each event; the JSON of what it returns
is the response, an exception is a function error.

It speaks only the documented Lambda Runtime API, so it runs unchanged on
AWS Lambda (provided.al2023) and under fnbridge's exec mode runtime-api.
"""
import http.client
import importlib
import json
import os
import sys
import time
import traceback

API_HOST = os.environ["AWS_LAMBDA_RUNTIME_API"]
API_PATH = "/2018-06-01/runtime"
# One kept-alive connection, straight to the API (http.client uses no proxy,
# so one set for the function's own calls does not apply here).
connection = None


class Context:
    """The context object Lambda passes to Python handlers (the common part)."""

    def __init__(self, headers):
        self.aws_request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def request(path, body=None, headers=None):
    """GET (body None) or POST to the Runtime API; returns (status, body,
    headers). No timeout: /invocation/next waits as long as there is no
    event. A connection the API closed is opened again, once."""
    global connection
    for attempt in (1, 2):
        if connection is None:
            connection = http.client.HTTPConnection(API_HOST)
        try:
            connection.request("GET" if body is None else "POST", API_PATH + path,
                               body=body, headers=headers or {})
            resp = connection.getresponse()
            return resp.status, resp.read(), resp.headers
        except (http.client.HTTPException, OSError):
            connection.close()
            connection = None
            if attempt == 2:
                raise


def post(path, body, headers=None):
    """A response or an error; one the API refuses is logged, not fatal."""
    status, answer, _ = request(path, body,
                                {"Content-Type": "application/json", **(headers or {})})
    if status >= 300:
        print(f"runtime: POST {path}: {status} {answer[:200]!r}", file=sys.stderr)


def post_error(path, exc):
    error_type = type(exc).__name__
    post(path, json.dumps({
        "errorMessage": str(exc), "errorType": error_type,
        "stackTrace": traceback.format_exception(exc)}).encode(),
        {"Lambda-Runtime-Function-Error-Type": error_type})


def load_handler():
    """'dir/module.function' from LAMBDA_TASK_ROOT, as Lambda reads _HANDLER."""
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", "."))
    module = importlib.import_module(module_name.replace("/", "."))
    return getattr(module, function_name)


def main():
    sys.stdout.reconfigure(line_buffering=True)   # handler prints are logs
    try:
        handler = load_handler()
    except Exception as e:    # noqa: BLE001 - any import failure is an init error
        post_error("/init/error", e)
        sys.exit(1)
    while True:
        try:
            status, body, headers = request("/invocation/next")
        except (http.client.HTTPException, OSError) as e:   # the API is gone: stopped
            sys.exit(f"runtime: {e}")
        if status != 200:
            sys.exit(f"runtime: GET /invocation/next: {status} {body[:200]!r}")
        context = Context(headers)
        path = f"/invocation/{context.aws_request_id}"
        try:
            result = handler(json.loads(body) if body else None, context)
            response = json.dumps(result).encode()
        except Exception as e:    # noqa: BLE001 - the function's error, reported
            post_error(path + "/error", e)
            continue
        post(path + "/response", response)


if __name__ == "__main__":
    main()
