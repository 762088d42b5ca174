"""Circuit breaker (README: Circuit breaker and rate limit), against the mock
Kafka cluster and a real HTTP function that notes when each call arrived
and was answered. The bounds checked are the feature's own: after the
failure that opens the circuit no call arrives for the cooldown, then one
probe and nothing else until it was answered; nothing is lost."""
import time


from helpers import (SLOW, http_function, kafka_pipeline, produce, read_dlq, stop_cleanly,
                     wait_until)

TOPICS = {"cb_500": 1, "cb_429": 4, "cb_400": 2}
# fnbridge's timers run on whole milliseconds: a gap may look up to 1 ms
# short of the cooldown from here, and the server's clock reads add a little.
CLOCK_SLACK = 0.005



def breaker_pipeline(kafka, topic, group, fn, failures, cooldown_s, dlq, max_attempts=5,
                     **extra):
    return kafka_pipeline(
        topic, kafka, topic, group, http_function(fn.url), dlq=dlq,
        circuit_breaker={"failures": failures, "cooldown": f"{int(cooldown_s * 1000)}ms"},
        batch={"max_records": 10, "max_wait": "20ms"},
        retry={"max_attempts": max_attempts, "backoff": {"initial": "10ms", "max": "20ms",
                                              "jitter": "none"},
               "bisect_on_error": False},
        **extra)


def test_failures_open_the_circuit_for_the_cooldown_a_failed_probe_reopens_it(
        kafka, timed, bridges, group, tmp_path):
    """One batch in flight at a time, so the server's clock measures the
    breaker exactly: calls 1-3 fail (the circuit opens), call 4 is the
    probe and fails (it opens again), call 5 is the probe that succeeds.
    The batch waited behind the open circuit without spending attempts:
    max_attempts is 5 and its fifth attempt delivers it."""
    cooldown = 1.0
    fn = timed(lambda n, ids: (500 if n <= 4 else 200, 0))
    produced = produce(kafka, "cb_500", 30)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([breaker_pipeline(kafka, "cb_500", group, fn, 3, cooldown, dlq,
                                        concurrency=1)])

    fn.wait_delivered(produced.ids, 60 * SLOW, proc=b)
    stop_cleanly(b)

    calls = fn.snapshot()
    assert [c.status for c in calls[:5]] == [500, 500, 500, 500, 200]
    assert all(c.ids == calls[0].ids for c in calls[:5]), "the probes are the failed batch"
    # The circuit opened when the third failure came back: nothing for the
    # cooldown, then the probe alone; it failed: another whole cooldown.
    assert calls[3].arrived - calls[2].answered >= cooldown - CLOCK_SLACK, \
        f"a call {calls[3].arrived - calls[2].answered:.3f} s after the circuit opened"
    assert calls[4].arrived - calls[3].answered >= cooldown - CLOCK_SLACK, \
        f"a call {calls[4].arrived - calls[3].answered:.3f} s after the probe failed"
    assert read_dlq(dlq) == []
    log = b.stderr()
    assert log.count("circuit breaker open after 3 failed invocations in a row "
                     "(last: transient, status 500") == 1, log[-3000:]
    assert log.count("circuit breaker open again: the probe failed") == 1
    assert log.count("circuit breaker half-open") == 2
    assert log.count("circuit breaker closed: the probe succeeded") == 1
    assert "pausing: the circuit breaker is open" in log


def test_throttling_opens_the_circuit_and_only_one_probe_runs_while_half_open(
        kafka, timed, bridges, group, tmp_path):
    """Four partitions, four invocations in flight; the function answers
    429 until its second probe, which it holds 0.5 s: no other call
    arrives meanwhile. A call is a probe when it arrives a cooldown after
    the call before it (in-flight calls started before the circuit opened
    arrive together with the failing ones)."""
    cooldown = 1.5
    state = {"last": None, "probes": []}

    def policy(n, ids):
        now = time.monotonic()
        gap = now - state["last"] if state["last"] is not None else 0
        state["last"] = now
        if gap >= 0.9 * cooldown:
            state["probes"].append(n)
            if len(state["probes"]) == 2:
                return 200, 0.5
        if len(state["probes"]) < 2:
            return 429, 0
        return 200, 0

    fn = timed(policy)
    produced = produce(kafka, "cb_429", 200, "--partitions", 4)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([breaker_pipeline(kafka, "cb_429", group, fn, 4, cooldown, dlq,
                                        max_attempts=1000)])

    fn.wait_delivered(produced.ids, 90 * SLOW, proc=b)
    stop_cleanly(b)

    calls = fn.snapshot()
    assert len(state["probes"]) == 2, f"probes at calls {state['probes']}"
    first, second = (calls[n - 1] for n in state["probes"])
    assert calls[first.n].n == second.n, "a call came between the two probes"
    assert second.arrived - first.answered >= cooldown - CLOCK_SLACK
    during = [c.n for c in calls if first.arrived < c.arrived < first.answered + cooldown
              - CLOCK_SLACK and c is not first]
    assert not during, f"calls {during} arrived while the first probe was out or after it failed"
    during = [c.n for c in calls if second.arrived < c.arrived < second.answered
              and c is not second]
    assert not during, f"calls {during} arrived while the second probe was out"
    assert all(c.status == 429 for c in calls[:first.n]), "only 429s before the first probe"
    assert read_dlq(dlq) == []
    log = b.stderr()
    assert log.count("circuit breaker open after 4 failed invocations in a row "
                     "(last: throttled, status 429") == 1, log[-3000:]
    assert log.count("circuit breaker closed: the probe succeeded") == 1


def test_rejections_do_not_open_the_circuit(kafka, timed, bridges, group, tmp_path):
    """A 400 is an answer about that batch, dead-lettered at once: with
    failures 1 and a long cooldown, every batch is still called and
    dead-lettered, and the circuit never opens."""
    fn = timed(lambda n, ids: (400, 0))
    produced = produce(kafka, "cb_400", 40, "--partitions", 2)
    dlq = tmp_path / "dlq.jsonl"
    b = bridges.start([breaker_pipeline(kafka, "cb_400", group, fn, 1, 600, dlq)])

    def all_dead_lettered():
        ids = {f"{r['topic']}-{r['partition']}-{r['offset']}"
               for e in read_dlq(dlq) for batch in e["payload"]["records"].values()
               for r in batch}
        return ids >= produced.ids
    wait_until(all_dead_lettered, 60 * SLOW, "every record dead-lettered")
    stop_cleanly(b)
    assert "circuit breaker" not in b.stderr()
    assert {c.status for c in fn.snapshot()} == {400}
