"""The exec target (README: Function exec, mode stdio): one process per batch,
event on stdin, exit status as the outcome, process group killed on timeout."""
import os
import signal
import textwrap
from pathlib import Path

import pytest

from helpers import (PYTHON, SLOW, dlq_ids, kafka_pipeline, produce, read_dlq,
                     stop_bridge, wait_until)

TOPICS = {"exec-ok": 2, "exec-fail": 1, "exec-slow": 1}

# argv: OUT_FILE [FAIL_ID]. Appends the ids of the batch to OUT_FILE and
# answers {}; exits 1, writing nothing, when the batch holds FAIL_ID.
HANDLER = textwrap.dedent("""\
    import json, sys
    event = json.load(sys.stdin)
    ids = [f"{r['topic']}-{r['partition']}-{r['offset']}"
           for batch in event["records"].values() for r in batch]
    if len(sys.argv) > 2 and sys.argv[2] in ids:
        sys.exit(1)
    with open(sys.argv[1], "a") as out:
        out.write("".join(i + "\\n" for i in ids))
    print("{}")
""")

# argv: PID_FILE. Starts a grandchild, records both pids, then hangs.
HANGING_HANDLER = textwrap.dedent("""\
    import os, subprocess, sys, time
    sys.stdin.read()
    child = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(sys.argv[1], "a") as f:
        f.write(f"{os.getpid()} {child.pid}\\n")
    time.sleep(300)
""")


def exec_function(*argv, timeout="10s"):
    return {"exec": {"command": [PYTHON] + [str(a) for a in argv], "timeout": timeout}}


def read_ids(path):
    path = Path(path)
    return set(path.read_text().split()) if path.exists() else set()


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_exec_handler_gets_every_record(kafka, bridges, group, tmp_path):
    produced = produce(kafka, "exec-ok", 300, "--partitions", 2)
    handler = tmp_path / "handler.py"
    handler.write_text(HANDLER)
    out = tmp_path / "delivered.txt"
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline("exec-ok", kafka, "exec-ok", group,
                                      exec_function(handler, out), dlq=dlq)])

    wait_until(lambda: read_ids(out) >= produced.ids or not b.running(),
               60 * SLOW, "every record at the handler")
    rc, _ = stop_bridge(b, 30 * SLOW)
    assert rc == 0
    assert read_ids(out) == produced.ids
    assert read_dlq(dlq) == []


def test_exec_handler_exiting_1_dead_letters_only_that_record(
        kafka, bridges, group, tmp_path):
    produced = produce(kafka, "exec-fail", 40)
    failing = "exec-fail-0-17"
    handler = tmp_path / "handler.py"
    handler.write_text(HANDLER)
    out = tmp_path / "delivered.txt"
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline("exec-fail", kafka, "exec-fail", group,
                                      exec_function(handler, out, failing), dlq=dlq,
                                      retry={"max_attempts": 2})])

    wait_until(lambda: (read_ids(out) >= produced.ids - {failing} and read_dlq(dlq))
               or not b.running(), 60 * SLOW, "all but one delivered, one dead-lettered")
    rc, _ = stop_bridge(b, 30 * SLOW)
    assert rc == 0
    entries = read_dlq(dlq)
    assert dlq_ids(entries) == [failing]
    assert entries[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert read_ids(out) == produced.ids - {failing}


@pytest.fixture
def pid_file(tmp_path):
    """Pids the hanging handler wrote; any still alive are killed at teardown."""
    path = tmp_path / "pids.txt"
    yield path
    for pid in read_ids(path):
        if alive(int(pid)):
            os.kill(int(pid), signal.SIGKILL)


def test_exec_timeout_is_a_function_error_and_kills_the_process_group(
        kafka, bridges, group, tmp_path, pid_file):
    produced = produce(kafka, "exec-slow", 1)
    handler = tmp_path / "hang.py"
    handler.write_text(HANGING_HANDLER)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([kafka_pipeline("exec-slow", kafka, "exec-slow", group,
                                      exec_function(handler, pid_file, timeout="1s"),
                                      dlq=dlq, retry={"max_attempts": 2})])

    wait_until(lambda: read_dlq(dlq) or not b.running(), 60 * SLOW, "a dead-letter record")
    rc, _ = stop_bridge(b, 30 * SLOW)
    assert rc == 0
    entries = read_dlq(dlq)
    assert dlq_ids(entries) == sorted(produced.ids)
    assert entries[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert entries[0]["requestContext"]["approximateInvokeCount"] == 2
    lines = pid_file.read_text().splitlines()
    assert len(lines) == 2, f"expected one handler per attempt, got {lines}"
    pids = [int(p) for line in lines for p in line.split()]
    wait_until(lambda: not any(alive(p) for p in pids), 10 * SLOW,
               f"handlers and their children {pids} to be gone")
