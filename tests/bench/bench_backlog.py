#!/usr/bin/python3
"""bench_backlog.py - memory under a backlog: 1M Kafka records of 256 bytes
wait while the function is slow, then down, then back. fnbridge's RSS is
sampled every 100 ms and printed per phase next to the configured bound
(max_inflight.bytes) and fnbridge's own idle RSS measured in the same run:
what the backlog costs beyond idle must stay near max_inflight, whatever
the backlog's size. Also prints whether every record arrived (ids from the
function server's log). Prints figures; asserts nothing.

Environment: BACKLOG_RECORDS (default 1000000), BACKLOG_PHASE_SECONDS (15),
FNBRIDGE and TOOLS (paths to the binaries)."""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import FNBRIDGE, TOOLS, first_line, proc_status, stats  # noqa: E402

RECORDS = int(os.environ.get("BACKLOG_RECORDS", "1000000"))
PHASE = float(os.environ.get("BACKLOG_PHASE_SECONDS", "15"))
PARTITIONS = 128         # the mock cluster keeps at most 5 MiB per partition
MAX_RECORDS = 10000
MAX_BYTES_MIB = 4

procs = []


def start(args, **kw):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, **kw)
    procs.append(p)
    return p


def fn_server(work, name, port, *args):
    p = start([f"{TOOLS}/fn_server", "--port", str(port), "--log",
               os.path.join(work, f"{name}.log")] + [str(a) for a in args])
    return p, int(first_line(p, "PORT "))


def config(work, bootstrap, port, topic, group):
    path = os.path.join(work, f"{group}.yaml")
    with open(path, "w") as f:
        f.write(f"""state_dir: {work}/state
log: {{level: warn}}
pipelines:
  - name: backlog
    source:
      kafka: {{brokers: "{bootstrap}", topics: [{topic}], group_id: {group}}}
    batch: {{max_records: 100, max_wait: 50ms}}
    concurrency: 8
    max_inflight: {{records: {MAX_RECORDS}, bytes: {MAX_BYTES_MIB}MiB}}
    retry:
      max_attempts: 100000
      backoff: {{initial: 100ms, max: 1s}}
      max_record_age: 1h
    function:
      http: {{url: "http://127.0.0.1:{port}/", timeout: 5s}}
""")
    return path


def sample(pid, seconds, until=None):
    """Peak VmRSS (KiB) over seconds, sampled every 100 ms (or until until())."""
    peak, end = 0, time.time() + seconds
    while time.time() < end and not (until and until()):
        peak = max(peak, proc_status(pid, "VmRSS"))
        time.sleep(0.1)
    return peak


def unique_ids(work, names):
    ids = set()
    for name in names:
        with open(os.path.join(work, f"{name}.log")) as f:
            ids.update(line.split(" ", 1)[1] for line in f if line.startswith("200 "))
    return len(ids)


def idle_rss(work, bootstrap, port):
    p = start([FNBRIDGE, "run", "-c", config(work, bootstrap, port, "idle", "backlog-idle")],
              stderr=open(os.path.join(work, "idle.err"), "w"))
    peak = sample(p.pid, 8)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    return peak


def main():
    work = tempfile.mkdtemp(prefix="fnbridge-backlog-")
    try:
        mock = start([f"{TOOLS}/mock_kafka", "--brokers", "1", "--topic",
                      f"backlog:{PARTITIONS}", "--topic", "idle:1"])
        bootstrap = first_line(mock, "BOOTSTRAP ")
        subprocess.run([f"{TOOLS}/kproduce", "--bootstrap", bootstrap, "--topic", "backlog",
                        "--count", str(RECORDS), "--size", "256"], check=True,
                       capture_output=True)
        slow, port = fn_server(work, "slow", 0, "--delay-ms", 200)
        idle = idle_rss(work, bootstrap, port)
        bridge = start([FNBRIDGE, "run", "-c", config(work, bootstrap, port, "backlog",
                                                      "backlog-run")],
                       stderr=open(os.path.join(work, "fnbridge.err"), "w"))
        peaks = {"slow": sample(bridge.pid, PHASE)}
        slow.kill()
        slow.wait()
        peaks["down"] = sample(bridge.pid, PHASE)
        before = unique_ids(work, ["slow"])
        fast, _ = fn_server(work, "fast", port)
        t0 = time.time()
        peaks["back"] = sample(bridge.pid, 600,
                               until=lambda: before + stats(port)["records"] >= RECORDS)
        drained = time.time() - t0
        hwm = proc_status(bridge.pid, "VmHWM")
        bridge.send_signal(signal.SIGTERM)
        rc = bridge.wait(timeout=60)
        got = unique_ids(work, ["slow", "fast"])
        print(f"backlog: {RECORDS} records x 256 B, max_inflight {MAX_RECORDS} records / "
              f"{MAX_BYTES_MIB} MiB, {PARTITIONS} partitions, 1 mock broker")
        print(f"  fnbridge idle (joined, empty topic): {idle / 1024:.1f} MiB")
        for phase, kib in peaks.items():
            print(f"  peak RSS while the function is {phase:4}: {kib / 1024:.1f} MiB "
                  f"(idle + {(kib - idle) / 1024:.1f} MiB)")
        print(f"  VmHWM {hwm / 1024:.1f} MiB; bound max_inflight.bytes {MAX_BYTES_MIB} MiB")
        print(f"  drained in {drained:.1f} s after the function came back; "
              f"{got} of {RECORDS} records delivered; exit {rc}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
