"""At-least-once across crashes and scale-out: SIGKILL at random points,
two members of one consumer group (README: Outcomes; README: Delivery guarantees)."""
import random

from helpers import (SLOW, http_function, kafka_pipeline, produce, split_id,
                     start_bridge, stop_bridge, wait_until, write_config)

# 200k records of 256 bytes: 16 partitions keep each under the mock's 5 MiB.
TOPICS = {"crash": 16, "shared": 8}


def test_sigkill_five_times_during_200k_run_loses_nothing(
        kafka, procs, fn_server, group, tmp_path):
    produced = produce(kafka, "crash", 200_000, "--partitions", 16, "--size", 256)
    # 50 ms per invocation (16k records/s at most with concurrency 8) keeps
    # each run short of the end and long enough for offset commits to happen.
    fn = fn_server("--delay-ms", 50)
    config = write_config(tmp_path / "fnbridge.yaml", [kafka_pipeline(
        "crash", kafka, "crash", group, http_function(fn.url),
        dlq=tmp_path / "dlq.jsonl")], tmp_path / "state")
    procs.logs.append(("fnbridge config", config))
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"kill points drawn with seed {seed}")

    for i in range(5):
        b = start_bridge(procs, config, f"fnbridge-{i}")
        start = len(fn.log.refresh().entries)
        # More than the 800 records the last run may still have had in flight.
        more = rng.randint(1_000, 25_000)
        wait_until(lambda: len(fn.log.refresh().entries) >= start + more or not b.running(),
                   90 * SLOW, f"run {i}: {more} more deliveries")
        assert b.running(), f"fnbridge-{i} exited with {b.popen.returncode}"
        b.kill()
        assert not produced.ids <= fn.log.refresh().ok, (
            f"all delivered before kill {i + 1}: the kills came too late (seed {seed})")

    before_final = len(fn.log.entries)
    final = start_bridge(procs, config, "fnbridge-final")
    fn.log.wait_delivered(produced.ids, 180 * SLOW, proc=final)
    rc, _ = stop_bridge(final, 30 * SLOW)
    assert rc == 0
    print(f"{before_final} deliveries before the last run, "
          f"{len(fn.log.entries) - before_final} in it")


def partitions_of(ids):
    return {split_id(rid)[1] for rid in ids}


def test_two_members_split_partitions_and_survivor_finishes_after_sigkill(
        kafka, fn_server, bridges, group, tmp_path):
    produced = produce(kafka, "shared", 40_000, "--partitions", 8)
    # Slow functions (50 records per 50 ms per partition at most) keep the
    # run going long enough for both members to join, then for one to die.
    fa = fn_server("--delay-ms", 50, name="fn_a")
    fb = fn_server("--delay-ms", 50, name="fn_b")

    def pipeline(fn, name):
        return [kafka_pipeline("shared", kafka, "shared", group, http_function(fn.url),
                               dlq=tmp_path / f"{name}-dlq.jsonl",
                               batch={"max_records": 50})]
    a = bridges.start(pipeline(fa, "a"), name="fnbridge-a")
    b = bridges.start(pipeline(fb, "b"), name="fnbridge-b")

    wait_until(lambda: (fa.log.refresh().ok and fb.log.refresh().ok)
               or not (a.running() and b.running()), 60 * SLOW, "both members delivering")
    assert a.running() and b.running()
    b.kill()
    done_at_kill = fa.log.refresh().ok | fb.log.refresh().ok
    b_unfinished = partitions_of(fb.log.ok) & partitions_of(produced.ids - done_at_kill)
    assert b_unfinished, "member b had finished its partitions before the kill"
    a_entries_at_kill = len(fa.log.entries)

    wait_until(lambda: produced.ids <= (fa.log.refresh().ok | fb.log.refresh().ok)
               or not a.running(), 120 * SLOW, "every record delivered")
    assert a.running(), f"fnbridge-a exited with {a.popen.returncode}"
    missing = produced.ids - (fa.log.ok | fb.log.ok)
    assert not missing, f"{len(missing)} records never delivered"
    taken_over = partitions_of(rid for status, rid, _ in fa.log.entries[a_entries_at_kill:]
                               if status == 200)
    assert b_unfinished <= taken_over, (
        f"partitions {b_unfinished} of the killed member were not finished by the survivor")
    rc, _ = stop_bridge(a, 30 * SLOW)
    assert rc == 0
