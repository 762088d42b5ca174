"""sensor_handler.py - an example function for MQTT sensors (exec target).

Reads fnbridge's json event on stdin: {"source": "mqtt", "records": [...]}
with each message's topic and payload (JSON payloads arrive as JSON). It
logs every temperature reading, raising an alert above 30 degrees, and
answers status requests: what it prints is the response, which fnbridge
publishes to the request's MQTT 5 response topic (reply: true).
"""
import json
import os
import sys

event = json.load(sys.stdin)
answer = None
with open(os.environ["RESULTS"], "a") as results:
    for rec in event["records"]:
        sensor = rec["topic"].split("/")[1]
        payload = rec["payload"]
        if rec["topic"].endswith("/temperature"):
            celsius = payload["celsius"]
            alert = "  ALERT: too hot" if celsius > 30 else ""
            site = {p["key"]: p["value"] for p in
                    rec["properties"].get("userProperties", [])}.get("site", "?")
            results.write(f"sensor {sensor} at site {site}: {celsius:.1f} C{alert}\n")
        else:
            answer = {"sensor": sensor, "status": "ok", "asked": payload}
            results.write(f"sensor {sensor} asked for its status: answered\n")
if answer:
    json.dump(answer, sys.stdout)
