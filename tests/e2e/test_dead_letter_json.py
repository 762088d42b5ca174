"""Dead-letter lines are strict JSON whatever the function answered and
whatever the event held (issue 11, point 6), end to end with a real
mosquitto and a function that answers 500: a binary body, a long UTF-8 body
whose 4 KiB cut falls inside a character, a body with a NUL, and the
payload format's raw binary event. Every line must decode as strict UTF-8
and load with json.loads refusing NaN and Infinity; what is not text is
base64, marked, and decodes to the original bytes."""
import base64

from helpers import SLOW, stop_cleanly, wait_until
from mqtt_helpers import (CaptureFunction, binary_payload, mosquitto,  # noqa: F401 (fixture)
                          mqtt_pipeline, publish, record_payload_id, strict_json_lines)

TOPICS = {}     # no Kafka topics: this module does not use the kafka fixture

BINARY_BODY = bytes(range(256)) * 20                 # 5120 bytes, NUL and 0x80-0xFF
# 4095 ASCII bytes then 3- and 4-byte characters: the cut at 4096 lands
# inside the first of them.
UTF8_BODY = ("x" * 4095 + "\u20ac\U0001F600" * 2000).encode()
NUL_BODY = b'{"error":"bad\x00input"}'


def answer_by_id(event):
    """500 with a body chosen by the id the record's payload carries."""
    rid = record_payload_id(event["records"][0]) if event else None
    if rid and rid.startswith("bin-"):
        return 500, BINARY_BODY
    if rid and rid.startswith("utf-"):
        return 500, UTF8_BODY
    return 500, NUL_BODY


def test_dead_letters_of_hostile_answers_and_binary_events_are_strict_json(
        mosquitto, bridges, tmp_path):
    broker = mosquitto()
    fn = CaptureFunction(answer_by_id)
    raw_fn = CaptureFunction(lambda event: (500, NUL_BODY), raw=True)
    try:
        dlq, raw_dlq = tmp_path / "dlq.jsonl", tmp_path / "raw.jsonl"
        common = {"batch": {"max_records": 1, "max_wait": "1ms"},
                  "retry": {"max_attempts": 1, "bisect_on_error": False}}
        json_pl = mqtt_pipeline("answers", broker.url, "fnb-answers", fn.url, dlq=dlq,
                                topics=("answers/#",), **common)
        raw_pl = mqtt_pipeline("raw", broker.url, "fnb-raw", raw_fn.url, dlq=raw_dlq,
                               topics=("raw/#",), **common)
        raw_pl["function"]["http"]["format"] = "payload"
        b = bridges.start([json_pl, raw_pl])
        broker.wait_subscribed("fnb-answers", "answers/#", proc=b)
        broker.wait_subscribed("fnb-raw", "raw/#", proc=b)

        publish(broker.url, "answers/x", 1, prefix="bin-")
        publish(broker.url, "answers/x", 1, prefix="utf-")
        publish(broker.url, "answers/x", 1, prefix="nul-")
        publish(broker.url, "raw/x", 1, "--binary", "--size", 3000, prefix="raw-")

        def lines(path, n):
            return path.exists() and len(path.read_bytes().splitlines()) >= n
        wait_until(lambda: lines(dlq, 3) and lines(raw_dlq, 1) or not b.running(),
                   30 * SLOW, "four dead-letter lines")
        stop_cleanly(b)
    finally:
        fn.close()
        raw_fn.close()

    by_id = {}
    for entry in strict_json_lines(dlq):
        assert entry["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert entry["responseContext"]["statusCode"] == 500
        by_id[record_payload_id(entry["payload"]["records"][0])] = entry["responseContext"]
    assert set(by_id) == {"bin-0", "utf-0", "nul-0"}, by_id.keys()

    binary = by_id["bin-0"]
    assert binary["bodyEncoding"] == "base64"
    assert base64.b64decode(binary["body"]) == BINARY_BODY[:4096]

    text = by_id["utf-0"]
    assert "bodyEncoding" not in text, "a UTF-8 body cut at a character is still text"
    kept = text["body"].encode()
    assert UTF8_BODY.startswith(kept) and len(kept) == 4095, len(kept)

    nul = by_id["nul-0"]
    assert nul["bodyEncoding"] == "base64"
    assert base64.b64decode(nul["body"]) == NUL_BODY

    [raw] = strict_json_lines(raw_dlq)
    assert raw["payloadEncoding"] == "base64", "a binary event is not JSON"
    assert base64.b64decode(raw["payload"]) == binary_payload("raw-", 0, 3000)
    assert base64.b64decode(raw["responseContext"]["body"]) == NUL_BODY
