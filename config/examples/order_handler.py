"""order_handler.py - an example function for the exec target.

Reads a Lambda-style Kafka event on stdin (the same JSON AWS Lambda sends
for a self-managed Kafka trigger), handles each order, and answers with a
partial batch response naming the orders it could not handle, so only
those are retried and finally dead-lettered.
"""
import base64
import json
import os
import sys

event = json.load(sys.stdin)
failures = []
with open(os.environ["RESULTS"], "a") as results:
    for records in event["records"].values():
        for rec in records:
            order = json.loads(base64.b64decode(rec["value"]))
            if order.get("amount", 0) < 0:
                failures.append({"itemIdentifier": {
                    "partition": f'{rec["topic"]}-{rec["partition"]}',
                    "offset": rec["offset"]}})
                continue
            total = order["amount"] * (1 + order.get("vat", 0))
            results.write(f'order {order["id"]} from {order["customer"]}: '
                          f'charged {total:.2f} (partition {rec["partition"]}, '
                          f'offset {rec["offset"]})\n')
json.dump({"batchItemFailures": failures}, sys.stdout)
