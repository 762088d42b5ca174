"""bench_fn.handler behind exec mode stdio: one process per batch, the
event on stdin, the response on stdout."""
import json
import sys

from bench_fn import handler

print(json.dumps(handler(json.load(sys.stdin), None)))
