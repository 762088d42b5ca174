#!/usr/bin/python3
"""bench.py - what `make bench` runs: Kafka -> http throughput, CPU and
memory of fnbridge, next to the limits measured in the same run on the same
data: a bare librdkafka consumer reading the records, and the function test
server's own capacity at batch 100. Prints figures; asserts nothing.

Everything binds 127.0.0.1 and is stopped at the end. Environment:
BENCH_RECORDS (default 500000), BENCH_PARTITIONS (64: the mock cluster keeps
at most 5 MiB per partition), FNBRIDGE and TOOLS (paths to the binaries).
"""
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FNBRIDGE = os.environ.get("FNBRIDGE", os.path.join(TOP, "build/fnbridge"))
TOOLS = os.environ.get("TOOLS", os.path.join(TOP, "build/tools"))
RECORDS = int(os.environ.get("BENCH_RECORDS", "500000"))
PARTITIONS = int(os.environ.get("BENCH_PARTITIONS", "64"))
SIZE = 256
BATCH = 100

procs = []


def start(args, **kw):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, **kw)
    procs.append(p)
    return p


def first_line(p, prefix, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if line.startswith(prefix):
            return line[len(prefix):].strip()
        if not line and p.poll() is not None:
            break
    sys.exit(f"bench: {p.args[0]} did not print {prefix!r}")


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.load(r)


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample_event():
    """A lambda-format event of BATCH records, as fnbridge sends it."""
    value = base64.b64encode(b"x" * SIZE).decode()
    recs = [{"topic": "bench", "partition": 0, "offset": i, "timestamp": 1,
             "timestampType": "CREATE_TIME", "value": value, "headers": []}
            for i in range(BATCH)]
    return json.dumps({"eventSource": "SelfManagedKafka",
                       "bootstrapServers": "127.0.0.1:1",
                       "records": {"bench-0": recs}})


def server_capacity(port, work):
    """Records/s the function test server takes at batch 100 (wrk, 8
    connections, 5 s). wrk shares the two cores with it: a lower bound."""
    body = os.path.join(work, "event.json")
    with open(body, "w") as f:
        f.write(sample_event())
    script = os.path.join(work, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n'
                f'wrk.body = io.open("{body}"):read("*a")\n'
                'wrk.headers["Content-Type"] = "application/json"\n')
    out = subprocess.run(["wrk", "-t2", "-c8", "-d5s", "-s", script,
                          f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1]) * BATCH
    sys.exit("bench: wrk printed no Requests/sec:\n" + out)


def bare_consumer(bootstrap):
    out = subprocess.run([f"{TOOLS}/bare_consumer", "--bootstrap", bootstrap,
                          "--topic", "bench", "--group", "bench-bare",
                          "--count", str(RECORDS), "--timeout", "120"],
                         capture_output=True, text=True, check=True).stdout
    words = out.split()
    return float(words[words.index("RATE") + 1].rstrip("/s"))


def write_config(work, bootstrap, port, topic, group):
    path = os.path.join(work, f"{group}.yaml")
    with open(path, "w") as f:
        f.write(f"""state_dir: {work}/state
log: {{level: warn}}
pipelines:
  - name: bench
    source:
      kafka: {{brokers: "{bootstrap}", topics: [{topic}], group_id: {group}}}
    batch: {{max_records: {BATCH}, max_wait: 50ms}}
    concurrency: 8
    function:
      http: {{url: "http://127.0.0.1:{port}/"}}
""")
    return path


def idle_rss(work, bootstrap, port):
    """RSS of fnbridge joined to a group on an empty topic."""
    log = open(os.path.join(work, "idle.log"), "w")
    p = subprocess.Popen([FNBRIDGE, "run", "-c",
                          write_config(work, bootstrap, port, "idle", "bench-idle")],
                         stderr=log)
    time.sleep(8)  # group join (~3 s on the mock) and a few idle polls
    rss = proc_status(p.pid, "VmRSS")
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    return rss


def rss_floor(bootstrap):
    """Idle RSS of a program that only loads librdkafka and libcurl and
    joins a group: the floor under fnbridge's idle RSS."""
    out = subprocess.run([f"{TOOLS}/rss_floor", "--bootstrap", bootstrap,
                          "--topic", "idle"], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[out.index("RSS") + 1])


def fnbridge_run(work, bootstrap, port):
    before = stats(port)["records"]
    log = open(os.path.join(work, "fnbridge.log"), "w")
    p = subprocess.Popen([FNBRIDGE, "run", "-c",
                          write_config(work, bootstrap, port, "bench", "bench-fnbridge")],
                         stderr=log)
    first = None
    deadline = time.time() + 300
    while time.time() < deadline:
        got = stats(port)["records"] - before
        if got and first is None:
            first = time.time()
        if got >= RECORDS:
            break
        time.sleep(0.02)
    end = time.time()
    cpu, peak = cpu_seconds(p.pid), proc_status(p.pid, "VmHWM")
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    if got < RECORDS:
        sys.exit(f"bench: fnbridge delivered {got} of {RECORDS} records")
    return RECORDS / (end - first), cpu, peak, rc


def main():
    work = tempfile.mkdtemp(prefix="fnbridge-bench-")
    try:
        mock = start([f"{TOOLS}/mock_kafka", "--brokers", "3", "--topic", f"bench:{PARTITIONS}",
                      "--topic", "idle:1"])
        bootstrap = first_line(mock, "BOOTSTRAP ")
        subprocess.run([f"{TOOLS}/kproduce", "--bootstrap", bootstrap, "--topic",
                        "bench", "--count", str(RECORDS), "--size", str(SIZE),
                        "--partitions", str(PARTITIONS)],
                       check=True, stdout=subprocess.DEVNULL)
        server = start([f"{TOOLS}/fn_server", "--count-only"])
        port = first_line(server, "PORT ")
        capacity = server_capacity(port, work)
        bare = bare_consumer(bootstrap)
        idle = idle_rss(work, bootstrap, port)
        floor = rss_floor(bootstrap)
        rate, cpu, peak, rc = fnbridge_run(work, bootstrap, port)
    finally:
        stop_all()
    print(f"\nKafka -> http, {RECORDS} records of {SIZE} B over {PARTITIONS} "
          f"partitions, batch {BATCH}, concurrency 8 (one run, this machine)")
    print(f"  function test server capacity  {capacity:12,.0f} records/s (wrk, batch {BATCH})")
    print(f"  bare librdkafka consumer       {bare:12,.0f} records/s")
    print(f"  fnbridge                       {rate:12,.0f} records/s  "
          f"= {100 * rate / bare:.0f}% of the bare consumer")
    print(f"  fnbridge CPU                   {cpu:12.2f} s  "
          f"({RECORDS / cpu:,.0f} records per CPU-second)")
    print(f"  fnbridge peak RSS              {peak / 1024:12.1f} MiB")
    print(f"  fnbridge idle RSS              {idle / 1024:12.1f} MiB")
    print(f"  librdkafka + libcurl alone     {floor / 1024:12.1f} MiB  "
          "(idle, joined to a group: the floor under fnbridge's idle RSS)")
    print(f"  fnbridge exit status after SIGTERM: {rc}")
    print("  for scale (shared/FIELD-NOTES.md, same harness): kafkajs 368k/s "
          "(205 MB), Python confluent-kafka 116k/s (88 MB), Node-RED 45k/s (357 MB)")


if __name__ == "__main__":
    main()
