"""The tests, the build and the demo run from a fresh clone: nothing in the
repository reads a file beside it (such as the developers' shared folder,
which a user who clones the repository does not have)."""
import re
import subprocess

import helpers

TOPICS = {}

# A path that leaves the checkout for the shared folder (one or two levels
# up), the parent of the repository's top level, or the conformance data.
# Spelled in parts so that this file does not name the path itself.
SHARED = "shared"
OUTSIDE = re.compile(r"(\.\./){1,2}" + SHARED + r"|REPO\.parent|conformance/")


def tracked_files():
    out = subprocess.run(["git", "-C", str(helpers.REPO), "ls-files", "tests", "config",
                          "bridge", "connectors", "Makefile", ".ci"],
                         capture_output=True, text=True, check=True).stdout
    return [helpers.REPO / p for p in out.split()]


def test_nothing_reads_outside_the_repository():
    offenders = []
    for path in tracked_files():
        if path.suffix not in (".c", ".h", ".py", ".sh", "") or path.name == "test_fresh_clone.py":
            continue
        try:
            text = path.read_text(errors="replace")
        except (IsADirectoryError, FileNotFoundError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line) and "FIELD-NOTES" not in line:
                offenders.append(f"{path.relative_to(helpers.REPO)}:{n}: {line.strip()}")
    assert not offenders, "reads outside the clone:\n" + "\n".join(offenders)


def test_the_sample_events_are_in_the_repository():
    data = helpers.REPO / "tests" / "data" / "lambda-events"
    for name in ("kafka-event.json", "s3-event.json"):
        assert (data / name).is_file(), name
    readme = (helpers.REPO / "tests" / "data" / "README.md").read_text()
    assert "aws/aws-lambda-go" in readme and "Apache" in readme
