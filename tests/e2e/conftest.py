"""Fixtures of the end-to-end tests: one mock Kafka cluster per module (the
module's TOPICS, {name: partitions}), function servers and fnbridge
processes per test, all stopped at teardown. When a test fails, the stderr
of the processes it started is added to its report."""
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import helpers  # noqa: E402
from mqtt_helpers import CaptureFunction  # noqa: E402
from timed_function import TimedFunction  # noqa: E402


def _check_binaries():
    missing = [p for p in (helpers.FNBRIDGE, helpers.tool("mock_kafka"),
                           helpers.tool("kproduce"), helpers.tool("fn_server"))
               if not os.access(p, os.X_OK)]
    if missing:
        pytest.exit(f"missing binaries {missing}: run `make all tools`", returncode=2)


@pytest.fixture(scope="module")
def kafka(request, tmp_path_factory):
    _check_binaries()
    topics = getattr(request.module, "TOPICS")
    workdir = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    procs = helpers.Procs(workdir)
    request.addfinalizer(procs.cleanup)
    return helpers.MockKafka(procs, topics)


@pytest.fixture
def procs(request, tmp_path):
    _check_binaries()
    p = helpers.Procs(tmp_path)
    request.node.fnb_logs = p.logs
    request.addfinalizer(p.cleanup)
    return p


@pytest.fixture
def group(request):
    """A consumer group id of this test's own."""
    return "g-" + re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)


@pytest.fixture
def capture():
    """capture(respond=None) starts a capturing HTTP function."""
    started = []

    def start(respond=None):
        fn = CaptureFunction(respond)
        started.append(fn)
        return fn
    yield start
    for fn in started:
        fn.close()


@pytest.fixture
def fn_server(procs):
    """fn_server(*args, name=...) starts a function test server."""
    count = [0]

    def start(*args, name=None):
        count[0] += 1
        return helpers.FnServer(procs, name or f"fn_server{count[0]}",
                                *[str(a) for a in args])
    return start


class Bridges:
    """bridges.start(pipelines, name=..., shutdown_timeout=...) writes a
    config and starts `fnbridge run` on it; bridges.restart(old, name) runs
    the same config (same state_dir, same group) again."""

    def __init__(self, procs, workdir):
        self.procs = procs
        self.workdir = workdir

    def start(self, pipelines, name="fnbridge", shutdown_timeout="10s", log_level="info"):
        config = helpers.write_config(self.workdir / f"{name}.yaml", pipelines,
                                      self.workdir / f"{name}-state", shutdown_timeout,
                                      log_level)
        self.procs.logs.append((f"{name} config", config))
        proc = helpers.start_bridge(self.procs, config, name)
        proc.config = config
        return proc

    def restart(self, old, name):
        proc = helpers.start_bridge(self.procs, old.config, name)
        proc.config = old.config
        return proc


@pytest.fixture
def bridges(procs, tmp_path):
    return Bridges(procs, tmp_path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for label, path in getattr(item, "fnb_logs", []):
            if Path(path).exists():
                report.sections.append((label, helpers.tail(path)))


@pytest.fixture
def timed():
    """timed(policy) -> a TimedFunction (timed_function.py), closed at
    teardown."""
    started = []

    def start(policy, port=0):
        fn = TimedFunction(policy, port)
        started.append(fn)
        return fn
    yield start
    for fn in started:
        fn.close()


@pytest.fixture
def lean_asan(monkeypatch):
    """Under AddressSanitizer freed blocks wait in a quarantine (256 MiB by
    default) before they are unmapped: with it, memory given back would
    look held. A small quarantine keeps use-after-free checks for recent
    frees; other builds ignore the variable."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (opts + ":" if opts else "") + "quarantine_size_mb=4")
