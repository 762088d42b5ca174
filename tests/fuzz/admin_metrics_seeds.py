#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_admin_metrics (tests/fuzz/corpus/admin_metrics/):
the target reads its input as a script (see fuzz_admin_metrics.c, fill()), which
this lays out field by field. Run it from the repository root after changing
the script's layout."""
import math
import os
import struct

OUT = "tests/fuzz/corpus/admin_metrics"


def u64(v):
    return struct.pack(">Q", v & (2**64 - 1))


def dbl(d):
    return struct.pack(">d", d)


def text(b):
    return bytes([len(b)]) + b


def pipeline(name, mem=0, obs=(), stats=(0,) * 5, inv=(0,) * 6, meter=(0,) * 8,
             inflight=(0, 0), breaker_sink=(0, 0), gauges=((0, 0), (0, 0)), states=1,
             shards=()):
    """name without the index digit the target puts first; obs: (value, how)
    where how odd is an invocation of value ms and how // 2 records, else an
    observation into the batch (how & 2) or duration histogram; states: source
    state % 5, breaker (states // 5) % 4, sink (states // 20) % 3, paused >= 128."""
    out = u64(mem) + text(name) + bytes([len(obs)])
    for d, how in obs:
        out += dbl(d) + bytes([how])
    for v in stats + inv + meter + inflight + breaker_sink:
        out += u64(v)
    for v, on in gauges:
        out += u64(v) + bytes([on])
    out += bytes([states, len(shards)])
    for topic, part, lag, assigned in shards:
        out += text(topic) + u64(part) + u64(lag) + bytes([assigned])
    return out


SEEDS = {
    "kafka_orders": bytes([0]) + pipeline(
        b"rders", mem=128, obs=((3.2, 10 * 2 + 1), (120.5, 100 * 2 + 1), (0.004, 0), (7.0, 2)),
        stats=(1043, 2, 1030, 11, 4), inv=(200, 3, 1, 2, 1, 0), meter=(207, 2052, 5, 2, 0, 0, 1, 4),
        inflight=(12, 4096), gauges=((-1, 0), (-1, 0)), states=1,
        shards=((b"rders", 0, 7, 1), (b"rders", 1, 9, 0), (b"ayments", 3, -1, 1))),
    "mqtt_spool": bytes([0]) + pipeline(
        b"ensors", mem=896, obs=((15.0, 1 * 2 + 1),), stats=(5000, 0, 4990, 10, 0),
        gauges=((42, 1), (0, 0)), states=1 + 5 * 2),
    "s3_two_pipelines": bytes([1]) + pipeline(b"ploads", gauges=((0, 0), (17, 1)), states=3 + 20)
    + pipeline(b"ploads-retry", obs=((900000.0, 3),), states=2 + 5 + 128),
    "hostile_names_and_numbers": bytes([2]) + pipeline(
        b'we"ird\\name\nx',
        obs=((math.nan, 1), (math.inf, 3), (-math.inf, 0), (1e308, 2), (5e-324, 0), (-0.0, 1)),
        stats=(2**64 - 1, 2**63, 2**53 + 1, 2**63 - 1, 1),
        meter=(2**64 - 1,) * 6 + (-(2**63), 2**63 - 1), inflight=(-(2**63), 2**63 - 1),
        shards=((b"t\xff\xc3\xa9\xed\xa0\x80\"\\", -1, 2**63 - 1, 1),
                (b"x" * 120 + b'"' * 8, 2**31 - 1, 0, 1)))
    + pipeline(b"\xff\xfe\x80", states=4 + 15 + 40) + pipeline(b"", states=255)
    + b"".join(dbl(d) for d in (math.nan, -0.0, 0.1, 1 / 3, 2.0**63, 5e-324, -math.inf)),
}

if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
