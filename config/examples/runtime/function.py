"""function.py - an example handler for the Python runtime (bootstrap.py),
with _HANDLER=function.handler.

Receives Kafka records in the shape AWS Lambda sends them, appends one line
per record to $RESULTS, and answers with a partial batch response: records
whose value is not JSON are named in batchItemFailures, so only those are
retried (and finally dead-lettered).
"""
import base64
import json
import os


def handler(event, context):
    failures = []
    with open(os.environ.get("RESULTS", os.devnull), "a") as results:
        for records in event["records"].values():
            for rec in records:
                try:
                    value = json.loads(base64.b64decode(rec["value"]))
                except ValueError:
                    failures.append({"itemIdentifier": {
                        "partition": f"{rec['topic']}-{rec['partition']}",
                        "offset": rec["offset"]}})
                    continue
                results.write(f"{rec['topic']}-{rec['partition']}-{rec['offset']} "
                              f"{json.dumps(value)} (request {context.aws_request_id}, "
                              f"{context.get_remaining_time_in_millis()} ms left)\n")
    return {"batchItemFailures": failures}
