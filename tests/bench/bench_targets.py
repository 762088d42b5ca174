#!/usr/bin/python3
"""bench_targets.py - the function-target part of `make bench`: the latency
one invocation takes through fnbridge for each kind of local function, on
the same handler logic (tests/bench/handler/bench_fn.py), and the cold
start of a runtime-api worker. Prints figures; asserts nothing.

Each case runs build/bench/invoke_lat: fnbridge's own core (the path of
`fnbridge invoke`: emit -> batch -> target -> response -> settle), one
invocation after the other, timed from emit to settle. The first
invocation is reported apart (cold: a connection to open, a worker to
start); p50/p90/p99 are over the rest.

Cases:
- exec mode runtime-api, warm workers: the Python custom runtime of
  config/examples/runtime/bootstrap.py calling bench_fn.handler, and
  tests/tools/rt_echo, a runtime in C (libcurl, one keep-alive
  connection) that answers at once: the latter shows what fnbridge's
  Runtime API itself adds. Target: warm p50 at most 0.5 ms added.
- exec mode stdio: a Python process per invocation calling the handler.
- http: the handler behind a Python HTTP server (keep-alive), and
  tests/tools/fn_server (C) answering at once.
- cold start: a fresh fnbridge whose first event starts the worker
  (BENCH_TARGETS_COLD runs, median): spawn, the runtime's start-up, its
  first GET /next, the invocation.

Everything binds 127.0.0.1 on free ports and is stopped at the end.
Environment: FNBRIDGE (unused), TOOLS, BENCH (build/bench),
BENCH_TARGETS_N (2000 warm invocations per case; stdio a tenth),
BENCH_TARGETS_COLD (5). About a minute on 2 vCPUs.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("TOOLS") or REPO / "build" / "tools")
BENCH = Path(os.environ.get("BENCH") or REPO / "build" / "bench")
N = int(os.environ.get("BENCH_TARGETS_N", "2000"))
COLD = int(os.environ.get("BENCH_TARGETS_COLD", "5"))
PY = "/usr/bin/python3"          # Debian's: starts fast, no shims
HANDLER_DIR = REPO / "tests" / "bench" / "handler"
BOOTSTRAP_PY = REPO / "config" / "examples" / "runtime" / "bootstrap.py"
NO_BROKER = "127.0.0.1:1"

procs = []


def fail(msg):
    print(f"bench_targets: {msg}", file=sys.stderr)
    sys.exit(1)


def start_server(argv, cwd=None):
    """Starts a server that prints 'PORT <n>' and returns (proc, port)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, cwd=cwd)
    procs.append(p)
    line = p.stdout.readline()
    if not line.startswith("PORT "):
        fail(f"{argv[0]} did not start: {line!r}")
    return p, int(line.split()[1])


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def config(work, name, function):
    path = Path(work) / f"{name}.json"
    path.write_text(json.dumps({
        "state_dir": str(Path(work) / "state"), "log": {"level": "warn"},
        "pipelines": [{"name": name,
                       "source": {"kafka": {"brokers": NO_BROKER, "topics": ["t"],
                                            "group_id": "g"}},
                       "function": function}]}))
    return path


def invoke_lat(cfg, name, n):
    r = subprocess.run([str(BENCH / "invoke_lat"), "-c", str(cfg), "-p", name, "-n", str(n),
                        "-e", json.dumps({"orderId": 7, "items": ["a", "b"]})],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        fail(f"{name}: invoke_lat failed: {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout)


def runtime_api(command, handler=None, cwd=None):
    fn = {"command": command, "mode": "runtime-api", "workers": 1, "timeout": "10s",
          "idle_timeout": "60s"}
    if handler:
        fn["handler"] = handler
    if cwd:
        fn["cwd"] = str(cwd)
    return {"exec": fn}


def cases(work):
    _, fn_port = start_server([str(TOOLS / "fn_server"), "--port", "0", "--count-only"])
    _, py_port = start_server([PY, str(HANDLER_DIR / "http_fn.py")], cwd=HANDLER_DIR)
    rt_c = runtime_api([str(TOOLS / "rt_echo")])
    rt_py = runtime_api([PY, str(BOOTSTRAP_PY)], "bench_fn.handler", HANDLER_DIR)
    return [
        ("runtime-api, C runtime (rt_echo)", "rt_c", rt_c, N),
        ("runtime-api, Python runtime (bootstrap.py)", "rt_py", rt_py, N),
        ("http, C server (fn_server)", "http_c",
         {"http": {"url": f"http://127.0.0.1:{fn_port}/", "timeout": "10s"}}, N),
        ("http, Python server (http_fn.py)", "http_py",
         {"http": {"url": f"http://127.0.0.1:{py_port}/", "timeout": "10s"}}, N),
        ("exec stdio, Python process per event", "stdio_py",
         {"exec": {"command": [PY, str(HANDLER_DIR / "stdio_fn.py")], "mode": "stdio",
                   "cwd": str(HANDLER_DIR), "timeout": "10s"}}, max(20, N // 10)),
    ]


def cold_starts(work, label, name, function):
    cfg = config(work, name + "_cold", function)
    firsts = [invoke_lat(cfg, name + "_cold", 2)["first_us"] for _ in range(COLD)]
    return {"label": label, "median_us": statistics.median(firsts), "min_us": min(firsts),
            "max_us": max(firsts)}


def ms(us):
    return f"{us / 1000:.3f}"


def report(rows, colds, took):
    print("\nfunction targets: one invocation at a time through fnbridge's core "
          "(emit -> settle), same handler logic")
    print(f"{'case':45} {'n':>6} {'first ms':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
    for label, r in rows:
        print(f"{label:45} {r['n']:>6} {ms(r['first_us']):>9} {ms(r['p50_us']):>8} "
              f"{ms(r['p90_us']):>8} {ms(r['p99_us']):>8}")
    print(f"\ncold start (a fresh worker's first invocation, {COLD} runs):")
    for c in colds:
        print(f"  {c['label']:43} median {ms(c['median_us'])} ms "
              f"(min {ms(c['min_us'])}, max {ms(c['max_us'])})")
    byname = dict(rows)
    added = byname["runtime-api, C runtime (rt_echo)"]["p50_us"]
    print(f"\nruntime-api warm p50 with a runtime that answers at once: {ms(added)} ms "
          f"(target: at most 0.500 ms added)")
    print(f"bench_targets: {took:.0f} s")


def main():
    for tool in (BENCH / "invoke_lat", TOOLS / "rt_echo", TOOLS / "fn_server"):
        if not os.access(tool, os.X_OK):
            fail(f"missing {tool}: run `make all tools {BENCH}/invoke_lat`")
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="fnbridge-bench-targets-")
    try:
        rows = [(label, invoke_lat(config(work, name, fn), name, n))
                for label, name, fn, n in cases(work)]
        colds = [cold_starts(work, "runtime-api, C runtime", "rt_c",
                             runtime_api([str(TOOLS / "rt_echo")])),
                 cold_starts(work, "runtime-api, Python runtime", "rt_py",
                             runtime_api([PY, str(BOOTSTRAP_PY)], "bench_fn.handler",
                                         HANDLER_DIR))]
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)
    report(rows, colds, time.time() - t0)


if __name__ == "__main__":
    main()
