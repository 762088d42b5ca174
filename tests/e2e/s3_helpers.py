"""Helpers for the S3 end-to-end tests: a real s3rver on a free port (data
in the test's directory, buckets configured at start, restart keeps both),
fast object uploads over keep-alive connections, a scripted ListObjectsV2
endpoint (good pages, S3 error documents, malformed XML, a response cut off
mid-body) that records every request so a test can check its SigV4
signature, the S3 event key encoding, and small readers of the events a
capturing function (mqtt_helpers.CaptureFunction) kept."""
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote_plus
from xml.sax.saxutils import escape

from helpers import REPO, SLOW, free_port, wait_until, with_extra

S3RVER = os.environ.get("S3RVER") or str(REPO / "tests" / "node" / "node_modules" / ".bin" / "s3rver")

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
AUTH_RX = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)"
    r"/s3/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$")
AMZ_DATE_RX = re.compile(r"^\d{8}T\d{6}Z$")
SEQUENCER_RX = re.compile(r"^[0-9A-F]{16}$")
EVENT_TIME_RX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
POLL_RX = re.compile(r'^.*\blevel=(\w+)\b.*msg="poll: (\d+) objects listed, (\d+) created, '
                     r'(\d+) removed, (\d+) ms"', re.M)
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def s3_url_path(bucket, key=None):
    """The request path of a bucket or an object: every byte of the key
    percent-encoded except unreserved characters and '/'."""
    path = "/" + quote(bucket, safe="")
    if key is not None:
        path += "/" + quote(key, safe="/")
    return path


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~/")


def s3_encode_key(key):
    """A key as S3 events spell it: space as '+', unreserved characters and
    '/' kept, every other byte of the UTF-8 encoding as %XX (uppercase)."""
    out = []
    for b in key.encode("utf-8"):
        if b == 0x20:
            out.append("+")
        elif b in _UNRESERVED:
            out.append(chr(b))
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def s3_decode_key(encoded):
    """The raw key of an event's object.key."""
    return unquote_plus(encoded, encoding="utf-8", errors="strict")


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def parse_event_time(text):
    """'2026-11-27T11:08:14.000Z' -> aware datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def fmix64(h):
    """MurmurHash3's 64-bit finalizer: spreads FNV-1a's weak low bits."""
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & 0xFFFFFFFFFFFFFFFF
    return h ^ (h >> 33)


def shard_of(key, n):
    """The shard fnbridge gives a key (README, Source s3)."""
    return fmix64(fnv1a64(key.encode("utf-8"))) % n


# ------------------------------------------------------------------- s3rver


def _retrying_request(conn_box, host, port, method, path, body=None, headers=None):
    """One request on a keep-alive connection (conn_box[0]); reconnects once
    when the server closed the idle connection."""
    for attempt in range(2):
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection(host, port, timeout=30 * SLOW)
        conn = conn_box[0]
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn_box[0] = None
            return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), data
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                http.client.CannotSendRequest, http.client.BadStatusLine):
            conn.close()
            conn_box[0] = None
            if attempt:
                raise
    raise AssertionError("unreachable")


class S3rver:
    """s3rver bound to 127.0.0.1 on a free port, data under the test's
    directory, the given buckets configured at start (a Proc of procs, so
    it is stopped at teardown). restart() keeps the port and the data."""

    def __init__(self, procs, buckets=("bucket",), name="s3rver"):
        assert os.access(S3RVER, os.X_OK), f"no s3rver at {S3RVER}: run `make deps`"
        self.procs = procs
        self.name = name
        self.buckets = list(buckets)
        self.dir = Path(procs.workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.endpoint = f"http://{self.host}:{self.port}"
        self.runs = 0
        self.proc = None
        self._local = threading.local()
        self.start()

    def start(self):
        self.runs += 1
        argv = [S3RVER, "-d", self.dir, "-a", self.host, "-p", self.port, "--silent",
                "--no-vhost-buckets"]
        for bucket in self.buckets:
            argv += ["--configure-bucket", bucket]
        # s3rver makes continuation tokens with DES, which the OpenSSL 3 of
        # Node 18+ only offers from its legacy provider: without it every
        # listing longer than one page fails with InternalError.
        env = dict(os.environ)
        env["NODE_OPTIONS"] = (env.get("NODE_OPTIONS", "") + " --openssl-legacy-provider").strip()
        self.proc = self.procs.start(argv, f"{self.name}-{self.runs}", env=env)
        self._local = threading.local()
        self.wait_ready()
        return self

    def wait_ready(self):
        def ready():
            if not self.proc.running():
                raise AssertionError(f"s3rver exited with {self.proc.popen.returncode}:\n"
                                     f"{self.proc.stderr()}")
            try:
                return all(self._request("GET", s3_url_path(b) + "?list-type=2&max-keys=1")[0]
                           == 200 for b in self.buckets)
            except OSError:
                self._local.conn = [None]
                return False
        wait_until(ready, 30 * SLOW, "s3rver to answer", interval=0.1)

    def _request(self, method, path, body=None, headers=None):
        box = getattr(self._local, "conn", None)
        if box is None:
            box = self._local.conn = [None]
        return _retrying_request(box, self.host, self.port, method, path, body, headers)

    def put(self, bucket, key, data):
        """Creates or overwrites an object; returns its ETag (md5 hex, no quotes)."""
        if isinstance(data, str):
            data = data.encode()
        status, headers, body = self._request(
            "PUT", s3_url_path(bucket, key), body=data,
            headers={"Content-Length": str(len(data))})
        assert status == 200, f"PUT {key!r}: HTTP {status} {body[:300]!r}"
        return headers.get("etag", "").strip('"')

    def delete(self, bucket, key):
        status, _, body = self._request("DELETE", s3_url_path(bucket, key))
        assert status in (200, 204), f"DELETE {key!r}: HTTP {status} {body[:300]!r}"

    def put_many(self, bucket, keys, data=b"x", threads=8):
        """Uploads keys from a few threads, each over one keep-alive
        connection; data is bytes or a function of the key. Returns
        {key: etag}."""
        keys = list(keys)
        etags, errors = {}, []
        lock = threading.Lock()

        def work(chunk):
            box = [None]
            try:
                for key in chunk:
                    body = data(key) if callable(data) else data
                    if isinstance(body, str):
                        body = body.encode()
                    status, headers, answer = _retrying_request(
                        box, self.host, self.port, "PUT", s3_url_path(bucket, key), body,
                        {"Content-Length": str(len(body))})
                    if status != 200:
                        raise AssertionError(f"PUT {key!r}: HTTP {status} {answer[:300]!r}")
                    with lock:
                        etags[key] = headers.get("etag", "").strip('"')
            except Exception as e:       # reported by the caller's thread
                with lock:
                    errors.append(e)
            finally:
                if box[0] is not None:
                    box[0].close()

        workers = [threading.Thread(target=work, args=(keys[i::threads],), daemon=True)
                   for i in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(300 * SLOW)
        if errors:
            raise errors[0]
        assert len(etags) == len(set(keys)), f"{len(etags)} of {len(set(keys))} keys uploaded"
        return etags

    def seed(self, bucket, keys, data=lambda key: key.encode()):
        """Volume setup, several times faster than put_many: writes the
        files s3rver's own PUT stores (lib/stores/filesystem.js of the
        pinned 3.7.1): <name>._S3rver_object and its .md5; LastModified is
        the file's mtime. The ._S3rver_metadata.json a PUT also writes
        (content-type only) is left out: s3rver reads a missing one as no
        metadata, and each file costs here. Then checks through
        ListObjectsV2 that s3rver lists every key with its ETag. Only plain
        keys (letters, digits, '/', '_', '.', '-'); changes a test observes
        go through put() and delete(). Returns {key: etag}."""
        root = self.dir / bucket
        assert root.is_dir(), f"bucket {bucket} is not configured"
        etags = {}
        for key in keys:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", key) and \
                "._S3rver_" not in key, f"seed() takes plain keys only: {key!r}"
            body = data(key) if callable(data) else data
            if isinstance(body, str):
                body = body.encode()
            head, _, name = key.rpartition("/")
            folder = root / head if head else root
            folder.mkdir(parents=True, exist_ok=True)
            etags[key] = md5_hex(body)
            (folder / f"{name}._S3rver_object").write_bytes(body)
            (folder / f"{name}._S3rver_object.md5").write_text(etags[key])
        listed = self.list_objects(bucket)
        wrong = [k for k in etags if k not in listed or listed[k]["etag"] != etags[k]]
        assert not wrong, f"s3rver does not list {len(wrong)} seeded objects, e.g. {wrong[:3]}"
        return etags

    def list_objects(self, bucket, prefix=None):
        """Every object, {key: {"etag", "size", "last_modified"}}, with
        ListObjectsV2 (all pages)."""
        objects, token = {}, None
        while True:
            query = [("list-type", "2"), ("max-keys", "1000")]
            if prefix:
                query.append(("prefix", prefix))
            if token:
                query.append(("continuation-token", token))
            qs = "&".join(f"{k}={quote(v, safe='-_.~')}" for k, v in sorted(query))
            status, _, body = self._request("GET", f"{s3_url_path(bucket)}?{qs}")
            assert status == 200, f"list {bucket}: HTTP {status} {body[:300]!r}"
            root = ET.fromstring(body)
            ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            for c in root.findall(f"{ns}Contents"):
                objects[c.findtext(f"{ns}Key")] = {
                    "etag": c.findtext(f"{ns}ETag").strip('"'),
                    "size": int(c.findtext(f"{ns}Size")),
                    "last_modified": c.findtext(f"{ns}LastModified")}
            if root.findtext(f"{ns}IsTruncated") != "true":
                return objects
            token = root.findtext(f"{ns}NextContinuationToken")
            assert token, "truncated listing without NextContinuationToken"

    def list_keys(self, bucket, prefix=None):
        return sorted(self.list_objects(bucket, prefix))

    def stop(self):
        """SIGTERM and wait; returns the exit code."""
        self.proc.signal(signal.SIGTERM)
        return self.proc.wait(20 * SLOW)

    def kill(self):
        """SIGKILL (the whole process group)."""
        self.proc.kill()

    def restart(self):
        """Stops it and starts it again on the same port and data directory."""
        if self.proc.running():
            self.stop()
        return self.start()


# ------------------------------------------------------------- scripted S3


def good():
    """Answer: the listing page asked for."""
    return {"kind": "good"}


def s3_error(status, code, message, retry_after=None):
    """Answer: an S3 error document."""
    return {"kind": "error", "status": status, "code": code, "message": message,
            "retry_after": retry_after}


def plain_error(status=500):
    """Answer: a bare status, no body."""
    return {"kind": "plain", "status": status}


def malformed():
    """Answer: 200 with XML that breaks off after a few objects, claiming
    IsTruncated=false before it breaks (a lenient parser would take the
    listing as complete)."""
    return {"kind": "malformed"}


def cut_off():
    """Answer: the page's XML with its full Content-Length declared, but
    only the first half sent before the connection is closed."""
    return {"kind": "cut_off"}


ERRORS = {
    "NoSuchBucket": s3_error(404, "NoSuchBucket", "The specified bucket does not exist"),
    "AccessDenied": s3_error(403, "AccessDenied", "Access Denied"),
    "SignatureDoesNotMatch": s3_error(
        403, "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided."),
    "SlowDown": s3_error(503, "SlowDown", "Please reduce your request rate.", retry_after=2),
    "InternalError": s3_error(500, "InternalError",
                              "We encountered an internal error. Please try again."),
    "plain500": plain_error(500),
}


def last_modified(t=None):
    t = time.time() if t is None else t
    return datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ScriptedS3:
    """A ListObjectsV2 endpoint on 127.0.0.1 (a free port the OS picks)
    serving one bucket from a script.

    objects: {key: bytes} (etag = md5, size = len, LastModified = when set).
    set_script(default, pages={n: answer}, first=[answers]): the next
    len(first) listing requests get those answers, one each, whatever page
    they ask for; after that page n (1-based, counted by the continuation
    token) gets pages[n] and every other page default. Answers are good(),
    s3_error(...), plain_error(...), malformed(), cut_off().
    Continuation tokens contain '/', '+', '=' and a space, so they must be
    percent-encoded in the query. Every request is kept in requests."""

    def __init__(self, bucket="scripted"):
        self.bucket = bucket
        self.lock = threading.Lock()
        self.objects = {}           # key -> {"etag", "size", "last_modified"}
        self.default = good()
        self.pages = {}
        self.first = []
        self.requests = []          # dicts, in arrival order
        self.ignore_max_keys = False   # True: every object in one page, whatever was asked
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                scripted._handle(self)

            def do_HEAD(self):
                scripted._handle(self)

            def do_PUT(self):
                scripted._handle(self)

            def do_POST(self):
                scripted._handle(self)

            def do_DELETE(self):
                scripted._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # ---------------------------------------------------------------- script

    def set_objects(self, objects, t=None):
        """Replaces the listing: {key: bytes}."""
        stamp = last_modified(t)
        with self.lock:
            self.objects = {k: {"etag": md5_hex(v), "size": len(v), "last_modified": stamp}
                            for k, v in objects.items()}

    def put(self, key, data, t=None):
        with self.lock:
            self.objects[key] = {"etag": md5_hex(data), "size": len(data),
                                 "last_modified": last_modified(t)}

    def delete(self, key):
        with self.lock:
            self.objects.pop(key, None)

    def set_script(self, default=None, pages=None, first=()):
        with self.lock:
            self.default = default or good()
            self.pages = dict(pages or {})
            self.first = list(first)

    # ------------------------------------------------------------- requests

    def count(self, pred=None):
        with self.lock:
            return sum(1 for r in self.requests if pred is None or pred(r))

    def since(self, n):
        with self.lock:
            return list(self.requests[n:])

    def wait_requests(self, n, timeout, pred=None, proc=None, what=None):
        """Waits until n requests (matching pred) have been answered."""
        def enough():
            if proc is not None and not proc.running():
                raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
            return self.count(pred) >= n
        wait_until(enough, timeout * SLOW, what or f"{n} requests at the scripted S3")
        with self.lock:
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # --------------------------------------------------------------- serving

    @staticmethod
    def token(page, start):
        return f"t/{page}+{start}= x"

    @staticmethod
    def _parse_token(token):
        m = re.fullmatch(r"t/(\d+)\+(\d+)= x", token or "")
        return (int(m.group(1)), int(m.group(2))) if m else None

    def _handle(self, h):
        path, _, raw_query = h.path.partition("?")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in h.headers.items()}
        length = int(headers.get("content-length") or 0)
        if length:
            h.rfile.read(length)
        rec = {"method": h.command, "path": path, "raw_query": raw_query, "query": query,
               "headers": headers, "time": time.monotonic(), "page": None, "answer": None}
        if h.command != "GET" or path != f"/{self.bucket}" or query.get("list-type") != "2":
            rec["answer"] = "unsupported"
            self._record(rec)
            self._send_error(h, s3_error(501, "NotImplemented",
                                         f"scripted S3 serves only ListObjectsV2 of "
                                         f"/{self.bucket}"))
            return
        token = query.get("continuation-token")
        if token is None:
            page, start = 1, 0
        else:
            parsed = self._parse_token(token)
            if not parsed:
                rec["answer"] = "bad token"
                self._record(rec)
                self._send_error(h, s3_error(400, "InvalidArgument",
                                             "The continuation token provided is incorrect"))
                return
            page, start = parsed
        rec["page"] = page
        with self.lock:
            answer = (self.first.pop(0) if self.first
                      else self.pages.get(page, self.default))
            objects = sorted(self.objects.items())
        rec["answer"] = answer["kind"] if answer["kind"] != "error" else answer["code"]
        self._record(rec)
        if answer["kind"] == "error":
            self._send_error(h, answer)
            return
        if answer["kind"] == "plain":
            h.send_response(answer["status"])
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        prefix = query.get("prefix", "")
        try:
            max_keys = int(query.get("max-keys", "1000"))
        except ValueError:
            max_keys = 1000
        max_keys = max(1, min(max_keys, 1000))
        if self.ignore_max_keys:
            max_keys = max(1, len(objects))
        listed = [(k, o) for k, o in objects if k.startswith(prefix)]
        chunk = listed[start:start + max_keys]
        truncated = start + max_keys < len(listed)
        url_keys = query.get("encoding-type") == "url"
        body = self._page_xml(prefix, max_keys, chunk, truncated, token,
                              self.token(page + 1, start + max_keys) if truncated else None,
                              url_keys)
        if answer["kind"] == "malformed":
            body = self._malformed_xml(prefix, max_keys, chunk)
        h.send_response(200)
        h.send_header("Content-Type", "application/xml")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if answer["kind"] == "cut_off":
            h.wfile.write(body[:len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        h.wfile.write(body)

    def _record(self, rec):
        with self.lock:
            self.requests.append(rec)

    def _page_xml(self, prefix, max_keys, chunk, truncated, token, next_token, url_keys):
        enc = (lambda k: quote(k, safe="/")) if url_keys else (lambda k: k)
        parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
                 f'<ListBucketResult xmlns="{S3_NS}">',
                 f"<Name>{escape(self.bucket)}</Name><Prefix>{escape(enc(prefix))}</Prefix>",
                 f"<KeyCount>{len(chunk)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>"]
        if url_keys:
            parts.append("<EncodingType>url</EncodingType>")
        parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if token is not None:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if next_token is not None:
            parts.append(f"<NextContinuationToken>{escape(next_token)}</NextContinuationToken>")
        for key, o in chunk:
            parts.append(f"<Contents><Key>{escape(enc(key))}</Key>"
                         f"<LastModified>{o['last_modified']}</LastModified>"
                         f"<ETag>&quot;{o['etag']}&quot;</ETag><Size>{o['size']}</Size>"
                         f"<StorageClass>STANDARD</StorageClass></Contents>")
        parts.append("</ListBucketResult>")
        return "".join(parts).encode("utf-8")

    def _malformed_xml(self, prefix, max_keys, chunk):
        parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
                 f'<ListBucketResult xmlns="{S3_NS}">',
                 f"<Name>{escape(self.bucket)}</Name><Prefix>{escape(prefix)}</Prefix>",
                 f"<KeyCount>{len(chunk)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
                 "<IsTruncated>false</IsTruncated>"]
        if chunk:
            key, o = chunk[0]
            parts.append(f"<Contents><Key>{escape(key)}</Key>"
                         f"<LastModified>{o['last_modified']}</LastModified>"
                         f"<ETag>&quot;{o['etag']}&quot;</ETag><Size>{o['size']}</Sze>"
                         f"</Contents>")
        parts.append("<Contents><Key>broken")
        return "".join(parts).encode("utf-8")

    def _send_error(self, h, answer):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{answer['code']}</Code><Message>{escape(answer['message'])}"
                f"</Message><Resource>/{escape(self.bucket)}</Resource>"
                "<RequestId>4442587FB7D0A2F9</RequestId></Error>").encode()
        h.send_response(answer["status"])
        h.send_header("Content-Type", "application/xml")
        h.send_header("Content-Length", str(len(body)))
        if answer.get("retry_after") is not None:
            h.send_header("Retry-After", str(answer["retry_after"]))
        h.end_headers()
        h.wfile.write(body)


# ------------------------------------------------------------------- SigV4


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _uri_encode(s):
    return quote(s, safe="-_.~")


def sigv4_check(req, secret_key):
    """Recomputes the SigV4 signature of a recorded request (S3 rules: the
    path as sent, sorted query, payload hash from x-amz-content-sha256).
    Returns None when it matches, else what differs."""
    auth = req["headers"].get("authorization", "")
    m = AUTH_RX.match(auth)
    if not m:
        return f"Authorization {auth!r} is not AWS4-HMAC-SHA256 of the expected form"
    h = req["headers"]
    signed = m.group("signed").split(";")
    missing = [name for name in signed if name not in h]
    if missing:
        return f"signed headers {missing} not in the request"
    pairs = sorted((_uri_encode(k), _uri_encode(v)) for k, v in
                   parse_qsl(req["raw_query"], keep_blank_values=True))
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(f"{name}:{' '.join(h[name].strip().split())}\n"
                                for name in signed)
    canonical = "\n".join([req["method"], req["path"] or "/", canonical_query,
                           canonical_headers, ";".join(signed),
                           h.get("x-amz-content-sha256", EMPTY_SHA256)])
    scope = f"{m.group('date')}/{m.group('region')}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", h.get("x-amz-date", ""), scope,
                         hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    k = _hmac(("AWS4" + secret_key).encode("utf-8"), m.group("date"))
    k = _hmac(k, m.group("region"))
    k = _hmac(k, "s3")
    k = _hmac(k, "aws4_request")
    expected = hmac.new(k, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if expected != m.group("signature"):
        return f"signature {m.group('signature')} != {expected}; canonical request:\n{canonical}"
    return None


# ------------------------------------------------------------------ pipeline


def s3_pipeline(name, endpoint, bucket, fn_url, dlq=None, s3=None, **extra):
    """One S3 pipeline as a dict: lambda format to an http function; s3 keys
    are merged over the source's (a None value removes the key), extra keys
    over the pipeline's."""
    source = {"endpoint": endpoint, "bucket": bucket, "region": "us-east-1",
              "access_key": "S3RVER", "secret_key": "S3RVER", "poll_interval": "100ms"}
    for key, value in (s3 or {}).items():
        if value is None:
            source.pop(key, None)
        else:
            source[key] = value
    pipeline = {
        "name": name,
        "source": {"s3": source},
        "batch": {"max_records": 100, "max_wait": "20ms"},
        "function": {"http": {"url": fn_url, "format": "lambda", "timeout": "5s"}},
        "concurrency": 8,
        "retry": {"max_attempts": 3, "backoff": {"initial": "10ms", "max": "200ms"}},
    }
    return with_extra(pipeline, dlq, extra)


# -------------------------------------------------------------------- events


def s3_records(events):
    """Every record of the captured S3 events, in arrival order."""
    return [r for e in list(events) for r in e.get("Records", [])]


def captured_records(fn):
    with fn.lock:
        return s3_records(fn.events)


def record_key(record):
    """A record's object.key as sent (URL-encoded)."""
    return record["s3"]["object"]["key"]


def raw_key(record):
    return s3_decode_key(record_key(record))


def record_id(record):
    """'<bucket>/<encoded key>@<sequencer>', the id batchItemFailures names."""
    s3 = record["s3"]
    return f"{s3['bucket']['name']}/{s3['object']['key']}@{s3['object']['sequencer']}"


def changes(records):
    """[(eventName, raw key)] in order."""
    return [(r["eventName"], raw_key(r)) for r in records]


def created_keys(records):
    return [raw_key(r) for r in records if r["eventName"] == "ObjectCreated:Put"]


def removed_keys(records):
    return [raw_key(r) for r in records if r["eventName"] == "ObjectRemoved:Delete"]


def key_paths(obj, prefix=""):
    """{'a.b.c': type} for every leaf and mapping of a JSON object."""
    out = {}
    for k, v in obj.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            out[path] = dict
            out.update(key_paths(v, path + "."))
        else:
            out[path] = type(v)
    return out


def wait_s3_records(fn, n, timeout, proc=None, pred=None):
    """Waits until the capture function holds n records (matching pred)."""
    def enough():
        if proc is not None and not proc.running():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
        recs = captured_records(fn)
        return len([r for r in recs if pred is None or pred(r)]) >= n
    try:
        wait_until(enough, timeout * SLOW, f"{n} S3 records at the capture function", 0.05)
    except AssertionError as e:
        recs = captured_records(fn)
        raise AssertionError(f"{e}; got {len(recs)}: {changes(recs)[:10]}") from None
    return captured_records(fn)


# ------------------------------------------------------------ fnbridge logs


def poll_lines(proc):
    """[(level, listed, created, removed)] of fnbridge's 'poll:' lines."""
    return [(lvl, int(a), int(b), int(c))
            for lvl, a, b, c, _ in POLL_RX.findall(proc.stderr())]


def wait_polls(proc, after, n=1, timeout=30, idle=False, what=None):
    """Waits until n 'poll:' lines (only idle ones: nothing created or
    removed, when idle) follow the first `after` lines; returns all lines."""
    def enough():
        if not proc.running():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}")
        lines = poll_lines(proc)[after:]
        return len([l for l in lines if not idle or (l[2] == 0 and l[3] == 0)]) >= n
    wait_until(enough, timeout * SLOW,
               what or f"{n} {'idle ' if idle else ''}polls after the first {after}", 0.05)
    return poll_lines(proc)


def wait_quiet(proc, n=2, timeout=30):
    """Waits for n idle polls after what has been logged so far: every
    change found before has settled and nothing new was found."""
    return wait_polls(proc, len(poll_lines(proc)), n, timeout, idle=True)


def error_lines(proc, pattern):
    rx = re.compile(pattern)
    return [l for l in proc.stderr().splitlines() if "level=error" in l and rx.search(l)]


def log_lines(proc, pattern):
    rx = re.compile(pattern)
    return [l for l in proc.stderr().splitlines() if rx.search(l)]


def dlq_keys(entries):
    """The raw keys named by dead-letter entries' source.keys."""
    return [k for e in entries for k in (e.get("source") or {}).get("keys") or []]


def dump(obj):
    return json.dumps(obj, indent=1, ensure_ascii=False)
