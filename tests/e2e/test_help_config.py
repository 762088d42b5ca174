"""`fnbridge help config [SECTION] [--markdown]`: the config reference printed
from the option tables the parser applies, and README's reference, which
must be that output (make docs writes it), so docs and parser cannot drift."""
import re
import textwrap

from helpers import REPO, run_fnbridge

BEGIN = re.compile(r"^<!-- config-reference:begin (\S+) -->$")
END = "<!-- config-reference:end -->"

# Sections the tables have today; more may come with new connectors.
KNOWN = ["top", "top.log", "pipeline", "pipeline.batch", "pipeline.max_inflight",
         "pipeline.retry", "pipeline.retry.backoff", "pipeline.dead_letter",
         "pipeline.dead_letter.file", "source.kafka", "source.mqtt", "source.mqtt.tls",
         "source.mqtt.spool", "source.s3", "target.http", "target.lambda",
         "target.openfaas", "target.exec"]


def sections():
    """Every section, as the error for an unknown one lists them."""
    r = run_fnbridge("help", "config", "xyzzy")
    assert r.returncode == 2, r
    m = re.search(r"sections: (.*)$", r.stderr.strip())
    assert m, r.stderr
    return m.group(1).split(", ")


def blocks(text):
    """{section: text} of the blocks between config-reference markers."""
    found, name = {}, None
    for line in text.splitlines(keepends=True):
        m = BEGIN.match(line.rstrip("\n"))
        if m:
            assert name is None, f"block {m.group(1)} opens inside {name}"
            name, found[m.group(1)] = m.group(1), ""
        elif line.rstrip("\n") == END:
            assert name is not None, "an end marker without a begin"
            name = None
        elif name is not None:
            found[name] += line
    assert name is None, f"block {name} is not closed"
    return found


def key_line(text, key):
    """The line `  KEY  TYPE...` of a text listing, and the help below it."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.split()[:1] == [key] and line.startswith("  ") and not line.startswith("   "):
            help_lines = []
            for more in lines[i + 1:]:
                if not more.startswith("      "):
                    break
                help_lines.append(more.strip())
            return line.split(None, 1)[1], " ".join(help_lines)
    raise AssertionError(f"no key {key} in:\n{text}")


def test_every_section_prints_as_text_and_markdown():
    names = sections()
    assert set(KNOWN) <= set(names), names
    for name in names:
        r = run_fnbridge("help", "config", name)
        assert r.returncode == 0 and r.stderr == "", (name, r.stderr)
        assert r.stdout.splitlines()[0].split()[0] == name, r.stdout
        assert len(r.stdout.splitlines()) > 2, r.stdout
        md = run_fnbridge("help", "config", name, "--markdown")
        assert md.returncode == 0 and md.stderr == "", (name, md.stderr)
        assert "| key | type | default | range | meaning |\n|---|---|---|---|---|\n" in md.stdout
        assert md.stdout.count("\n| `") >= 1, md.stdout


def test_without_a_section_every_table_of_its_own_is_printed():
    r = run_fnbridge("help", "config")
    assert r.returncode == 0 and r.stderr == ""
    headers = [line.split()[0] for line in r.stdout.splitlines() if line and line[0] != " "]
    own = [n for n in sections() if n in ("top", "pipeline") or n.count(".") == 1 and
           n.split(".")[0] in ("source", "target", "dead_letter")]
    assert headers == own, headers
    # nested tables appear inside their table as dotted keys
    assert key_line(r.stdout, "retry.backoff.jitter")[0] == "enum (full | none), default full"


def test_a_keys_type_default_range_and_help_are_the_tables():
    batch = run_fnbridge("help", "config", "pipeline.batch").stdout
    assert key_line(batch, "max_records") == ("integer 1..10000, default 100",
                                              "records per invocation at most")
    assert key_line(batch, "max_bytes")[0] == "size 1KiB..64MiB, default 1MiB"
    assert key_line(batch, "max_wait")[0] == "duration 0s..15m, default 500ms"
    kafka = run_fnbridge("help", "config", "source.kafka").stdout
    assert key_line(kafka, "brokers")[0] == "string, required"
    line, help_text = key_line(kafka, "ordering")
    assert line == "enum (partition | key | none), default partition"
    assert "key: one per key" in help_text        # code quotes dropped for a terminal
    assert "event formats: lambda (the default)" in kafka
    mqtt = run_fnbridge("help", "config", "source.mqtt").stdout
    assert key_line(mqtt, "client_id")[0] == "string, default fnbridge-<pipeline>"
    assert key_line(mqtt, "tls.insecure")[0] == "boolean, default false"
    md = run_fnbridge("help", "config", "pipeline.batch", "--markdown").stdout
    assert ("| `max_records` | integer | `100` | 1..10000 | records per invocation at most |"
            in md.splitlines()), md
    md = run_fnbridge("help", "config", "source.kafka", "--markdown").stdout
    assert "| `ordering` | enum | `partition` | `partition`, `key`, `none` | " in md, md


def test_the_ranges_printed_are_the_ones_the_parser_enforces(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(f"""\
        state_dir: {tmp_path / "state"}
        pipelines:
          - name: a
            source:
              kafka: {{brokers: "127.0.0.1:9", topics: [t], group_id: g, ordering: lane}}
            function: {{http: {{url: "http://127.0.0.1:9/"}}}}
            batch: {{max_records: 10001, max_wait: 16m}}
        """))
    r = run_fnbridge("check", "-c", path)
    assert r.returncode == 2
    batch = run_fnbridge("help", "config", "pipeline.batch").stdout
    lo, hi = re.search(r"integer (\d+)\.\.(\d+)", key_line(batch, "max_records")[0]).groups()
    assert f"batch.max_records: must be between {lo} and {hi}" in r.stderr, r.stderr
    lo, hi = re.search(r"duration (\S+)\.\.(\S+),", key_line(batch, "max_wait")[0]).groups()
    assert f"batch.max_wait: must be between {lo} and {hi}" in r.stderr, r.stderr
    kafka = run_fnbridge("help", "config", "source.kafka").stdout
    values = re.search(r"enum \((.*)\)", key_line(kafka, "ordering")[0]).group(1)
    assert f"ordering: must be one of: {values.replace(' | ', ', ')}" in r.stderr, r.stderr


def test_an_unknown_section_exits_2_with_a_suggestion():
    for asked, near in (("source.kafak", "source.kafka"), ("kafka", "source.kafka"),
                        ("target.exce", "target.exec"), ("backof", "pipeline.retry.backoff")):
        r = run_fnbridge("help", "config", asked)
        assert r.returncode == 2 and r.stdout == "", r
        assert f"unknown config section '{asked}'; did you mean '{near}'?" in r.stderr, r.stderr
    r = run_fnbridge("help", "config", "xyzzy")
    assert r.returncode == 2 and r.stdout == ""
    assert "sections: top, " in r.stderr and "target.exec" in r.stderr


def test_usage_errors_exit_2():
    for args in (("--bogus",), ("top", "pipeline")):
        r = run_fnbridge("help", "config", *args)
        assert r.returncode == 2 and r.stdout == "", r
        assert "Usage: fnbridge help config [SECTION] [--markdown]" in r.stderr


def test_help_names_help_config():
    r = run_fnbridge("--help")
    assert r.returncode == 0
    assert "fnbridge help config [SECTION]" in r.stdout


def test_readme_reference_is_the_binarys_output():
    """README's blocks are what `make docs` writes: a key, default, range or
    help changed in a table and not in README (or the reverse) fails here."""
    r = run_fnbridge("help", "config", "--markdown")
    assert r.returncode == 0 and r.stderr == ""
    want = blocks(r.stdout)
    have = blocks((REPO / "README.md").read_text())
    assert sorted(have) == sorted(want), "README's config-reference blocks are not the " \
        f"sections: README has {sorted(have)}, fnbridge {sorted(want)}; run make docs"
    for name, text in want.items():
        assert have[name] == text, f"README's block {name} differs from `fnbridge help " \
            f"config --markdown`; run make docs"
        one = run_fnbridge("help", "config", name, "--markdown")
        assert one.stdout == text, name
