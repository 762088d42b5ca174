"""A function server for the circuit breaker, rate limit and max_inflight
tests: a real HTTP server on 127.0.0.1 (tests/tools/fake_http.py) that
notes, for every call, when it arrived and when its answer was sent
(time.monotonic(), the clock fnbridge's timers also run on) and which
records it carried, and answers as the test's policy says.

policy(n, ids) -> (status, delay_s): n counts calls from 1 in arrival
order; the answer is sent delay_s after arrival (0: at once)."""
import sys
import threading
import time

from helpers import REPO, wait_until

sys.path.insert(0, str(REPO / "tests" / "tools"))
from fake_http import Server, event_ids, read_body, send  # noqa: E402


class Call:
    def __init__(self, n, ids, arrived):
        self.n = n
        self.ids = ids
        self.arrived = arrived
        self.answered = None        # when the answer was sent
        self.status = None


class TimedFunction:
    def __init__(self, policy, port=0):
        self.policy = policy
        self.lock = threading.Lock()
        self.calls = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.server = Server(self._handle, port)
        self.url = self.server.url + "/fn"

    def _handle(self, h, method):
        body = read_body(h)
        arrived = time.monotonic()
        ids = event_ids(body)
        with self.lock:
            call = Call(len(self.calls) + 1, ids, arrived)
            self.calls.append(call)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        status, delay = self.policy(call.n, ids)
        if delay > 0:
            time.sleep(delay)
        with self.lock:
            call.answered = time.monotonic()
            call.status = status
            self.in_flight -= 1
        send(h, status, b'{"ok":true}' if status == 200 else b'{"error":"injected"}')

    def snapshot(self):
        """The calls so far, in arrival order (answered or not)."""
        with self.lock:
            return list(self.calls)

    def delivered(self):
        with self.lock:
            return {rid for c in self.calls if c.status == 200 for rid in c.ids}

    def wait_calls(self, n, timeout, proc=None):
        """Waits until n calls arrived and were answered; returns them all."""
        def enough():
            if proc is not None and not proc.running():
                raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
            calls = self.snapshot()
            return calls if len(calls) >= n and all(
                c.answered for c in calls[:n]) else None
        return wait_until(enough, timeout, f"{n} calls at the function")

    def wait_delivered(self, ids, timeout, proc=None):
        ids = set(ids)

        def done():
            if proc is not None and not proc.running():
                raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
            return ids <= self.delivered()
        try:
            wait_until(done, timeout, f"{len(ids)} records delivered")
        except AssertionError as e:
            missing = ids - self.delivered()
            raise AssertionError(f"{e}: {len(missing)} missing, e.g. "
                                 f"{sorted(missing)[:5]}") from None

    def close(self):
        self.server.close()
