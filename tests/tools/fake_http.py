"""fake_http.py - what the Python fake platforms (lambda_endpoint.py,
openfaas_gateway.py) share: a threaded HTTP/1.1 server on 127.0.0.1, request
bodies read whole (Content-Length or chunked), the record ids an event
names, and the command-line convention (print `LISTEN <port>`, serve until
SIGTERM or SIGINT, exit 0).

Standard library only, so the tools run with any python3."""
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def read_body(h):
    """The request body of handler h: Content-Length bytes, or every chunk of
    a chunked body. (BaseHTTPRequestHandler answers Expect: 100-continue
    itself, so a client that waits for it gets it.)"""
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(h.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass            # trailers
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    return h.rfile.read(int(h.headers.get("Content-Length") or 0))


def lower_headers(h):
    """{lowercase name: value}; repeated headers joined with ',' (as SigV4's
    canonical headers join them)."""
    out = {}
    for name, value in h.headers.items():
        name = name.lower()
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def event_ids(body, headers=None):
    """The record ids an event names, in order: lambda Kafka events
    (`<topic>-<partition>-<offset>`), json events (`id`), CloudEvents batches
    or binary mode (`id` / ce-id header), lambda S3 events
    (`<bucket>/<key>@<sequencer>`). [] when body is none of these."""
    if headers and "ce-id" in headers:
        return [headers["ce-id"]]
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    if isinstance(event, list):
        return [e["id"] for e in event if isinstance(e, dict) and "id" in e]
    if not isinstance(event, dict):
        return []
    records = event.get("records")
    if isinstance(records, dict):
        return [f"{r['topic']}-{r['partition']}-{r['offset']}"
                for batch in records.values() for r in batch]
    if isinstance(records, list):
        return [r["id"] for r in records if isinstance(r, dict) and "id" in r]
    if isinstance(event.get("Records"), list):
        ids = []
        for r in event["Records"]:
            s3 = r.get("s3") or {}
            obj = s3.get("object") or {}
            ids.append(f"{(s3.get('bucket') or {}).get('name')}/{obj.get('key')}"
                       f"@{obj.get('sequencer')}")
        return ids
    return []


def kafka_coordinates(body):
    """[(topic, partition, offset)] of a lambda Kafka event, in body order."""
    try:
        event = json.loads(body)
        return [(r["topic"], r["partition"], r["offset"])
                for batch in event["records"].values() for r in batch]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        return []


def send(h, status, body=b"", headers=None, content_type="application/json"):
    """One complete answer on a keep-alive connection."""
    if isinstance(body, str):
        body = body.encode()
    h.send_response(status)
    if body or status not in (202, 204):
        h.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        h.send_header(name, str(value))
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if body and h.command != "HEAD":
        h.wfile.write(body)


class Server:
    """A ThreadingHTTPServer on 127.0.0.1:port (0: the OS picks) whose
    requests go to handle(h, method); served from a daemon thread."""

    def __init__(self, handle, port=0):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"       # keep-alive, as libcurl uses it

            def do_POST(self):
                handle(self, "POST")

            def do_GET(self):
                handle(self, "GET")

            def do_PUT(self):
                handle(self, "PUT")

            def do_DELETE(self):
                handle(self, "DELETE")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_cli(server):
    """Prints `LISTEN <port>` and serves until SIGTERM/SIGINT; exit 0."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"LISTEN {server.port}", flush=True)
    while not stop.wait(0.5):
        pass
    server.close()
    sys.exit(0)


class Recorder:
    """What both fakes answer tests with, over the calls they recorded:
    a subclass gives snapshot() (each call a dict with "ids") and
    delivered() (the ids answered with success)."""

    def seen(self):
        """{record id: number of calls that carried it}."""
        counts = {}
        for c in self.snapshot():
            for rid in c["ids"]:
                counts[rid] = counts.get(rid, 0) + 1
        return counts

    def refused(self):
        """Why a call that can never succeed was refused, or None."""
        return None

    def timeout_detail(self):
        return ""

    def wait_delivered(self, ids, timeout, proc=None):
        """Waits until every id has been delivered; fails at once if proc
        (a helpers.Proc) exits meanwhile or refused() names a reason."""
        ids = set(ids)
        deadline = time.monotonic() + timeout
        while not ids <= self.delivered():
            if proc is not None and not proc.running():
                raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
            why = self.refused()
            if why:
                raise AssertionError(why)
            if time.monotonic() >= deadline:
                missing = ids - self.delivered()
                raise AssertionError(f"timed out after {timeout:.0f} s: {len(missing)} of "
                                     f"{len(ids)} records not delivered, e.g. "
                                     f"{sorted(missing)[:5]}; {self.timeout_detail()}")
            time.sleep(0.02)
