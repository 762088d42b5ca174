"""Rate limit (README: Circuit breaker and rate limit): with
invocations_per_second R and burst B, the calls that reach the function
(fn_server's --trace, CLOCK_MONOTONIC at the moment each body was in) never
exceed B + R*t over any window of t seconds, and every record is
delivered. Only the limit's own bound is checked, never the machine's
speed; the slack is for the way between fnbridge and the server."""
from helpers import SLOW, http_function, kafka_pipeline, produce, stop_cleanly

TOPICS = {"rl_fast": 4, "rl_slow": 1}
# A call can reach the server a little later than it started (the loop
# back, a busy server thread) and so seem closer to the next one.
WINDOW_SLACK_S = 0.05


def arrivals(trace_path):
    """The arrival time (s) of each request, in order."""
    first = {}
    for line in trace_path.read_text().splitlines():
        ns, kind, req = line.split(" ", 3)[:3]
        if kind == "in" and req not in first:
            first[req] = int(ns) / 1e9
    return sorted(first.values())


def worst_window(times, rate, burst):
    """The window whose count most exceeds burst + rate*(t + slack):
    (excess, count, seconds); excess <= 0 means the bound held."""
    worst = (float("-inf"), 0, 0.0)
    for i in range(len(times)):
        for j in range(i, len(times)):
            t = times[j] - times[i]
            excess = (j - i + 1) - (burst + rate * (t + WINDOW_SLACK_S))
            if excess > worst[0]:
                worst = (excess, j - i + 1, t)
    return worst


def run_limited(kafka, fn_server, bridges, group, tmp_path, topic, partitions, count,
                rate, burst):
    trace = tmp_path / "trace.txt"
    fn = fn_server("--trace", trace)
    produced = produce(kafka, topic, count, "--partitions", partitions)
    b = bridges.start([kafka_pipeline(
        topic, kafka, topic, group, http_function(fn.url), dlq=tmp_path / "dlq.jsonl",
        batch={"max_records": 1, "max_wait": "0ms"}, concurrency=8,
        rate_limit={"invocations_per_second": rate, "burst": burst})])
    fn.log.wait_delivered(produced.ids, (count / rate + 60) * SLOW, proc=b)
    stop_cleanly(b)
    times = arrivals(trace)
    assert len(times) >= count
    return times


def test_calls_keep_burst_plus_rate_times_t_over_every_window(
        kafka, fn_server, bridges, group, tmp_path):
    rate, burst = 20, 4
    times = run_limited(kafka, fn_server, bridges, group, tmp_path, "rl_fast", 4, 100,
                        rate, burst)
    excess, n, t = worst_window(times, rate, burst)
    assert excess <= 0, f"{n} calls in {t:.3f} s: more than {burst} + {rate} * t"


def test_a_fractional_rate_spaces_single_calls(kafka, fn_server, bridges, group, tmp_path):
    rate, burst = 2.5, 1
    times = run_limited(kafka, fn_server, bridges, group, tmp_path, "rl_slow", 1, 10,
                        rate, burst)
    excess, n, t = worst_window(times, rate, burst)
    assert excess <= 0, f"{n} calls in {t:.3f} s: more than {burst} + {rate} * t"
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 1 / rate - WINDOW_SLACK_S, f"calls {min(gaps):.3f} s apart"
