"""upload_handler.py - an example function for S3 change events (exec target).

Reads the S3 event on stdin, exactly as AWS S3 sends it to Lambda:
{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {...},
"object": {"key": ..., "size": ..., "eTag": ...}}}]}. Keys arrive
URL-encoded, as on AWS (a space is '+'), so it decodes them with
unquote_plus, as a Lambda handler would. It writes one line per event.
"""
import json
import os
import sys
from urllib.parse import unquote_plus

event = json.load(sys.stdin)
with open(os.environ["RESULTS"], "a") as results:
    for rec in event["Records"]:
        obj = rec["s3"]["object"]
        key = unquote_plus(obj["key"])
        bucket = rec["s3"]["bucket"]["name"]
        if rec["eventName"].startswith("ObjectCreated"):
            results.write(f"new or changed: s3://{bucket}/{key} ({obj['size']} bytes, "
                          f"ETag {obj['eTag'][:8]}…, sequencer {obj['sequencer']})\n")
        else:
            results.write(f"removed:        s3://{bucket}/{key} (sequencer {obj['sequencer']})\n")
