"""The command line (DESIGN section 2): commands, exit codes, config errors
with FILE:LINE:COL, and `run` against brokers that are not there."""
import subprocess
import textwrap

import pytest

from helpers import (SLOW, free_port, http_function, run_fnbridge, start_bridge,
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
