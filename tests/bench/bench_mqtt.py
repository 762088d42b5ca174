#!/usr/bin/python3
"""bench_mqtt.py - the MQTT part of `make bench`: MQTT -> http latency and
burst throughput of fnbridge, next to the raw mosquitto publish -> subscribe
figures measured in the same run on the same broker. Prints figures;
asserts nothing (except that nothing was lost).

1. Latency at a steady 1000 msg/s, QoS 1, batch max_wait 0: raw (mqtt_lat
   subscribing itself) and through fnbridge (fn_server --latency at the
   function). Both use CLOCK_MONOTONIC on this machine.
2. A burst of BENCH_MQTT_BURST (100k) messages, publisher window 100: raw
   throughput, and fnbridge's from the first publish to the last record at
   the function; every message id must arrive; fnbridge's peak RSS.

Everything binds 127.0.0.1 on free ports and is stopped at the end.
fnbridge's state_dir (its spool, synced before each PUBACK) is on the disk
under TMPDIR, as a user's would be.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FNBRIDGE = os.environ.get("FNBRIDGE", os.path.join(TOP, "build/fnbridge"))
TOOLS = os.environ.get("TOOLS", os.path.join(TOP, "build/tools"))
RATE_COUNT = int(os.environ.get("BENCH_MQTT_RATE_COUNT", "3000"))
ROUNDS = int(os.environ.get("BENCH_MQTT_ROUNDS", "3"))
BURST = int(os.environ.get("BENCH_MQTT_BURST", "100000"))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import proc_status, procs, stats, stop_all  # noqa: E402  (shared with bench.py)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    sys.exit(f"bench_mqtt: timed out waiting for {what}")


def start(args, **kw):
    p = subprocess.Popen(args, **kw)
    procs.append(p)
    return p


def broker(work):
    """mosquitto with its defaults, but room to queue every message. Not
    `max_queued_messages 0` ("no limit"): in 2.0.11 that also makes QoS 1
    delivery wait for each PUBACK before the next message (with
    max_queued_bytes 0, db__ready_for_flight allows no bytes in flight)."""
    port = free_port()
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                "max_queued_messages 10000000\n")
    start(["/usr/sbin/mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
          stderr=subprocess.DEVNULL)

    def accepting():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False
    wait_for(accepting, 10, "mosquitto")
    return f"mqtt://127.0.0.1:{port}"


LOG_DIRS = []      # the function logs' directories, removed at the end


def fn_server(work, name):
    # The function's own log is a test artifact: kept in memory where
    # possible, so that its writes do not queue behind fnbridge's syncs in
    # the filesystem journal and count as fnbridge's latency.
    logdir = tempfile.mkdtemp(prefix="fnbridge-bench-fn-",
                              dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    LOG_DIRS.append(logdir)
    log = os.path.join(logdir, f"{name}.log")
    p = start([f"{TOOLS}/fn_server", "--port", "0", "--latency", "--payload-ids",
               "--log", log], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    return int(line.split()[1]), log


def mqtt_lat(url, topic, count, *extra):
    out = subprocess.run([f"{TOOLS}/mqtt_lat", "--url", url, "--topic", topic,
                          "--count", str(count)] + list(extra),
                         capture_output=True, text=True, check=True).stdout
    fields = {}
    for line in out.splitlines():
        words = line.split()
        for k, v in zip(words[::2], words[1::2]):
            fields[k] = v.rstrip("/s")
    return fields


def start_fnbridge(work, url, port, name, sync=True):
    cfg = os.path.join(work, f"{name}.yaml")
    with open(cfg, "w") as f:
        f.write(f"""state_dir: {work}/state-{name}
log: {{level: info}}
pipelines:
  - name: {name}
    source:
      mqtt: {{url: "{url}", client_id: bench-{name}, topics: ["{name}/#"], qos: 1,
             spool: {{sync: {"true" if sync else "false"}}}}}
    batch: {{max_records: 100, max_wait: 0ms}}
    concurrency: 8
    function:
      http: {{url: "http://127.0.0.1:{port}/"}}
""")
    err = open(os.path.join(work, f"{name}.err"), "w")
    p = start([FNBRIDGE, "run", "-c", cfg], stderr=err)
    wait_for(lambda: "connected to" in open(os.path.join(work, f"{name}.err")).read(),
             20, "fnbridge to connect")
    # The subscription is sent right after CONNACK; give its SUBACK a moment
    # by waiting for one message to round-trip.
    mqtt_lat(url, f"{name}/warmup", 1, "--no-sub")
    wait_for(lambda: stats(port).get("lat_count", 0) >= 1, 10, "the warm-up message")
    return p


def fnbridge_latency(work, url, name, sync):
    """Latency through fnbridge at 1000 msg/s, as fn_server --latency saw it."""
    port, _ = fn_server(work, f"fn-{name}")
    bridge = start_fnbridge(work, url, port, name, sync)
    before = stats(port)["lat_count"]
    mqtt_lat(url, f"{name}/x", RATE_COUNT, "--rate", "1000", "--no-sub")
    wait_for(lambda: stats(port)["lat_count"] >= before + RATE_COUNT, 30,
             "fnbridge to deliver the latency run")
    # The warm-up message is in these figures too: one of RATE_COUNT + 1.
    figures = stats(port)
    bridge.send_signal(signal.SIGTERM)
    bridge.wait(timeout=30)
    return figures


def median(rounds, key):
    values = sorted(r[key] for r in rounds)
    return values[len(values) // 2]


def ids_in(log):
    with open(log) as f:
        return {line.split(" ", 1)[1].strip() for line in f if line.startswith("200 ")}


def main():
    work = tempfile.mkdtemp(prefix="fnbridge-bench-mqtt-")
    try:
        url = broker(work)
        # Tails here vary a lot from minute to minute (a shared 2-core
        # machine): the three measurements take turns, ROUNDS times.
        raws, lats, nosyncs = [], [], []
        for r in range(ROUNDS):
            raw = mqtt_lat(url, f"raw/lat{r}", RATE_COUNT, "--rate", "1000")
            raws.append({"lat_p50_us": float(raw["P50_US"]),
                         "lat_p99_us": float(raw["P99_US"]),
                         "lat_max_us": float(raw["MAX_US"])})
            lats.append(fnbridge_latency(work, url, f"lat{r}", sync=True))
            nosyncs.append(fnbridge_latency(work, url, f"nosync{r}", sync=False))

        raw_burst = mqtt_lat(url, "raw/burst", BURST)
        port, log = fn_server(work, "fn-burst")
        bridge = start_fnbridge(work, url, port, "burst")
        pub = mqtt_lat(url, "burst/x", BURST, "--no-sub")
        wait_for(lambda: stats(port)["lat_count"] >= BURST + 1, 120,
                 "fnbridge to deliver the burst")
        burst = stats(port)
        peak = proc_status(bridge.pid, "VmHWM")
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=30)
        got = ids_in(log)
        missing = [k for k in range(BURST) if f"lat-{k}" not in got]
    finally:
        stop_all()
        for d in LOG_DIRS + [work]:
            shutil.rmtree(d, ignore_errors=True)

    burst_secs = (burst["last_ns"] - int(pub["START_NS"])) / 1e9
    burst_rate = BURST / burst_secs
    raw_rate = float(raw_burst["RATE"])
    print("\nMQTT -> http (mosquitto 2.0, QoS 1; one run, this machine)")
    print(f"  latency at 1000 msg/s, publish -> receipt: {ROUNDS} rounds of "
          f"{RATE_COUNT} messages each, taking turns; the median round's figures")
    raw_p99 = median(raws, "lat_p99_us")
    for label, rounds in (("raw mosquitto pub -> sub", raws),
                          ("fnbridge -> function", lats),
                          ("  with spool.sync: false", nosyncs)):
        p99s = ", ".join(f"{x['lat_p99_us'] / 1000:.3f}" for x in rounds)
        p99 = median(rounds, "lat_p99_us")
        versus = "" if rounds is raws else f"  {(p99 - raw_p99) / 1000:+.3f} ms vs raw"
        print(f"    {label:27} p50 {median(rounds, 'lat_p50_us') / 1000:6.3f} ms  "
              f"p99 {p99 / 1000:6.3f} ms  max {median(rounds, 'lat_max_us') / 1000:6.3f} ms"
              f"  (p99 of each round: {p99s}){versus}")
    print(f"  burst of {BURST} messages (publisher window 100):")
    print(f"    raw mosquitto pub -> sub    {raw_rate:10,.0f} msg/s")
    print(f"    fnbridge -> function        {burst_rate:10,.0f} msg/s  "
          f"= {100 * burst_rate / raw_rate:.0f}% of raw; "
          f"{len(missing)} of {BURST} missing")
    print(f"    fnbridge peak RSS           {peak / 1024:10.1f} MiB")
    print("  for scale (shared/FIELD-NOTES.md): Python paho posting each message "
          "p99 0.6 ms; Node-RED p99 30 ms")
    if missing:
        sys.exit(f"bench_mqtt: {len(missing)} messages never reached the function, "
                 f"e.g. {missing[:5]}")


if __name__ == "__main__":
    main()
