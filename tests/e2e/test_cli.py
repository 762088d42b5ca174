"""The command line (README: Running it): commands, exit codes, config errors
with FILE:LINE:COL, and `run` against brokers that are not there."""
import os
import shutil
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from helpers import (FNBRIDGE, SLOW, free_port, http_function, run_fnbridge, start_bridge,
                     stop_bridge, wait_until, write_config)

def config_text(state_dir, extra=""):
    """A valid one-pipeline config; extra is appended inside the pipeline."""
    return textwrap.dedent(f"""\
        state_dir: {state_dir}
        pipelines:
          - name: orders
            source:
              kafka: {{brokers: "127.0.0.1:9", topics: [orders], group_id: g1}}
            function:
              http: {{url: "http://127.0.0.1:9/", format: lambda, timeout: 5s}}
        """) + extra


def test_check_accepts_a_valid_config(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(config_text(tmp_path / "state"))
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 0, r.stderr
    assert "orders" in r.stdout
    assert r.stderr == ""


def test_check_reports_every_error_as_file_line_col_and_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(config_text(tmp_path / "state",
                                "    batchez: {max_records: 10}\n"     # line 8
                                "    concurrency: lots\n"))            # line 9
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 2
    assert f"{path}:8:5: " in r.stderr and "batchez" in r.stderr, r.stderr
    assert f"{path}:9:" in r.stderr and "concurrency" in r.stderr, r.stderr
    assert r.stdout == ""


def test_check_reports_mqtt_tls_files_it_cannot_read_and_a_format_without_shape(tmp_path):
    path = tmp_path / "mqtt.yaml"
    path.write_text(textwrap.dedent(f"""\
        state_dir: {tmp_path / "state"}
        pipelines:
          - name: a
            source:
              mqtt: {{url: "mqtts://127.0.0.1:8883", topics: [t],
                     tls: {{ca: {tmp_path / "missing-ca.pem"}}}}}
            function: {{http: {{url: "http://127.0.0.1:9/"}}}}
          - name: b
            source: {{mqtt: {{url: "mqtt://127.0.0.1:1883", topics: [t]}}}}
            function: {{http: {{url: "http://127.0.0.1:9/", format: lambda}}}}
        """))
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 2, r.stderr
    assert f"{path}:5:7: pipelines[0].source.mqtt: tls.ca: cannot read " in r.stderr, r.stderr
    assert "missing-ca.pem: No such file or directory" in r.stderr
    assert "pipelines[1].function.http: format lambda has no shape for mqtt records; " \
           "use one of: json, payload" in r.stderr, r.stderr


def test_check_and_run_report_connector_errors_at_the_connector(tmp_path):
    """Errors only a connector can find (a librdkafka property's value, an
    exec command not on PATH) come out of check, not only at run time."""
    path = tmp_path / "conn.yaml"
    path.write_text(textwrap.dedent(f"""\
        state_dir: {tmp_path / "state"}
        pipelines:
          - name: a
            source:
              kafka: {{brokers: "127.0.0.1:9", topics: [t], group_id: g,
                      librdkafka: {{fetch.max.bytes: banana}}}}
            function: {{http: {{url: "http://127.0.0.1:9/"}}}}
          - name: b
            source: {{kafka: {{brokers: "127.0.0.1:9", topics: [t], group_id: g}}}}
            function:
              exec: {{command: [no-such-handler-xyz]}}
        """))
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 2, r.stderr
    assert f"{path}:5:7: pipelines[0].source.kafka: librdkafka property " \
           f"'fetch.max.bytes'" in r.stderr, r.stderr
    assert f"{path}:11:7: pipelines[1].function.exec: " in r.stderr, r.stderr
    assert "no-such-handler-xyz" in r.stderr
    r = run_fnbridge("run", "-c", path)
    assert r.returncode == 2, r.stderr
    assert f"{path}:5:7: pipelines[0].source.kafka:" in r.stderr, r.stderr


def test_missing_config_file_exits_2_naming_the_file(tmp_path):
    path = tmp_path / "nowhere" / "fnbridge.yaml"
    for command in ("check", "run"):
        r = run_fnbridge(command, "-c", path)
        assert r.returncode == 2, f"{command}: {r.returncode} {r.stderr}"
        assert str(path) in r.stderr, f"{command}: {r.stderr}"


def test_unknown_command_exits_2():
    r = run_fnbridge("frobnicate")
    assert r.returncode == 2
    assert "frobnicate" in r.stderr


def test_run_without_config_exits_2():
    r = run_fnbridge("run")
    assert r.returncode == 2
    assert r.stderr


def test_help_exits_0_and_names_the_commands():
    r = run_fnbridge("--help")
    assert r.returncode == 0
    assert "run" in r.stdout and "check" in r.stdout
    r = run_fnbridge("help", "run")
    assert r.returncode == 0
    assert "run -c" in r.stdout


def test_version_exits_0():
    r = run_fnbridge("version")
    assert r.returncode == 0
    assert r.stdout.startswith("fnbridge ")
    for lib in ("librdkafka ", "libmosquitto ", "LMDB ", "expat_", "libcurl/"):
        assert lib in r.stdout, f"version does not name {lib.strip()}: {r.stdout}"


def test_run_with_unreachable_brokers_keeps_running_and_stops_on_sigterm(procs, tmp_path):
    pipeline = {
        "name": "orphan",
        "source": {"kafka": {"brokers": f"127.0.0.1:{free_port()}", "topics": ["t"],
                             "group_id": "g-unreachable"}},
        "function": http_function(f"http://127.0.0.1:{free_port()}/"),
    }
    config = write_config(tmp_path / "fnbridge.yaml", [pipeline], tmp_path / "state",
                          shutdown_timeout="5s")
    b = start_bridge(procs, config)
    wait_until(lambda: "running" in b.stderr() or not b.running(), 30 * SLOW,
               "fnbridge to log that it runs")
    # The Kafka client keeps retrying: a missing broker is no reason to exit.
    with pytest.raises(subprocess.TimeoutExpired):
        b.popen.wait(2)
    rc, took = stop_bridge(b, 5 + 10 * SLOW)
    assert rc == 0
    assert took < 5 + 2 * SLOW


# ------------------------------------------- check refuses what run refuses


def kafka_config(state_dir, topics="orders", kafka_extra="", extra="", state_line=None):
    """A one-pipeline config (Kafka at a port nothing listens on, so a `run`
    that does not refuse it keeps running)."""
    return textwrap.dedent(f"""\
        {state_line or f"state_dir: {state_dir}"}
        pipelines:
          - name: orders
            source:
              kafka: {{brokers: "127.0.0.1:9", topics: [{topics}], group_id: g1{kafka_extra}}}
            function:
              http: {{url: "http://127.0.0.1:9/", format: lambda, timeout: 5s}}
        """) + extra


def position(text, needle, skip=0):
    """LINE:COL (1-based) of the first needle in text, moved skip columns."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return f"{n}:{line.index(needle) + 1 + skip}"
    raise AssertionError(f"{needle!r} not in the config")


def bad_disk_and_values(tmp_path):
    """(name, config text, the located error expected) for each config that
    `run` refuses; tmp_path gets a regular file `file` and a FIFO `fifo`."""
    f = tmp_path / "file"
    f.write_text("x")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    state = tmp_path / "state"
    cases = []
    text = kafka_config(f)
    cases.append(("state_dir is a file", text,
                  f"{position(text, str(f))}: state_dir: {f} is not a directory"))
    text = kafka_config(f / "sub")
    cases.append(("state_dir under a file", text,
                  f"{position(text, str(f))}: state_dir: cannot create {f}/sub: "
                  f"{f} is not a directory"))
    dlq = f / "dlq" / "orders.jsonl"
    text = kafka_config(state, extra=f"    dead_letter: {{file: {{path: {dlq}}}}}\n")
    cases.append(("dead-letter directory under a file", text,
                  f"{position(text, str(dlq))}: pipelines[0].dead_letter.file.path: "
                  f"cannot create {dlq}: {f} is not a directory"))
    text = kafka_config(state, extra=f"    dead_letter: {{file: {{path: {tmp_path}}}}}\n")
    cases.append(("dead-letter file is a directory", text,
                  f"{position(text, 'path: ', 6)}: pipelines[0].dead_letter.file.path: "
                  f"{tmp_path} is a directory"))
    text = kafka_config(state, topics='"^orders-(eu|us"')
    cases.append(("topic regex that does not compile", text,
                  f"{position(text, '^orders', -1)}: pipelines[0].source.kafka.topics[0]: "
                  "is not a valid regular expression"))
    text = kafka_config(state, kafka_extra=", start: timestamp:99999999999999999999")
    cases.append(("start timestamp beyond int64", text,
                  f"{position(text, 'timestamp:9')}: pipelines[0].source.kafka.start: "
                  "timestamp is too large"))
    text = kafka_config(None, state_line=f"state_dir: ${{file:{fifo}}}")
    cases.append(("${file:} on a FIFO", text,
                  f"1:12: state_dir: cannot read file {fifo}: not a regular file"))
    text = kafka_config(None, state_line="state_dir: ${env:" + "A" * 300 + "}")
    cases.append(("${env:} name longer than the buffer", text,
                  "1:12: state_dir: environment variable name in ${env:...} is longer "
                  "than 255 characters"))
    taken = tmp_path / "taken"         # its mqtt and s3 are files, not directories
    taken.mkdir()
    (taken / "mqtt").write_text("x")
    (taken / "s3").write_text("x")
    text = textwrap.dedent(f"""\
        state_dir: {taken}
        pipelines:
          - name: sensors
            source: {{mqtt: {{url: "mqtt://127.0.0.1:9", topics: [t]}}}}
            function: {{http: {{url: "http://127.0.0.1:9/"}}}}
        """)
    cases.append(("MQTT spool directory under a file", text,
                  f"{position(text, 'mqtt:')}: pipelines[0].source.mqtt: spool directory: "
                  f"cannot create {taken}/mqtt/fnbridge-sensors: {taken}/mqtt is not a "
                  "directory"))
    text = textwrap.dedent(f"""\
        state_dir: {taken}
        pipelines:
          - name: uploads
            source: {{s3: {{endpoint: "http://127.0.0.1:9", bucket: bkt}}}}
            function: {{http: {{url: "http://127.0.0.1:9/"}}}}
        """)
    cases.append(("S3 checkpoint directory under a file", text,
                  f"{position(text, 's3:')}: pipelines[0].source.s3: checkpoint directory: "
                  f"cannot create {taken}/s3/uploads: {taken}/s3 is not a directory"))
    text = textwrap.dedent(f"""\
        state_dir: {state}
        pipelines:
          - name: orders
            source: {{kafka: {{brokers: "127.0.0.1:9", topics: [t], group_id: g}}}}
            function:
              openfaas: {{gateway: "http://127.0.0.1:9", name: fn, username: admin,
                         password_file: {fifo}}}
        """)
    cases.append(("OpenFaaS password_file on a FIFO", text,
                  f"{position(text, 'openfaas:')}: pipelines[0].function.openfaas: "
                  f"password_file: cannot read {fifo}: not a regular file"))
    missing = tmp_path / "missing-ca.pem"
    text = kafka_config(state, kafka_extra=", librdkafka: {security.protocol: SSL, "
                                           f"ssl.ca.location: {missing}}}")
    cases.append(("Kafka TLS file that does not exist", text,
                  f"{position(text, 'kafka:')}: pipelines[0].source.kafka: librdkafka "
                  f"property 'ssl.ca.location': cannot read {missing}: No such file or "
                  "directory"))
    return cases


BAD_CASES = ["state_dir is a file", "state_dir under a file",
             "dead-letter directory under a file", "dead-letter file is a directory",
             "topic regex that does not compile", "start timestamp beyond int64",
             "${file:} on a FIFO", "${env:} name longer than the buffer",
             "MQTT spool directory under a file", "S3 checkpoint directory under a file",
             "OpenFaaS password_file on a FIFO", "Kafka TLS file that does not exist"]


@pytest.mark.parametrize("name", BAD_CASES)
def test_check_and_run_refuse_the_same_configs_with_the_same_located_error(tmp_path, name):
    """Both exit 2 with one FILE:LINE:COL message; each must end by itself
    (a FIFO read would block: the deadline fails the test instead)."""
    cases = {n: (text, want) for n, text, want in bad_disk_and_values(tmp_path)}
    assert sorted(cases) == sorted(BAD_CASES)
    text, want = cases[name]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    results = {}
    for command in ("check", "run"):
        try:
            results[command] = run_fnbridge(command, "-c", path, timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"fnbridge {command} did not end within 20 s")
        if command == "check":
            assert not (tmp_path / "state").exists(), "check created state_dir"
    check, run = results["check"], results["run"]
    line = f"{path}:{want}"
    assert check.returncode == 2 and line in check.stderr and check.stdout == "", \
        f"check {check.returncode}: {check.stderr}"
    assert len(check.stderr.splitlines()) == 1, check.stderr
    assert run.returncode == 2 and run.stderr == check.stderr, \
        f"run {run.returncode}: {run.stderr[-2000:]}"


def test_check_passes_tls_files_librdkafka_does_not_read(tmp_path):
    """librdkafka opens ssl.* files only for SSL and SASL_SSL: a plaintext
    consumer runs with any value there, so check must pass it too."""
    path = tmp_path / "plain.yaml"
    path.write_text(kafka_config(tmp_path / "state", kafka_extra=", librdkafka: "
                                 f"{{ssl.ca.location: {tmp_path / 'missing.pem'}}}"))
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 0, r.stderr


def test_check_creates_nothing(tmp_path):
    state = tmp_path / "a" / "b" / "state"
    path = tmp_path / "ok.yaml"
    path.write_text(kafka_config(state, extra=f"    dead_letter: {{file: {{path: "
                                              f"{tmp_path / 'd' / 'x.jsonl'}}}}}\n"))
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def check_and_run_refuse(as_user, path, want):
    """check and run (as as_user) both exit 2 printing exactly want."""
    for command in ("check", "run"):
        r = subprocess.run(as_user + [FNBRIDGE, command, "-c", str(path)],
                           capture_output=True, text=True, timeout=20 * SLOW,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 2 and r.stderr == want, f"{command}: {r.returncode} {r.stderr}"


def test_check_and_run_refuse_a_state_dir_the_user_cannot_write():
    """Root writes anywhere, so the user is nobody (setpriv) in a directory
    root owns; run as another user, in a directory made read-only."""
    root = os.geteuid() == 0
    top = Path(tempfile.mkdtemp(prefix="fnbridge-cli-"))
    try:
        ro = top / "ro"
        ro.mkdir()
        top.chmod(0o755)
        ro.chmod(0o755 if root else 0o555)
        path = top / "nobody.yaml"
        path.write_text(kafka_config(ro / "state"))
        path.chmod(0o644)
        as_user = AS_NOBODY if root else []
        want = (f"{path}:1:12: state_dir: cannot create {ro}/state: cannot write in {ro}: "
                "Permission denied\n")
        check_and_run_refuse(as_user, path, want)
        assert not (ro / "state").exists()
    finally:
        ro.chmod(0o755)
        shutil.rmtree(top)


def test_check_and_run_refuse_an_exec_cwd_the_user_cannot_enter():
    """The worker chdirs to cwd: one the user may not search failed every
    batch at run time. As nobody (setpriv) when root, in a directory root
    keeps to itself (0700); else in one made 0600."""
    root = os.geteuid() == 0
    top = Path(tempfile.mkdtemp(prefix="fnbridge-cli-"))
    try:
        closed = top / "closed"
        closed.mkdir()
        state = top / "state"
        state.mkdir()
        top.chmod(0o755)
        state.chmod(0o777)
        closed.chmod(0o700 if root else 0o600)
        path = top / "cwd.yaml"
        path.write_text(kafka_config(state, extra="").replace(
            'http: {url: "http://127.0.0.1:9/", format: lambda, timeout: 5s}',
            f'exec: {{command: ["true"], cwd: {closed}}}'))
        path.chmod(0o644)
        as_user = AS_NOBODY if root else []
        want = (f"{path}:7:7: pipelines[0].function.exec: cwd: \"{closed}\": "
                "Permission denied\n")
        check_and_run_refuse(as_user, path, want)
    finally:
        shutil.rmtree(top)


def test_check_of_a_10_mb_config_of_anchors(tmp_path):
    """49,000 anchors each aliased once (under the 100,000-node budget): the
    config is valid and check says so. The time is printed, not asserted."""
    pad = "v" * 190
    lines = [f"state_dir: {tmp_path / 'state'}", "pipelines:", "  - name: big",
             '    source: {kafka: {brokers: "127.0.0.1:9", topics: [t], group_id: g}}',
             "    function:", "      exec:", "        command:", '          - "true"']
    lines += [f"          - &a{i:06d} {pad}{i}" for i in range(49000)]
    lines += [f"          - *a{i:06d}" for i in range(49000)]
    path = tmp_path / "big.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 10_000_000
    started = time.monotonic()
    r = run_fnbridge("check", "-c", path, timeout=120)
    took = time.monotonic() - started
    print(f"check of a {path.stat().st_size} byte config of anchors: {took:.2f} s")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "big: kafka -> exec" in r.stdout


def test_check_of_a_config_of_many_alike_interpolations(tmp_path):
    """40,000 interpolations whose values share their first bytes (each one
    a secret the mask must know): check passes, and an error in the same
    file still prints the interpolation, not its value. The time is printed,
    not asserted (the registry once made this quadratic: 12 s for 40,000)."""
    lines = [f"state_dir: {tmp_path / 'state'}", "pipelines:", "  - name: many",
             '    source: {kafka: {brokers: "127.0.0.1:9", topics: [t], group_id: g}}',
             "    function:", "      exec:", "        command: [/bin/cat]", "        env:"]
    lines += [f'          V{i}: "${{env:FNB_UNSET_X:-value{i:06d}}}"' for i in range(40000)]
    path = tmp_path / "many.yaml"
    path.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    r = run_fnbridge("check", "-c", path, timeout=120)
    took = time.monotonic() - started
    print(f"check of a {path.stat().st_size} byte config of 40,000 interpolations: {took:.2f} s")
    assert r.returncode == 0, r.stderr[-2000:]
    bad = tmp_path / "bad.yaml"
    bad.write_text("\n".join(lines + ["    concurrency: \"${env:FNB_UNSET_X:-value031337}\""])
                   + "\n")
    r = run_fnbridge("check", "-c", bad, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "concurrency" in r.stderr and "value031337" not in r.stderr, r.stderr[-2000:]
