#!/usr/bin/python3
"""bench_backlog.py - memory under a backlog: 1M Kafka records of 256 bytes
wait while the function is slow, then down, then back. fnbridge's RSS is
sampled every 100 ms and printed per phase next to the configured bound
(max_inflight.bytes) and fnbridge's own idle RSS measured in the same run:
what the backlog costs beyond idle must stay near max_inflight, whatever
the backlog's size. The whole sequence runs once per bound (4 MiB and
16 MiB by default, max_inflight.records high enough that the bytes bound
governs), so what is left over the bound shows whether it is a constant.
Also prints whether every record arrived (ids from the function server's
log against the producer's delivery reports). Prints figures; asserts
nothing.

The records are produced round-robin over the partitions: the mock cluster
keeps at most 5 MiB per partition and drops older data silently, and
librdkafka's sticky partitioner would pile them up unevenly (measured: 16%
of 1M records lost, 44 of 128 partitions empty).

Environment: BACKLOG_RECORDS (default 1000000), BACKLOG_PHASE_SECONDS (15),
BACKLOG_BOUNDS_MIB (comma-separated, default "4,16"), BACKLOG_ORDERING (the
source's ordering, default partition), FNBRIDGE and TOOLS (paths to the
binaries)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import FNBRIDGE, TOOLS, first_line, proc_status, stats  # noqa: E402

RECORDS = int(os.environ.get("BACKLOG_RECORDS", "1000000"))
PHASE = float(os.environ.get("BACKLOG_PHASE_SECONDS", "15"))
BOUNDS_MIB = [int(b) for b in os.environ.get("BACKLOG_BOUNDS_MIB", "4,16").split(",")]
ORDERING = os.environ.get("BACKLOG_ORDERING", "partition")
PARTITIONS = 128         # 1M x 256 B: about 2.2 MB each, under the mock's 5 MiB
SIZE = 256
MAX_RECORDS = 1000000    # so max_inflight.bytes is the bound that governs
TOPIC = "backlog"

procs = []


def start(args, **kw):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, **kw)
    procs.append(p)
    return p


def fn_server(work, name, port, *args):
    p = start([f"{TOOLS}/fn_server", "--port", str(port), "--log",
               os.path.join(work, f"{name}.log")] + [str(a) for a in args])
    return p, int(first_line(p, "PORT "))


def produce(bootstrap):
    """Produces RECORDS round-robin; returns the ids the delivery reports name."""
    out = subprocess.run([f"{TOOLS}/kproduce", "--bootstrap", bootstrap, "--topic", TOPIC,
                          "--count", str(RECORDS), "--size", str(SIZE),
                          "--partitions", str(PARTITIONS)],
                         check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("PRODUCED "))
    ids = set()
    for word in line.split()[2:]:
        part, span = word[1:].split("=")
        first, last = span.split("..")
        ids.update(f"{TOPIC}-{part}-{o}" for o in range(int(first), int(last) + 1))
    return ids


def config(work, bootstrap, port, topic, group, bound_mib):
    path = os.path.join(work, f"{group}.yaml")
    with open(path, "w") as f:
        f.write(f"""state_dir: {work}/state
log: {{level: warn}}
pipelines:
  - name: backlog
    source:
      kafka: {{brokers: "{bootstrap}", topics: [{topic}], group_id: {group},
              ordering: {ORDERING}}}
    batch: {{max_records: 100, max_wait: 50ms}}
    concurrency: 8
    max_inflight: {{records: {MAX_RECORDS}, bytes: {bound_mib}MiB}}
    retry:
      max_attempts: 100000
      backoff: {{initial: 100ms, max: 1s}}
      max_record_age: 1h
    function:
      http: {{url: "http://127.0.0.1:{port}/", timeout: 5s}}
""")
    return path


def sample(pid, seconds, until=None):
    """(peak VmRSS, RssAnon at that moment) in KiB over seconds, sampled
    every 100 ms (or until until())."""
    peak, anon, end = 0, 0, time.time() + seconds
    while time.time() < end and not (until and until()):
        rss = proc_status(pid, "VmRSS")
        if rss > peak:
            peak, anon = rss, proc_status(pid, "RssAnon")
        time.sleep(0.1)
    return peak, anon


def delivered(work, names):
    """(unique ids answered 200, 200 lines) in the function servers' logs."""
    ids, lines = set(), 0
    for name in names:
        with open(os.path.join(work, f"{name}.log")) as f:
            for line in f:
                if line.startswith("200 "):
                    ids.add(line[4:].rstrip("\n"))
                    lines += 1
    return ids, lines


def idle_rss(work, bootstrap, port):
    p = start([FNBRIDGE, "run", "-c", config(work, bootstrap, port, "idle", "backlog-idle",
                                             BOUNDS_MIB[0])],
              stderr=open(os.path.join(work, "idle.err"), "w"))
    peak = sample(p.pid, 8)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    return peak


def wait_all_arrived(bridge, work, names, expected, port, before, seconds):
    """Waits until the function servers saw every expected id: first on the
    fast server's count (cheap), then on the logs (exact; a record answered
    by the slow server as it was killed may come twice). Returns the
    peak RSS sample while waiting and the seconds taken."""
    t0 = time.time()
    peak = sample(bridge.pid, seconds,
                  until=lambda: before + stats(port)["records"] >= len(expected))
    while time.time() - t0 < seconds and not expected <= delivered(work, names)[0]:
        peak = max(peak, sample(bridge.pid, 1))
    return peak, time.time() - t0


def run(work, bootstrap, expected, bound_mib):
    """One slow / down / back sequence at one bound; returns its figures."""
    tag = f"b{bound_mib}"
    slow, port = fn_server(work, f"slow-{tag}", 0, "--delay-ms", 200)
    bridge = start([FNBRIDGE, "run", "-c", config(work, bootstrap, port, TOPIC,
                                                  f"backlog-{tag}", bound_mib)],
                   stderr=open(os.path.join(work, f"fnbridge-{tag}.err"), "w"))
    peaks = {"slow": sample(bridge.pid, PHASE)}
    slow.kill()
    slow.wait()
    peaks["down"] = sample(bridge.pid, PHASE)
    before = len(delivered(work, [f"slow-{tag}"])[0])
    fast, _ = fn_server(work, f"fast-{tag}", port)
    names = [f"slow-{tag}", f"fast-{tag}"]
    peaks["back"], drained = wait_all_arrived(bridge, work, names, expected, port, before,
                                              600)
    hwm = proc_status(bridge.pid, "VmHWM")
    bridge.send_signal(signal.SIGTERM)
    rc = bridge.wait(timeout=60)
    fast.send_signal(signal.SIGTERM)
    fast.wait(timeout=15)
    got, lines = delivered(work, names)
    return {"peaks": peaks, "hwm": hwm, "drained": drained, "rc": rc,
            "missing": len(expected - got), "twice": lines - len(got)}


def fit(bounds_kib, overs):
    """Least-squares line over = slope * bound + constant (KiB)."""
    n = len(bounds_kib)
    mb, mo = sum(bounds_kib) / n, sum(overs) / n
    var = sum((b - mb) ** 2 for b in bounds_kib)
    slope = sum((b - mb) * (o - mo) for b, o in zip(bounds_kib, overs)) / var if var else 0
    return slope, mo - slope * mb


def report(idle, results):
    """Per phase: peak RSS and its excess over idle at each bound, and, with
    two bounds or more, that excess as slope x bound + constant."""
    bounds = [b for b, _ in results]
    print(f"  {'peak RSS, MiB (over idle)':<27}" +
          "".join(f"{f'max_inflight.bytes {b} MiB':>28}" for b in bounds) +
          ("   over idle =" if len(bounds) > 1 else ""))
    for phase in ("slow", "down", "back"):
        kibs = [r["peaks"][phase][0] for _, r in results]
        cells = "".join(f"{f'{k / 1024:.1f} ({(k - idle) / 1024:+.1f})':>28}" for k in kibs)
        line = f"  function {phase:<18}{cells}"
        if len(bounds) > 1:
            slope, const = fit([b * 1024 for b in bounds], [k - idle for k in kibs])
            line += f"   {slope:.2f} x bound + {const / 1024:.1f} MiB"
        print(line)
    for b, r in results:
        every = "yes" if not r["missing"] else f"NO, {r['missing']} missing"
        print(f"  {b} MiB: VmHWM {r['hwm'] / 1024:.1f} MiB; drained in {r['drained']:.1f} s "
              f"once the function was back; every record arrived: {every} "
              f"({r['twice']} delivered twice); exit {r['rc']}")


def main():
    work = tempfile.mkdtemp(prefix="fnbridge-backlog-")
    try:
        mock = start([f"{TOOLS}/mock_kafka", "--brokers", "1", "--topic",
                      f"{TOPIC}:{PARTITIONS}", "--topic", "idle:1"])
        bootstrap = first_line(mock, "BOOTSTRAP ")
        expected = produce(bootstrap)
        probe, port = fn_server(work, "idle", 0)
        idle, idle_anon = idle_rss(work, bootstrap, port)
        probe.send_signal(signal.SIGTERM)
        probe.wait(timeout=15)
        results = [(b, run(work, bootstrap, expected, b)) for b in BOUNDS_MIB]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    print(f"\nbacklog: {RECORDS} records x {SIZE} B ({len(expected)} in the producer's "
          f"delivery reports), {PARTITIONS} partitions, 1 mock broker; batch 100, "
          f"concurrency 8, ordering {ORDERING}, max_inflight.records {MAX_RECORDS}; "
          f"function slow (200 ms) "
          f"{PHASE:.0f} s, down {PHASE:.0f} s, then back")
    print(f"  fnbridge idle (joined, empty topic): {idle / 1024:.1f} MiB "
          f"(anon {idle_anon / 1024:.1f})")
    report(idle, results)
    if any(r["missing"] for _, r in results):
        print(f"  logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)   # the function logs: ~25 MB per run


if __name__ == "__main__":
    main()
