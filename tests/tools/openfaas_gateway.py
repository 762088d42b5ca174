#!/usr/bin/env python3
"""openfaas_gateway.py - an OpenFaaS-shaped gateway for fnbridge's openfaas
target tests.

    POST /function/<name>[/...]        synchronous: the function's answer
    POST /async-function/<name>[/...]  202 Accepted, X-Call-Id; the function
                                       then runs in the background and, when
                                       the request had X-Callback-Url, its
                                       result is POSTed there with X-Call-Id,
                                       X-Function-Status, X-Function-Name and
                                       X-Duration-Seconds (as the queue-worker
                                       of OpenFaaS does)

With a password set, every call must carry Basic auth for the user
(default admin) and that password, else 401 (WWW-Authenticate: Basic).
Unknown function names get 404. Scriptable failures: the function answers
500 for its first N calls, for chosen call numbers (1-based, every call
that reached a function counts) or for any call naming chosen record ids;
for an async call the 500 is the X-Function-Status of its callback.

A function is a Python callable f(body, headers) -> (status, body) or body;
the default echoes the request body. Every call is recorded (headers, body,
record ids, answers, callback outcome). CallbackSink is a receiver for the
callbacks. From Python: `gw = OpenFaaSGateway(...)`; from the command line:
`openfaas_gateway.py [options]` prints `LISTEN <port>` (see --help)."""
import argparse
import base64
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_http import (Recorder, Server, event_ids, lower_headers, read_body, send,  # noqa: E402
                       serve_cli)

PATH_RX = re.compile(r"^/(?P<kind>function|async-function)/(?P<name>[^/?]+)(?:/[^?]*)?$")


def echo(body, headers):
    return 200, body


class OpenFaaSGateway(Recorder):
    """The gateway, served from a thread. Options (also attributes):

    functions: {name: callable}; None: every name echoes. Others get 404.
    username, password: Basic auth every call must carry (password None:
        no auth checked).
    fail_first: the first N calls of a function answer 500; fail_calls:
        call numbers (1-based) that do; fail_ids: so does any call naming
        such a record id.
    log: a path; one JSON line per call (bodies left out)."""

    def __init__(self, functions=None, username="admin", password=None, fail_first=0,
                 fail_calls=(), fail_ids=(), log=None, port=0, verbose=False):
        self.lock = threading.Lock()
        self.functions = dict(functions) if functions is not None else None
        self.username = username
        self.password = password
        self.fail_first = fail_first
        self.fail_calls = set(fail_calls)
        self.fail_ids = set(fail_ids)
        self.log = log
        self.verbose = verbose
        self.calls = []             # every request, in arrival order
        self._called = 0
        self._workers = []
        self.server = Server(self._handle, port)
        self.port = self.server.port
        self.url = self.server.url

    def close(self):
        self.server.close()
        for t in list(self._workers):
            t.join(5)

    # ---------------------------------------------------------- assertions

    def snapshot(self):
        with self.lock:
            return [dict(c) for c in self.calls]

    def delivered(self):
        """Record ids of calls the function answered with 2xx (sync: the
        answer; async: the status the function ended with)."""
        return {rid for c in self.snapshot()
                if c["result_status"] is not None and 200 <= c["result_status"] < 300
                for rid in c["ids"]}

    def timeout_detail(self):
        return f"statuses seen: {sorted({c['status'] for c in self.snapshot()})}"

    # -------------------------------------------------------------- serving

    def _handle(self, h, method):
        t = time.monotonic()
        headers = lower_headers(h)
        body = read_body(h) if method in ("POST", "PUT") else b""
        path = h.path.partition("?")[0]
        call = {"time": t, "method": method, "path": h.path, "name": None, "async": None,
                "headers": headers, "body": body, "ids": event_ids(body, headers),
                "user": None, "auth_ok": None, "number": None, "status": None,
                "result_status": None, "result": None, "call_id": None,
                "callback_url": headers.get("x-callback-url"), "callback": None}
        status, extra, answer = self._decide(call, method, path, headers, body)
        call["status"] = status
        self._log(call)
        send(h, status, answer, extra, content_type="text/plain" if status >= 400
             else headers.get("content-type", "application/json"))

    def _decide(self, call, method, path, headers, body):
        m = PATH_RX.match(path)
        if not m or method not in ("POST", "GET", "PUT", "DELETE"):
            return self._record(call, 404, {}, b"404 page not found\n")
        call["name"] = m["name"]
        call["async"] = m["kind"] == "async-function"
        call["user"], password = _basic_auth(headers.get("authorization"))
        with self.lock:
            expected = self.password
            call["auth_ok"] = (expected is None or
                               (call["user"] == self.username and password == expected))
            fn = echo if self.functions is None else self.functions.get(call["name"])
        if not call["auth_ok"]:
            return self._record(call, 401, {"WWW-Authenticate": 'Basic realm="Restricted"'},
                                b"Unauthorized\n")
        if fn is None:
            return self._record(call, 404, {},
                                f"error finding function {call['name']}: not found\n".encode())
        with self.lock:
            self._called += 1
            call["number"] = n = self._called
            fail = (n <= self.fail_first or n in self.fail_calls
                    or bool(self.fail_ids.intersection(call["ids"])))
        if not call["async"]:
            status, out = self._run(fn, fail, body, headers)
            call["result_status"], call["result"] = status, out
            return self._record(call, status, {}, out)
        call["call_id"] = headers.get("x-call-id") or str(uuid.uuid4())
        self._record(call, 202, {}, b"")
        worker = threading.Thread(target=self._run_async, args=(call, fn, fail, body, headers),
                                  daemon=True)
        with self.lock:
            self._workers.append(worker)
        worker.start()
        return 202, {"X-Call-Id": call["call_id"], "X-Start-Time": str(time.time_ns())}, b""

    def _record(self, call, status, extra, answer):
        call["status"] = status
        with self.lock:
            if not any(c is call for c in self.calls):
                self.calls.append(call)
        return status, extra, answer

    @staticmethod
    def _run(fn, fail, body, headers):
        if fail:
            return 500, b"scripted failure\n"
        out = fn(body, headers)
        status, out = out if isinstance(out, tuple) else (200, out)
        return status, out.encode() if isinstance(out, str) else out

    def _run_async(self, call, fn, fail, body, headers):
        t0 = time.monotonic()
        status, out = self._run(fn, fail, body, headers)
        with self.lock:
            call["result_status"], call["result"] = status, out
        url = call["callback_url"]
        if not url:
            return
        req = urllib.request.Request(url, data=out, method="POST", headers={
            "X-Call-Id": call["call_id"], "X-Function-Status": str(status),
            "X-Function-Name": call["name"],
            "X-Duration-Seconds": f"{time.monotonic() - t0:.6f}",
            "Content-Type": headers.get("content-type", "application/json")})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                outcome = {"status": r.status}
        except urllib.error.HTTPError as e:
            outcome = {"status": e.code}
        except OSError as e:
            outcome = {"error": str(e)}
        with self.lock:
            call["callback"] = outcome

    def _log(self, call):
        if self.verbose:
            print(f"{call['status']} {call['path']} {len(call['ids'])} records",
                  file=sys.stderr, flush=True)
        if self.log:
            line = {k: v for k, v in call.items() if k not in ("body", "result")}
            with self.lock, open(self.log, "a") as f:
                f.write(json.dumps(line) + "\n")


def _basic_auth(value):
    """(user, password) of a Basic Authorization header; (None, None) if none."""
    if not value or not value.lower().startswith("basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(value[6:].strip(), validate=True) \
            .decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return user, password


class CallbackSink:
    """Receives the callbacks of async calls: keeps each POST (path,
    headers, body, time) and answers 200."""

    def __init__(self, port=0):
        self.lock = threading.Lock()
        self.received = []
        self.server = Server(self._handle, port)
        self.url = self.server.url

    def _handle(self, h, method):
        rec = {"time": time.monotonic(), "method": method, "path": h.path,
               "headers": lower_headers(h), "body": read_body(h)}
        with self.lock:
            self.received.append(rec)
        send(h, 200, b"")

    def snapshot(self):
        with self.lock:
            return list(self.received)

    def close(self):
        self.server.close()


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="An OpenFaaS-shaped gateway on 127.0.0.1 whose functions echo: "
                    "prints `LISTEN <port>`, serves until SIGTERM/SIGINT.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--function", action="append", metavar="NAME",
                    help="a function it knows (repeatable; default: any name)")
    ap.add_argument("--username", default="admin")
    ap.add_argument("--password", help="Basic auth password every call must carry")
    ap.add_argument("--fail-first", type=int, default=0, metavar="N",
                    help="500 for the first N calls")
    ap.add_argument("--fail-call", type=int, action="append", default=[], metavar="K",
                    help="500 for call number K (repeatable)")
    ap.add_argument("--fail-id", action="append", default=[], metavar="ID",
                    help="500 for any call naming this record id")
    ap.add_argument("--log", metavar="FILE", help="one JSON line per call")
    ap.add_argument("--verbose", action="store_true", help="one line per call on stderr")
    a = ap.parse_args(argv)
    gw = OpenFaaSGateway(functions={n: echo for n in a.function} if a.function else None,
                         username=a.username, password=a.password, fail_first=a.fail_first,
                         fail_calls=a.fail_call, fail_ids=a.fail_id, log=a.log,
                         port=a.port, verbose=a.verbose)
    serve_cli(gw.server)


if __name__ == "__main__":
    main()
