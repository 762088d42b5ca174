#!/usr/bin/python3
"""bench_s3.py - the S3 part of `make bench`: how long fnbridge's poll of a
bucket takes, next to a bare paginated listing of the same bucket in the
same run (tests/tools/s3_list: ListObjectsV2, one keep-alive connection,
expat, nothing kept per object), and fnbridge's memory at 10k and 100k
objects. Prints figures; asserts nothing (except that nothing was lost).

s3rver (the S3 the tests use) holds the bucket. For each size (10k, then
90k more objects for 100k):
1. s3_put creates the objects (32 PUTs in flight) and says how long s3rver
   took; one s3_list measures the listing (L) and sets fnbridge's
   poll_interval to 2L + 1.5 s, so that a poll and a bare listing never
   run at the same time.
2. fnbridge (fresh state_dir, log level debug) -> fn_server: the first poll
   reports every object created; the time until the function has them all,
   the poll's own "poll: ... ms" line, and whether exactly the N keys
   arrived, once each.
3. BENCH_S3_ROUNDS (3) rounds, taking turns: a no-change poll ("poll: N
   objects listed, 0 created, 0 removed, T ms" at debug), a pause of
   0.5 s + L/2, then s3_list; each starts on a server that rested.
   Target: the poll at most 1.3x the bare listing (medians). CPU of each
   (fnbridge's over the poll, in 10 ms clock ticks; s3_list's over its
   listing) is printed too: s3rver spends ~90 of a page's ~100 ms, so the
   wall-clock ratio hides most of what the client does.
4. fnbridge's peak RSS (VmHWM); target at most 32 MiB, the same at 10k and
   100k. Its anonymous and file-backed parts are printed too: the LMDB
   state is a mapped file, and the pages a poll reads count as RSS.
5. The same comparison at 100k with the listing served from memory: the
   pages s3rver sent, recorded once and replayed by a small HTTP server
   (this script with --serve-pages), so that the server's share is small
   and what the client does shows. fnbridge resumes the 100k state, so
   every poll is a no-change poll.

Keys are d<%05d>/obj-<%08d>, BENCH_S3_DIR_SIZE (100) per "directory":
s3rver keeps objects as files and lists a page by reading and stat'ing the
directory up to the page's start, so in one flat directory every page costs
O(objects) and 100k objects take ~3 minutes to list (measured: pages from
0.8 s to 3.6 s); in directories of 100 a page costs ~90 ms whatever the
bucket's size, as on S3. BENCH_S3_DIR_SIZE=0 keeps them flat. s3rver's
files go to /dev/shm when it has room (see data_dir).

Everything binds 127.0.0.1 on free ports and is stopped at the end; every
wait has a deadline. About 5 minutes on 2 vCPUs, a third of it s3rver
creating the 100k objects. Environment: FNBRIDGE, TOOLS, S3RVER (default
tests/node/node_modules/.bin/s3rver), BENCH_S3_COUNTS ("10000,100000"),
BENCH_S3_ROUNDS, BENCH_S3_DIR_SIZE, BENCH_S3_REPLAY (1; 0 skips step 5),
BENCH_S3_DATA_DIR.
"""
import http.server
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from html import unescape

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FNBRIDGE = os.environ.get("FNBRIDGE", os.path.join(TOP, "build/fnbridge"))
TOOLS = os.environ.get("TOOLS", os.path.join(TOP, "build/tools"))
S3RVER = os.environ.get("S3RVER") or os.path.join(TOP, "tests/node/node_modules/.bin/s3rver")
COUNTS = [int(n) for n in os.environ.get("BENCH_S3_COUNTS", "10000,100000").split(",")]
ROUNDS = int(os.environ.get("BENCH_S3_ROUNDS", "3"))
DIR_SIZE = int(os.environ.get("BENCH_S3_DIR_SIZE", "100"))
REPLAY = os.environ.get("BENCH_S3_REPLAY", "1") != "0"
BUCKET = "bench"
CREDS = ["--access-key", "S3RVER", "--secret-key", "S3RVER", "--region", "us-east-1"]
PUT_PARALLEL = 32
BATCH = 100
PAUSE = 0.5  # s: the least rest s3rver gets before a poll or a bare listing
RATIO_TARGET = 1.3
RSS_TARGET_MIB = 32

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import cpu_seconds, proc_status, procs, stats, stop_all  # noqa: E402  (shared with bench.py)

POLL_RE = re.compile(r'msg="poll: (\d+) objects listed, (\d+) created, (\d+) removed, (\d+) ms"')


def fail(why):
    sys.exit(f"bench_s3: {why}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what, interval=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    fail(f"timed out after {timeout:.0f} s waiting for {what}")


def start(args, **kw):
    p = subprocess.Popen(args, **kw)
    procs.append(p)
    return p


def read_port(p, what, timeout=20):
    """The n of the `PORT n` line a server prints once it listens."""
    if not select.select([p.stdout], [], [], timeout)[0]:
        fail(f"{what} printed nothing in {timeout} s")
    line = p.stdout.readline()
    if not line.startswith("PORT "):
        fail(f"{what} printed {line!r}")
    return int(line.split()[1])


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def key(i):
    return f"d{i // DIR_SIZE:05d}/obj-{i:08d}" if DIR_SIZE else f"obj-{i:08d}"


# ---------------------------------------------------------------- servers

def data_dir(work):
    """Where s3rver keeps the bucket: tmpfs when it has room (3 files of a
    page each per object: ~1.2 GB at 100k, twice that free in /dev/shm and
    in RAM), else under work; BENCH_S3_DATA_DIR overrides. s3rver lists as
    fast from either (its CPU is the limit), but it creates the objects
    faster in memory, and removing 300k files from a disk can take minutes."""
    base = os.environ.get("BENCH_S3_DATA_DIR")
    if not base:
        need = 2 * 3 * 4096 * max(COUNTS)
        with open("/proc/meminfo") as f:
            avail = next(int(line.split()[1]) * 1024 for line in f
                         if line.startswith("MemAvailable:"))
        if os.path.isdir("/dev/shm"):
            st = os.statvfs("/dev/shm")
            if st.f_bavail * st.f_frsize > need and avail > need:
                base = "/dev/shm"
    if not base:
        return os.path.join(work, "s3rver")
    return tempfile.mkdtemp(prefix="fnbridge-bench-s3rver-", dir=base)


def s3rver(work, data):
    """s3rver on a free port, its data in data, the bucket configured."""
    port = free_port()
    # s3rver makes continuation tokens with DES, which the OpenSSL 3 of Node
    # 17+ only has in its legacy provider: without it every listing longer
    # than one page fails with InternalError (tests/e2e/s3_helpers.py too).
    env = dict(os.environ)
    env["NODE_OPTIONS"] = (env.get("NODE_OPTIONS", "") + " --openssl-legacy-provider").strip()
    err = open(os.path.join(work, "s3rver.err"), "w")
    p = start([S3RVER, "-d", data, "-a", "127.0.0.1", "-p", str(port),
               "--silent", "--no-vhost-buckets", "--configure-bucket", BUCKET],
              env=env, stdout=subprocess.DEVNULL, stderr=err)
    endpoint = f"http://127.0.0.1:{port}"

    def ready():
        if p.poll() is not None:
            fail(f"s3rver exited with {p.returncode}: {open(err.name).read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/{BUCKET}?list-type=2&max-keys=1",
                                        timeout=5) as r:
                return r.status == 200
        except OSError:
            return False
    wait_for(ready, 30, "s3rver to answer", interval=0.1)
    return p, endpoint


def fn_server():
    """The function: parses each S3 event and logs one line per record
    (`200 bench/<key>@<sequencer>`), in memory where possible."""
    logdir = tempfile.mkdtemp(prefix="fnbridge-bench-s3-fn-",
                              dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    log = os.path.join(logdir, "fn.log")
    p = start([f"{TOOLS}/fn_server", "--port", "0", "--log", log],
              stdout=subprocess.PIPE, text=True)
    return read_port(p, "fn_server"), log, logdir


# ------------------------------------------------------------------ tools

def s3_put(endpoint, start_at, count):
    out = subprocess.run([f"{TOOLS}/s3_put", "--endpoint", endpoint, "--bucket", BUCKET,
                          "--start", str(start_at), "--count", str(count),
                          "--dir-size", str(DIR_SIZE), "--parallel", str(PUT_PARALLEL)],
                         capture_output=True, text=True, timeout=900)
    if out.returncode:
        fail(f"s3_put failed: {out.stderr.strip()}")
    return float(out.stdout.split("ms=")[1]) / 1000


def s3_list(endpoint, timeout):
    """One bare listing: its time, CPU and peak RSS, as it measured them."""
    try:
        out = subprocess.run([f"{TOOLS}/s3_list", "--endpoint", endpoint, "--bucket", BUCKET]
                             + CREDS, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"s3_list took more than {timeout:.0f} s")
    if out.returncode:
        fail(f"s3_list failed: {out.stderr.strip()}")
    fields = dict(w.split("=") for w in out.stdout.split())
    return {"objects": int(fields["objects"]), "pages": int(fields["pages"]),
            "ms": float(fields["ms"]), "cpu": float(fields["cpu_ms"]) / 1000,
            "rss_kb": int(fields["peak_rss_kb"]), "end": time.time()}


# --------------------------------------------------------------- fnbridge

class Fnbridge:
    """fnbridge with one S3 pipeline; follows its log for poll lines."""

    def __init__(self, work, name, state, endpoint, fn_port, interval_ms):
        cfg = os.path.join(work, f"{name}.yaml")
        with open(cfg, "w") as f:
            f.write(f"""state_dir: {state}
log: {{level: debug}}
pipelines:
  - name: bench
    source:
      s3: {{endpoint: "{endpoint}", bucket: {BUCKET}, region: us-east-1,
           access_key: S3RVER, secret_key: S3RVER, page_size: 1000,
           poll_interval: {interval_ms}ms}}
    batch: {{max_records: {BATCH}, max_wait: 20ms}}
    concurrency: 8
    function:
      http: {{url: "http://127.0.0.1:{fn_port}/"}}
""")
        check = subprocess.run([FNBRIDGE, "check", "-c", cfg], capture_output=True, text=True,
                               timeout=30)
        if check.returncode:
            fail(f"fnbridge does not accept the S3 config:\n{check.stdout}{check.stderr}")
        self.log_path = os.path.join(work, f"{name}.err")
        self.log = open(self.log_path, "w")
        self.tail = open(self.log_path)
        self.partial = ""
        self.started = time.time()
        self.p = start([FNBRIDGE, "run", "-c", cfg], stderr=self.log)

    def next_poll(self, timeout, what):
        """The next poll line: (listed, created, removed, ms, seen_at)."""
        def line():
            if self.p.poll() is not None:
                fail(f"fnbridge exited with {self.p.returncode} while waiting for {what}; "
                     f"log: {self.log_path}")
            while True:
                chunk = self.tail.readline()
                if not chunk:
                    return None
                if not chunk.endswith("\n"):
                    self.partial += chunk
                    continue
                text, self.partial = self.partial + chunk, ""
                if "level=error" in text:
                    print(f"  fnbridge: {text.strip()}", file=sys.stderr)
                m = POLL_RE.search(text)
                if m:
                    return tuple(int(g) for g in m.groups()) + (time.time(),)
        return wait_for(line, timeout, what, interval=0.01)

    def cpu(self):
        return cpu_seconds(self.p.pid)

    def peak_kb(self):
        return proc_status(self.p.pid, "VmHWM")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return "killed after 30 s"


def du_kb(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.stat(os.path.join(root, f)).st_blocks for f in files)
    return total // 2


def delivered_keys(log, offset):
    """Keys logged with 200 after offset, and how many lines there were."""
    keys, lines = set(), 0
    prefix = f"200 {BUCKET}/"
    with open(log) as f:
        f.seek(offset)
        for line in f:
            lines += 1
            if line.startswith(prefix):
                keys.add(urllib.parse.unquote_plus(line[len(prefix):line.rindex("@")]))
    return keys, lines


def rounds(bridge, endpoint, n, listing_s, s3_pid=None):
    """ROUNDS turns of (no-change poll, bare listing); the figures of each."""
    polls, lists = [], []
    overlaps = 0
    last_end = None
    mark = bridge.cpu()
    wait = bridge.interval_s + 3 * listing_s + 60
    for r in range(ROUNDS):
        listed, created, removed, ms, seen = bridge.next_poll(wait, f"no-change poll {r + 1}")
        cpu = bridge.cpu() - mark
        if created or removed or listed != n:
            fail(f"no-change poll {r + 1} saw {listed} objects, {created} created, "
                 f"{removed} removed (expected {n}, 0, 0)")
        if last_end is not None and seen - ms / 1000 < last_end - 0.05:
            overlaps += 1  # started before the bare listing had ended
        polls.append({"ms": ms, "cpu": cpu})
        # Both start on a server that has rested: the poll after the
        # listing's end + interval, the bare listing after this pause.
        time.sleep(PAUSE + listing_s / 2)
        s3cpu = cpu_seconds(s3_pid) if s3_pid else 0
        lst = s3_list(endpoint, timeout=10 * listing_s + 60)
        lst["server_cpu"] = (cpu_seconds(s3_pid) - s3cpu) if s3_pid else 0
        if lst["objects"] != n:
            fail(f"s3_list listed {lst['objects']} objects, expected {n}")
        lists.append(lst)
        last_end = lst["end"]
        mark = bridge.cpu()
    return polls, lists, overlaps


def interval_for(listing_s):
    """A poll interval that leaves room for a pause and a bare listing
    between polls, and then as long a pause again."""
    return int(1000 * (2 * listing_s + 2 * PAUSE + 0.5))


def phase(work, endpoint, s3_pid, fn_port, fn_log, n, listing_s):
    """fnbridge on a bucket of n objects, from an empty state."""
    state = os.path.join(work, f"state-{n}")
    interval_ms = interval_for(listing_s)
    offset = os.path.getsize(fn_log)
    before = stats(fn_port)["records"]
    bridge = Fnbridge(work, f"fnbridge-{n}", state, endpoint, fn_port, interval_ms)
    bridge.interval_s = interval_ms / 1000
    deadline = 120 + n / 500  # the listing (~10 s at 100k) and 1000 deliveries
    wait_for(lambda: stats(fn_port)["records"] - before >= n, deadline,
             f"the function to receive {n} records from the first poll")
    all_at = time.time() - bridge.started
    first = bridge.next_poll(deadline, "the first poll's line")
    time.sleep(0.3)  # the last acknowledgements settle before the CPU mark
    polls, lists, overlaps = rounds(bridge, endpoint, n, listing_s, s3_pid)
    peak = bridge.peak_kb()
    anon, file_kb = proc_status(bridge.p.pid, "RssAnon"), proc_status(bridge.p.pid, "RssFile")
    got_more = stats(fn_port)["records"] - before - n
    rc = bridge.stop()
    keys, lines = delivered_keys(fn_log, offset)
    expected = {key(i) for i in range(n)}
    return {"n": n, "interval_ms": interval_ms, "all_at": all_at, "first": first,
            "polls": polls, "lists": lists, "overlaps": overlaps, "peak_kb": peak, "rc": rc,
            "anon_kb": anon, "file_kb": file_kb, "state_kb": du_kb(state),
            "missing": len(expected - keys), "unexpected": len(keys - expected),
            "duplicates": lines - len(keys), "after_first": got_more, "state": state}


# ----------------------------------------------------------------- replay

def record_pages(endpoint):
    """s3rver's pages of the whole bucket, as it sent them (unsigned GETs)."""
    pages, token = [], None
    while True:
        query = "list-type=2&max-keys=1000"
        if token:
            query = "continuation-token=" + urllib.parse.quote(token, safe="") + "&" + query
        with urllib.request.urlopen(f"{endpoint}/{BUCKET}?{query}", timeout=120) as r:
            body = r.read()
        pages.append((token, body))
        text = body.decode()
        if "<IsTruncated>true</IsTruncated>" not in text:
            return pages
        token = unescape(re.search(r"<NextContinuationToken>(.*?)</NextContinuationToken>",
                                   text).group(1))


def serve_pages(pages_dir):
    """`bench_s3.py --serve-pages DIR`: answers ListObjectsV2 requests with
    the recorded pages (0.xml, 0.token, 1.xml, ...), by continuation token;
    prints PORT n; SIGTERM ends it."""
    pages, by_token = [], {}
    i = 0
    while os.path.exists(os.path.join(pages_dir, f"{i}.xml")):
        with open(os.path.join(pages_dir, f"{i}.xml"), "rb") as f:
            pages.append(f.read())
        with open(os.path.join(pages_dir, f"{i}.token")) as f:
            by_token[f.read()] = i
        i += 1

    class Pages(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            page = by_token.get(query.get("continuation-token", [""])[0])
            status, body = (200, pages[page]) if page is not None else (
                400, b"<Error><Code>InvalidArgument</Code>"
                     b"<Message>unknown continuation token</Message></Error>")
            head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Bad Request'}\r\n"
                    "Content-Type: application/xml\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            self.wfile.write(head + body)  # one write: no Nagle stall on the body

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print(f"PORT {srv.server_address[1]}", flush=True)
    srv.serve_forever()


def replay(work, endpoint, s3_pid, fn_port, big):
    """The no-change comparison at big['n'] with s3rver's pages from memory."""
    pages_dir = os.path.join(work, "pages")
    os.makedirs(pages_dir)
    for i, (token, body) in enumerate(record_pages(endpoint)):
        with open(os.path.join(pages_dir, f"{i}.xml"), "wb") as f:
            f.write(body)
        with open(os.path.join(pages_dir, f"{i}.token"), "w") as f:
            f.write(token or "")
    srv = start([sys.executable, os.path.abspath(__file__), "--serve-pages", pages_dir],
                stdout=subprocess.PIPE, text=True)
    fast = f"http://127.0.0.1:{read_port(srv, 'the page server')}"
    warm = s3_list(fast, timeout=120)
    listing_s = warm["ms"] / 1000
    interval_ms = interval_for(listing_s)
    # The 100k phase's state: every object is known, so each poll is a
    # no-change poll from the first.
    bridge = Fnbridge(work, "fnbridge-replay", big["state"], fast, fn_port, interval_ms)
    bridge.interval_s = interval_ms / 1000
    polls, lists, overlaps = rounds(bridge, fast, big["n"], listing_s)
    bridge.stop()
    return {"polls": polls, "lists": lists, "overlaps": overlaps, "pages": warm["pages"],
            "server_cpu": None}


# ------------------------------------------------------------------ print

def ms_list(xs, key="ms"):
    return ", ".join(f"{x[key]:.0f}" for x in xs)


def print_comparison(polls, lists, overlaps, indent="    "):
    poll_ms = median(p["ms"] for p in polls)
    list_ms = median(x["ms"] for x in lists)
    ratio = poll_ms / list_ms
    verdict = "meets" if ratio <= RATIO_TARGET else "MISSES"
    pages = lists[0]["pages"]
    print(f"{indent}bare listing (s3_list)     {list_ms:8.0f} ms  (each: {ms_list(lists)}; "
          f"{list_ms / pages:.1f} ms a page);"
          f" CPU {median(x['cpu'] for x in lists) * 1000:.0f} ms,"
          f" peak RSS {max(x['rss_kb'] for x in lists) / 1024:.1f} MiB")
    print(f"{indent}fnbridge no-change poll    {poll_ms:8.0f} ms  (each: {ms_list(polls)})"
          f" = {ratio:.2f}x the bare listing ({verdict} the target of {RATIO_TARGET}x);"
          f" CPU {median(p['cpu'] for p in polls) * 1000:.0f} ms per poll")
    if lists[0].get("server_cpu"):
        print(f"{indent}s3rver CPU per listing     {median(x['server_cpu'] for x in lists):8.1f} s"
              "  (more than one core: its file reads run on libuv's thread pool)")
    if overlaps:
        print(f"{indent}!! {overlaps} poll(s) started before the bare listing before them "
              "had ended: those rounds shared the machine")


def report(puts, phases, fast, data, took):
    sizes = " and ".join(f"{p['n']:,}" for p in phases)
    layout = f"directories of {DIR_SIZE}" if DIR_SIZE else "one flat directory"
    print(f"\nS3 -> http (s3rver, buckets of {sizes} objects in {layout}; pages of 1000, "
          f"signed; batch {BATCH}, concurrency 8; one run, this machine)")
    made = "; ".join(f"{c:,} in {s:.1f} s ({c / s:,.0f}/s)" for c, s in puts)
    where = "/dev/shm (tmpfs)" if data.startswith("/dev/shm/") else os.path.dirname(data)
    print(f"  s3rver creating the objects (s3_put, {PUT_PARALLEL} PUTs in flight, its files "
          f"in {where}): {made}")
    for ph in phases:
        n = ph["n"]
        listed, created, removed, ms, _ = ph["first"]
        print(f"  {n:,} objects ({ROUNDS} rounds taking turns, medians; poll_interval "
              f"{ph['interval_ms']} ms):")
        print_comparison(ph["polls"], ph["lists"], ph["overlaps"])
        print(f"    first poll                 {ms:8.0f} ms  (its line: {listed} listed, "
              f"{created} created, {removed} removed); all {n:,} records at the function "
              f"{ph['all_at']:.1f} s after start = {n / ph['all_at']:,.0f} records/s")
        ok = not (ph["missing"] or ph["unexpected"] or ph["duplicates"] or ph["after_first"])
        print(f"    none missing: {n - ph['missing']:,} of {n:,} created keys delivered, "
              f"{ph['missing']} missing, {ph['unexpected']} unexpected, "
              f"{ph['duplicates']} duplicates, {ph['after_first']} records after the first "
              f"poll{'' if ok else '  !!'}")
        print(f"    fnbridge peak RSS          {ph['peak_kb'] / 1024:8.1f} MiB  (target <= "
              f"{RSS_TARGET_MIB} MiB); after the rounds: anonymous {ph['anon_kb'] / 1024:.1f} "
              f"MiB, file-backed {ph['file_kb'] / 1024:.1f} MiB (libraries, and the LMDB "
              f"state's pages: {ph['state_kb'] / 1024:.1f} MiB on disk); exit status after "
              f"SIGTERM: {ph['rc']}")
    if len(phases) > 1:
        a, b = phases[0], phases[-1]
        print(f"  fnbridge peak RSS {a['n']:,} -> {b['n']:,} objects: {a['peak_kb'] / 1024:.1f} "
              f"-> {b['peak_kb'] / 1024:.1f} MiB ({(b['peak_kb'] - a['peak_kb']) / 1024:+.1f} "
              f"MiB; target: flat, <= {RSS_TARGET_MIB} MiB); anonymous "
              f"{a['anon_kb'] / 1024:.1f} -> {b['anon_kb'] / 1024:.1f} MiB, LMDB state "
              f"{a['state_kb'] / 1024:.1f} -> {b['state_kb'] / 1024:.1f} MiB")
    if fast:
        print(f"  {phases[-1]['n']:,} objects, s3rver's {fast['pages']} pages replayed from memory "
              "(a Python server; what the client does shows):")
        print_comparison(fast["polls"], fast["lists"], fast["overlaps"])
    print(f"  bench_s3 took {took:.0f} s")


def main():
    if sys.argv[1:2] == ["--serve-pages"]:
        return serve_pages(sys.argv[2])
    if not os.access(S3RVER, os.X_OK):
        fail(f"no s3rver at {S3RVER}: run `make deps`")
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="fnbridge-bench-s3-")
    fn_dir = None
    puts, phases, fast = [], [], None
    done = False
    data = data_dir(work)
    try:
        s3, endpoint = s3rver(work, data)
        fn_port, fn_log, fn_dir = fn_server()
        have = 0
        for n in COUNTS:
            puts.append((n - have, s3_put(endpoint, have, n - have)))
            have = n
            first = s3_list(endpoint, timeout=600)  # also warms s3rver up
            if first["objects"] != n:
                fail(f"s3rver lists {first['objects']} objects, expected {n}")
            phases.append(phase(work, endpoint, s3.pid, fn_port, fn_log, n, first["ms"] / 1000))
        if REPLAY:
            fast = replay(work, endpoint, s3.pid, fn_port, phases[-1])
        done = True
    finally:
        stop_all()
        # The bucket's files go in any case; the logs stay when it failed.
        shutil.rmtree(data, ignore_errors=True)
        if done:
            shutil.rmtree(work, ignore_errors=True)
            if fn_dir:
                shutil.rmtree(fn_dir, ignore_errors=True)
        else:
            print(f"bench_s3: logs kept in {work}" + (f" and {fn_dir}" if fn_dir else ""),
                  file=sys.stderr)
    report(puts, phases, fast, data, time.time() - t0)
    lost = [p for p in phases if p["missing"] or p["unexpected"]]
    if lost:
        fail(f"fnbridge's first poll did not deliver exactly the created keys: "
             f"{[(p['n'], p['missing'], p['unexpected']) for p in lost]}")


if __name__ == "__main__":
    main()
