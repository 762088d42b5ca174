#!/usr/bin/env python3
"""bootstrap.py - an AWS Lambda custom runtime in Python, standard library only.

_HANDLER=function.handler imports function.py from $LAMBDA_TASK_ROOT and
calls handler(event, context) for each event; the JSON of what it returns
is the response, an exception is a function error.

It speaks only the documented Lambda Runtime API, so it runs unchanged on
AWS Lambda (provided.al2023) and under fnbridge's exec mode runtime-api.
"""
import importlib
import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
# Straight to the API: a proxy set for the function's own calls must not apply.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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
    """GET (body None) or POST to the Runtime API; returns (body, headers).
    No timeout: /invocation/next waits as long as there is no event."""
    req = urllib.request.Request(API + path, data=body, headers=headers or {})
    with OPENER.open(req) as resp:
        return resp.read(), resp.headers


def post(path, body, headers=None):
    """A response or an error; one the API refuses is logged, not fatal."""
    try:
        request(path, body, {"Content-Type": "application/json", **(headers or {})})
    except urllib.error.HTTPError as e:
        print(f"runtime: POST {path}: {e}", file=sys.stderr)


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
            body, headers = request("/invocation/next")
        except OSError as e:      # the API is gone: this worker was stopped
            sys.exit(f"runtime: {e}")
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
