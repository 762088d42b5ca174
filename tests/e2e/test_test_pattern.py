"""fnbridge test-pattern PATTERN EVENT (README: Filters): match, nomatch and
invalid as exit codes 0, 1 and 2, the arguments as JSON text, @FILE or -
(stdin), the reason and where for what is not valid, and the whole
conformance corpus (tests/data/event-patterns) through the command, so the
command and the filter's matcher cannot disagree."""
import json
import subprocess

from helpers import FNBRIDGE, REPO

TOPICS = {}     # no Kafka topics: this module does not use the kafka fixture

CORPUS = REPO / "tests" / "data" / "event-patterns" / "cases.jsonl"
EXIT = {"match": 0, "nomatch": 1, "invalid": 2}


def test_pattern(*args, stdin=None):
    return subprocess.run([FNBRIDGE, "test-pattern", *args], input=stdin, capture_output=True,
                          text=True, timeout=30)


test_pattern.__test__ = False     # a helper, not a test


def test_match_and_nomatch_as_exit_codes():
    pattern = '{"value": {"kind": ["order"], "total": [{"numeric": [">", 100]}]}}'
    r = test_pattern(pattern, '{"value": {"kind": "order", "total": 250}}')
    assert (r.returncode, r.stdout) == (0, "match\n"), r.stderr
    r = test_pattern(pattern, '{"value": {"kind": "order", "total": 50}}')
    assert (r.returncode, r.stdout) == (1, "nomatch\n"), r.stderr


def test_files_and_stdin(tmp_path):
    (tmp_path / "p.json").write_text('{"topic": [{"prefix": "orders."}]}')
    (tmp_path / "e.json").write_text('{"topic": "orders.eu", "partition": 3}')
    r = test_pattern(f"@{tmp_path / 'p.json'}", f"@{tmp_path / 'e.json'}")
    assert r.returncode == 0 and r.stdout == "match\n", r.stderr
    r = test_pattern(f"@{tmp_path / 'p.json'}", "-", stdin='{"topic": "billing"}')
    assert r.returncode == 1 and r.stdout == "nomatch\n", r.stderr
    r = test_pattern("-", '{"topic": "orders.us"}', stdin='{"topic": [{"prefix": "orders."}]}')
    assert r.returncode == 0, r.stderr


def test_what_is_not_valid_is_named():
    r = test_pattern('{"value": {"price": [{"numeric": [">", "ten"]}]}}', '{}')
    assert r.returncode == 2 and r.stdout == ""
    assert "the pattern is not valid" in r.stderr and "value.price" in r.stderr, r.stderr
    r = test_pattern('{"a": ["x"]}', '{"a": "x",')
    assert r.returncode == 2 and "the event is not valid" in r.stderr, r.stderr
    r = test_pattern('{"a": ["x"]}', '@/nonexistent/event.json')
    assert r.returncode == 2 and "/nonexistent/event.json" in r.stderr, r.stderr
    r = test_pattern("-", "-", stdin="{}")
    assert r.returncode == 2 and "only one of PATTERN and EVENT" in r.stderr
    r = test_pattern('{"a": ["x"]}')
    assert r.returncode == 2 and "two arguments" in r.stderr


def test_an_event_over_the_bound_is_refused(tmp_path):
    big = tmp_path / "big.json"
    big.write_text('{"a": "' + "x" * (1 << 20) + '"}')
    r = test_pattern('{"a": ["x"]}', f"@{big}")
    assert r.returncode == 2 and "larger than 1048576 bytes" in r.stderr, r.stderr


def test_help():
    r = subprocess.run([FNBRIDGE, "help", "test-pattern"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("Usage: fnbridge test-pattern")
    r = subprocess.run([FNBRIDGE, "--help"], capture_output=True, text=True, timeout=30)
    assert "fnbridge test-pattern PATTERN EVENT" in r.stdout


def test_every_conformance_case_through_the_command():
    cases = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    assert len(cases) == 155
    wrong = []
    for case in cases:
        r = test_pattern(json.dumps(case["pattern"]), json.dumps(case["event"]))
        if r.returncode != EXIT[case["expect"]]:
            wrong.append((case["name"], case["expect"], r.returncode, r.stderr.strip()))
    assert not wrong, f"{len(wrong)} of {len(cases)} disagree: {wrong[:5]}"
