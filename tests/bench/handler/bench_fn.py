"""The handler logic every target kind runs in bench_targets.py: a Lambda
handler that looks at its event and answers a small JSON object."""


def handler(event, context):
    return {"ok": True, "records": len(event) if isinstance(event, (list, dict)) else 0}
