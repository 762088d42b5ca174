"""`make demo`'s script, run as the README tells a user to run it: every
part finishes, each function's results are shown, and nothing the script
runs complains (a missing program, a file read before it exists)."""
import os
import subprocess
from pathlib import Path

import helpers

TOPICS = {}     # the demo starts its own Kafka cluster, broker and store

DEMO = helpers.REPO / "config" / "examples" / "demo.sh"
COMPLAINTS = ("No such file or directory", "command not found", "timed out waiting",
              "Unable to connect",
              "Traceback", "ERROR: AddressSanitizer", "runtime error:")


def test_demo_runs_every_part_without_complaint(tmp_path):
    env = dict(os.environ, BUILD=str(Path(helpers.FNBRIDGE).parent),
               S3RVER=os.environ.get("S3RVER") or str(
                   helpers.REPO / "tests" / "node" / "node_modules" / ".bin" / "s3rver"))
    out_path = tmp_path / "demo.out"
    with open(out_path, "wb") as out:
        run = subprocess.run(["bash", str(DEMO)], stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, env=env, cwd=helpers.REPO,
                             timeout=300 * helpers.SLOW)
    text = out_path.read_text(errors="replace")
    assert run.returncode == 0, f"demo exited {run.returncode}:\n{text[-4000:]}"
    for complaint in COMPLAINTS:
        assert complaint not in text, f"the demo printed {complaint!r}:\n{text[-4000:]}"
    # Each part got as far as showing what its function did.
    assert "sensor 3 got on replies/3" in text, text[-4000:]
    assert "What the function did (upload-results.txt)" in text, text[-4000:]
    assert text.count("fnbridge exited with status 0") >= 3, text[-4000:]
