#!/usr/bin/env python3
"""lambda_endpoint.py - a test endpoint speaking the AWS Lambda Invoke API,
for fnbridge's lambda target.

    POST /2015-03-31/functions/<name>/invocations[?Qualifier=<q>]
    X-Amz-Invocation-Type: RequestResponse | Event | DryRun
    Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...

Every request is checked as AWS would: the path's shape, the invocation
type, and the SigV4 Authorization header (form, service `lambda`, region,
signed headers including host and x-amz-date, x-amz-date within 15 minutes
and on the credential's day; with the secret known, the signature itself,
recomputed; with a session token expected, X-Amz-Security-Token). A request
that fails a check is answered as AWS answers it (403 with x-amzn-ErrorType
InvalidSignatureException or UnrecognizedClientException, 404
UnknownOperationException, 400 InvalidParameterValueException /
InvalidRequestContentException) and counted in `bad`.

Then, scriptable: 404 ResourceNotFoundException for function names it does
not know; 413 RequestEntityTooLargeException above a body size (and always
above Lambda's own limits, 6 MiB synchronous and 1 MiB Event); 429
TooManyRequestsException with Retry-After for the first N invocations;
function errors (200, X-Amz-Function-Error: Unhandled, body
{"errorMessage","errorType"}) for the first N synchronous invocations or
any naming chosen record ids; Event: 202 with an empty body; otherwise
200 {"ok":true,"records":n}.

Every invocation is recorded (headers, body, record ids, answer, timestamps).
From Python: `ep = LambdaEndpoint(...)`; from the command line:
`lambda_endpoint.py [options]` prints `LISTEN <port>` (see --help)."""
import argparse
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
from datetime import datetime, timezone
from urllib.parse import quote, unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_http import (Recorder, Server, event_ids, lower_headers, read_body, send,  # noqa: E402
                       serve_cli)

SYNC_LIMIT = 6 << 20        # Lambda's request limits (the API refuses more)
EVENT_LIMIT = 1 << 20
MAX_SKEW = 15 * 60          # AWS refuses a signature further off than this

PATH_RX = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
AUTH_RX = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)"
    r"/(?P<service>[a-z0-9-]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;._-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$")
AMZ_DATE_RX = re.compile(r"^(\d{8})T\d{6}Z$")
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


# --------------------------------------------------------------------- SigV4


def _uri_encode(s, safe=""):
    """SigV4's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ (and safe) as %XX."""
    return quote(s, safe=safe)


def canonical_query(raw_query):
    """Parameters decoded, then encoded once, sorted by name then value."""
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        pairs.append((_uri_encode(unquote(name)), _uri_encode(unquote(value))))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(method, raw_path, raw_query, headers, signed, payload_hash):
    """The canonical request of every service but S3: the path as sent,
    encoded once more (so a name sent as arn%3A... is signed as
    arn%253A..., as the AWS SDKs do)."""
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].strip().split())}\n"
                                for name in signed)
    return "\n".join([method, _uri_encode(raw_path or "/", safe="/"),
                      canonical_query(raw_query), canonical_headers, ";".join(signed),
                      payload_hash])


def signature(secret_key, date, region, service, amz_date, canonical):
    def mac(key, msg):
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    k = mac(("AWS4" + secret_key).encode("utf-8"), date)
    for part in (region, service, "aws4_request"):
        k = mac(k, part)
    return hmac.new(k, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


class AuthError(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def check_sigv4(method, raw_path, raw_query, headers, body, credentials=None,
                region=None, service="lambda", now=None, max_skew=MAX_SKEW):
    """Checks a request's SigV4 Authorization header. headers: {lowercase
    name: value}; credentials: {access key: (secret, session token or
    None)}, or None to check only the form (any key). Returns
    {"key", "region", "signed", "verified"}; raises AuthError (with AWS's
    error type) naming what is wrong."""
    bad = "InvalidSignatureException"
    auth = headers.get("authorization")
    if not auth:
        raise AuthError("MissingAuthenticationTokenException", "no Authorization header")
    m = AUTH_RX.match(auth)
    if not m:
        raise AuthError(bad, f"Authorization is not well formed AWS4-HMAC-SHA256: {auth!r}")
    if m["service"] != service:
        raise AuthError(bad, f"credential scope names service {m['service']!r}, not {service!r}")
    if region and m["region"] != region:
        raise AuthError(bad, f"credential scope names region {m['region']!r}, not {region!r}")
    signed = m["signed"].split(";")
    if signed != sorted(signed) or len(set(signed)) != len(signed):
        raise AuthError(bad, f"SignedHeaders {m['signed']!r} not sorted and unique")
    for required in ("host", "x-amz-date"):
        if required not in signed:
            raise AuthError(bad, f"SignedHeaders {m['signed']!r} lacks {required}")
    missing = [name for name in signed if name not in headers]
    if missing:
        raise AuthError(bad, f"signed headers {missing} are not in the request")
    amz_date = headers.get("x-amz-date", "")
    d = AMZ_DATE_RX.match(amz_date)
    if not d:
        raise AuthError(bad, f"X-Amz-Date {amz_date!r} is not YYYYMMDDTHHMMSSZ")
    if d[1] != m["date"]:
        raise AuthError(bad, f"credential date {m['date']} is not X-Amz-Date's {amz_date}")
    if max_skew is not None:
        t = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        skew = abs((now if now is not None else time.time()) - t.timestamp())
        if skew > max_skew:
            raise AuthError(bad, f"Signature expired: X-Amz-Date {amz_date} is {skew:.0f} s off")
    payload_hash = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != payload_hash:
        raise AuthError(bad, f"X-Amz-Content-Sha256 {claimed} is not the body's {payload_hash}")
    info = {"key": m["key"], "region": m["region"], "signed": signed, "verified": False}
    if credentials is None:
        return info
    if m["key"] not in credentials:
        raise AuthError("UnrecognizedClientException",
                        f"The security token included in the request is invalid "
                        f"(unknown access key {m['key']!r})")
    secret, token = credentials[m["key"]]
    if headers.get("x-amz-security-token") != token:
        sent = "no" if "x-amz-security-token" not in headers else "a different"
        raise AuthError("UnrecognizedClientException",
                        f"The security token included in the request is invalid "
                        f"({sent} X-Amz-Security-Token)" if token else
                        "The security token included in the request is invalid "
                        "(X-Amz-Security-Token sent for long-term keys)")
    canonical = canonical_request(method, raw_path, raw_query, headers, signed, payload_hash)
    expected = signature(secret, m["date"], m["region"], service, amz_date, canonical)
    if not hmac.compare_digest(expected, m["signature"]):
        raise AuthError(bad, "The request signature we calculated does not match the "
                             f"signature you provided; canonical request:\n{canonical}")
    info["verified"] = True
    return info


# ------------------------------------------------------------------ endpoint


class LambdaEndpoint(Recorder):
    """The endpoint, served from a thread. Options (also attributes, which a
    test may change at any time):

    functions: names (or ARNs) it knows, as they appear decoded in the path;
        None: every name. Others get 404 ResourceNotFoundException.
    credentials: {access key: secret} or {access key: (secret, token)}; a
        request must be signed by one of them. None: any well formed
        signature is accepted (not recomputed).
    region: the region the signature's scope must name (None: any).
    max_body: bodies above this many bytes get 413 (Lambda's own limits
        apply whatever this is).
    throttle_first, retry_after: the first N invocations get 429 with
        Retry-After: retry_after (seconds; None: no header).
    error_first: the first N synchronous invocations that get that far
        answer a function error; error_ids: so does any naming such an id.
    respond(inv) -> (status, headers, body) or None: the answer to a
        successful synchronous invocation (default 200 {"ok":true,...}).
    log: a path; one JSON line per invocation (bodies left out)."""

    def __init__(self, functions=None, credentials=None, region=None, max_body=None,
                 throttle_first=0, retry_after=1, error_first=0, error_ids=(),
                 respond=None, log=None, port=0, verbose=False):
        self.lock = threading.Lock()
        self.functions = set(functions) if functions is not None else None
        self.credentials = self._credentials(credentials)
        self.region = region
        self.max_body = max_body
        self.throttle_first = throttle_first
        self.retry_after = retry_after
        self.error_first = error_first
        self.error_ids = set(error_ids)
        self.respond = respond
        self.log = log
        self.verbose = verbose
        self.invocations = []       # every request, in arrival order
        self._allow_bad = False
        self._throttled = 0
        self._errored = 0
        self.server = Server(self._handle, port)
        self.port = self.server.port
        self.endpoint = self.server.url

    @staticmethod
    def _credentials(creds):
        if creds is None:
            return None
        return {k: (v, None) if isinstance(v, str) else (v[0], v[1])
                for k, v in creds.items()}

    def set_credentials(self, creds):
        with self.lock:
            self.credentials = self._credentials(creds)

    def close(self):
        self.server.close()

    # ---------------------------------------------------------- assertions

    def snapshot(self):
        with self.lock:
            return list(self.invocations)

    def bad(self):
        """Requests refused as malformed or wrongly signed."""
        return [i for i in self.snapshot() if i["bad"]]

    def delivered(self):
        """Record ids of invocations answered with success (200 without a
        function error, or 202 for Event)."""
        return {rid for i in self.snapshot() if i["answer"] in ("ok", "accepted")
                for rid in i["ids"]}

    def wait_delivered(self, ids, timeout, proc=None, allow_bad=False):
        """Recorder's, and unless allow_bad it fails as soon as a request is
        refused as malformed (the records would never arrive)."""
        self._allow_bad = allow_bad
        return super().wait_delivered(ids, timeout, proc)

    def refused(self):
        bad = [] if self._allow_bad else self.bad()
        return (f"{len(bad)} requests refused as malformed; the first: {bad[0]['error']}"
                if bad else None)

    def timeout_detail(self):
        return f"bad requests: {[i['error'] for i in self.bad()][:3]}"

    # -------------------------------------------------------------- serving

    def _handle(self, h, method):
        t = time.monotonic()
        raw_path, _, raw_query = h.path.partition("?")
        headers = lower_headers(h)
        body = read_body(h) if method in ("POST", "PUT") else b""
        inv = {"time": t, "wall": time.time(), "method": method, "path": raw_path,
               "raw_query": raw_query, "headers": headers, "body": body,
               "body_len": len(body), "function": None, "qualifier": None,
               "invocation_type": headers.get("x-amz-invocation-type"),
               "ids": event_ids(body), "auth": None, "bad": False, "error": None,
               "status": None, "answer": None}
        status, answer_headers, answer = self._decide(inv, method, raw_path, raw_query,
                                                      headers, body)
        inv["status"] = status
        with self.lock:
            self.invocations.append(inv)
        self._log(inv)
        send(h, status, answer, answer_headers)

    def _refuse(self, inv, status, error_type, message, bad=True, extra=None):
        inv["bad"] = bad
        inv["error"] = f"{error_type}: {message}"
        inv["answer"] = error_type
        hdrs = {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": self._request_id()}
        hdrs.update(extra or {})
        return status, hdrs, json.dumps({"Type": "User", "message": message})

    def _decide(self, inv, method, raw_path, raw_query, headers, body):
        m = PATH_RX.match(raw_path)
        if method != "POST" or not m:
            return self._refuse(inv, 404, "UnknownOperationException",
                                f"{method} {raw_path} is not the Invoke API")
        inv["function"] = unquote(m["name"])
        query = dict((unquote(k), unquote(v)) for k, _, v in
                     (p.partition("=") for p in raw_query.split("&") if p))
        inv["qualifier"] = query.get("Qualifier")
        itype = inv["invocation_type"] or "RequestResponse"
        if itype not in INVOCATION_TYPES:
            return self._refuse(inv, 400, "InvalidParameterValueException",
                                f"X-Amz-Invocation-Type {itype!r} is not one of "
                                f"{', '.join(INVOCATION_TYPES)}")
        with self.lock:
            creds, region = self.credentials, self.region
        try:
            inv["auth"] = check_sigv4(method, raw_path, raw_query, headers, body, creds, region)
        except AuthError as e:
            return self._refuse(inv, 403, e.error_type, str(e))
        if body:
            try:
                json.loads(body)
            except (ValueError, UnicodeDecodeError):
                return self._refuse(inv, 400, "InvalidRequestContentException",
                                    "Could not parse request body into json")
        return self._behave(inv, itype, body)

    def _behave(self, inv, itype, body):
        with self.lock:
            if self.functions is not None and inv["function"] not in self.functions:
                return self._refuse(inv, 404, "ResourceNotFoundException",
                                    f"Function not found: {inv['function']}", bad=False)
            limit = EVENT_LIMIT if itype == "Event" else SYNC_LIMIT
            if self.max_body is not None:
                limit = min(limit, self.max_body)
            if len(body) > limit:
                return self._refuse(inv, 413, "RequestEntityTooLargeException",
                                    f"Request must be smaller than {limit} bytes for the "
                                    f"InvokeFunction operation", bad=False)
            if self._throttled < self.throttle_first:
                self._throttled += 1
                extra = ({"Retry-After": self.retry_after}
                         if self.retry_after is not None else {})
                return self._refuse(inv, 429, "TooManyRequestsException", "Rate Exceeded.",
                                    bad=False, extra=extra)
            if itype == "DryRun":
                inv["answer"] = "dry_run"
                return 204, {"x-amzn-RequestId": self._request_id()}, b""
            if itype == "Event":
                inv["answer"] = "accepted"
                return 202, {"x-amzn-RequestId": self._request_id()}, b""
            fail = self._errored < self.error_first
            if fail:
                self._errored += 1
            poison = sorted(self.error_ids.intersection(inv["ids"]))
            respond = self.respond
        hdrs = {"x-amzn-RequestId": self._request_id(), "X-Amz-Executed-Version": "$LATEST"}
        if fail or poison:
            inv["answer"] = "function_error"
            hdrs["X-Amz-Function-Error"] = "Unhandled"
            why = f"record {poison[0]} is poison" if poison else "scripted failure"
            return 200, hdrs, json.dumps({"errorMessage": why, "errorType": "TestError",
                                          "stackTrace": []})
        if respond:
            answer = respond(inv)
            if answer is not None:
                status, extra, out = answer
                inv["answer"] = "ok" if status == 200 and \
                    "X-Amz-Function-Error" not in (extra or {}) else "custom"
                return status, {**hdrs, **(extra or {})}, out
        inv["answer"] = "ok"
        return 200, hdrs, json.dumps({"ok": True, "records": len(inv["ids"])})

    @staticmethod
    def _request_id():
        return os.urandom(16).hex()

    def _log(self, inv):
        if self.verbose:
            print(f"{inv['status']} {inv['answer']} {inv['function']} {len(inv['ids'])} "
                  f"records {inv['body_len']} bytes{' ' + inv['error'] if inv['error'] else ''}",
                  file=sys.stderr, flush=True)
        if self.log:
            line = {k: v for k, v in inv.items() if k != "body"}
            with self.lock, open(self.log, "a") as f:
                f.write(json.dumps(line) + "\n")


# ----------------------------------------------------------------------- CLI


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="A Lambda Invoke API test endpoint on 127.0.0.1: prints "
                    "`LISTEN <port>`, serves until SIGTERM/SIGINT.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--function", action="append", metavar="NAME",
                    help="a function it knows (repeatable; default: any name)")
    ap.add_argument("--credentials", action="append", metavar="KEY:SECRET[:TOKEN]",
                    help="keys a request may be signed with (repeatable; default: "
                         "any well formed signature, not recomputed)")
    ap.add_argument("--region", help="region the signature's scope must name")
    ap.add_argument("--max-body", type=int, metavar="BYTES", help="413 above this")
    ap.add_argument("--throttle-first", type=int, default=0, metavar="N",
                    help="429 for the first N invocations")
    ap.add_argument("--retry-after", default="1", metavar="SECS",
                    help="Retry-After of those 429s ('none': no header)")
    ap.add_argument("--error-first", type=int, default=0, metavar="N",
                    help="function error for the first N synchronous invocations")
    ap.add_argument("--error-id", action="append", default=[], metavar="ID",
                    help="function error for any invocation naming this record id")
    ap.add_argument("--log", metavar="FILE", help="one JSON line per invocation")
    ap.add_argument("--verbose", action="store_true", help="one line per request on stderr")
    a = ap.parse_args(argv)
    creds = None
    if a.credentials:
        creds = {}
        for c in a.credentials:
            key, _, rest = c.partition(":")
            secret, _, token = rest.partition(":")
            creds[key] = (secret, token or None)
    ep = LambdaEndpoint(functions=a.function, credentials=creds, region=a.region,
                        max_body=a.max_body, throttle_first=a.throttle_first,
                        retry_after=None if a.retry_after == "none" else a.retry_after,
                        error_first=a.error_first, error_ids=a.error_id, log=a.log,
                        port=a.port, verbose=a.verbose)
    serve_cli(ep.server)


if __name__ == "__main__":
    main()
