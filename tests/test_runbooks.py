"""Runbook parsing and lint: the shipped runbooks are clean, broken ones get the precise error."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.cli import main
from tui.runbooks.lint import check_rendering, lint, site_renderer
from tui.runbooks.parse import load_runbooks, parse_runbook, read_runbook
from tui.runbooks.problems import ContentError
from tui.runbooks.runbook import ParameterError, Step
from tui.runbooks.signatures import load_signatures

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "runbooks"
REQUIRED_RUNBOOKS = {
    "runner-offline", "degraded-resources", "expired-secrets", "network-unreachable",
    "registration-clock", "docker-daemon", "version-deprecated", "jobs-queued",
}  # fmt: skip
DELETES = re.compile(r"\brm\s+-[a-zA-Z]*[rR]|\bdocker\b[^\n]*\bprune\b|\bfind\b[^\n]*\s-delete\b")
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())


def test_every_shipped_runbook_parses_and_lints_clean():
    runbooks = load_runbooks()
    assert REQUIRED_RUNBOOKS <= set(runbooks)
    assert lint() == []


def test_shipped_runbooks_follow_the_safety_rules():
    for runbook in load_runbooks().values():
        kinds = {s.kind for s in runbook.steps}
        assert {"diagnose", "remediate", "verify"} <= kinds, runbook.id
        for step in runbook.steps:
            if step.changes_things and step.target == "runner":
                assert step.confirm, f"{runbook.id}/{step.name} changes the host without asking"
            if step.destructive:
                assert step.confirm
            if "sudo " in step.command:
                assert "sudo -n" in step.command, f"{runbook.id}/{step.name}: use sudo -n"
            if DELETES.search(step.command):
                assert step.destructive, f"{runbook.id}/{step.name} deletes but is not marked"


def test_minimal_runbook_reads_as_expected():
    rb = parse_runbook(CORPUS / "minimal.md")
    assert [s.name for s in rb.steps] == ["check-service", "restart-service", "service-active"]
    check, restart, _verify = rb.steps
    assert (check.kind, check.confirm, check.on_fail) == ("diagnose", False, "restart-service")
    assert (restart.kind, restart.confirm, restart.on_fail) == ("remediate", True, "abort")
    assert check.expect_output == r"active \(running\)"
    assert check.line == 37 and check.fence_line == 41
    assert "Is the unit active?" in check.prose
    assert rb.quick_reference == {"first_check": "check-service", "fix": "restart-service"}
    assert set(rb.sections) >= {"Meaning", "Impact", "Related log signatures"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_runbook_gets_the_precise_error(name):
    path = CORPUS / "broken" / f"{name}.md"
    _, problems = read_runbook(path)
    got = [str(p).split(f"{name}.md:", 1)[1] for p in sorted(problems)]
    assert got == EXPECTED[name]
    for p in problems:
        assert "\n" not in str(p)
        assert str(p).startswith(str(p.path) + ":")


def test_corpus_covers_every_broken_file():
    assert {p.stem for p in (CORPUS / "broken").glob("*.md")} == set(EXPECTED)


def test_block_the_site_shows_as_text_is_caught_by_lint():
    path = CORPUS / "site" / "no-space-before-brace.md"
    _, parse_problems = read_runbook(path)
    assert parse_problems == []  # our parser reads it; only the site rendering differs
    problems = check_rendering(path, path.read_text(), site_renderer())
    assert [(p.line, p.message) for p in problems] == [
        (
            51,
            "the site does not render this block as code (check the fence and its braced"
            " attributes)",
        )
    ]


def test_lint_cli_reports_one_line_per_problem_and_fails(capsys):
    broken = CORPUS / "broken" / "unknown-kind.md"
    assert main(["runbook", "lint", str(broken)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f"{broken.relative_to(Path.cwd()) if broken.is_relative_to(Path.cwd()) else broken}:51:"
        " step restart-service: kind 'repair' must be one of diagnose, remediate, verify, rollback"
    ]


def test_lint_cli_passes_on_the_shipped_runbooks(capsys):
    assert main(["runbook", "lint"]) == 0


def test_lint_reports_a_signature_pointing_at_a_missing_step(tmp_path):
    sigs = tmp_path / "signatures.yaml"
    sigs.write_text(
        "signatures:\n"
        "  - id: disk-full\n"
        "    title: Disk full\n"
        "    pattern: 'No space left on device'\n"
        "    where: worker-log\n"
        "    severity: critical\n"
        "    confidence: 0.9\n"
        "    runbook: minimal\n"
        "    step: clean-work\n"
        "    examples: ['System.IO.IOException: No space left on device : /x']\n"
    )
    books = tmp_path / "books"
    books.mkdir()
    shutil.copy(CORPUS / "minimal.md", books / "minimal.md")
    problems = lint(signatures_file=sigs, runbooks_dir=books)
    assert [p.message for p in problems] == [
        "signature disk-full: runbook minimal has no step 'clean-work'"
    ]


def test_runbook_list_and_show(capsys):
    assert main(["runbook", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert REQUIRED_RUNBOOKS <= {r["id"] for r in listed}
    assert main(["runbook", "show", "runner-offline"]) == 0
    shown = capsys.readouterr().out
    assert "Diagnosis" in shown and "$ " in shown
    assert main(["runbook", "show", "no-such-thing"]) == 2


def test_unknown_and_invalid_parameters_are_refused():
    rb = parse_runbook(CORPUS / "minimal.md")
    with pytest.raises(ParameterError, match="unknown parameter runner_rot"):
        rb.resolve({"runner_rot": "/x"})
    with pytest.raises(ParameterError, match="does not match pattern"):
        rb.resolve({"runner_root": "/x; rm -rf /"})
    assert rb.resolve({})["runner_root"] == "/home/runner/actions-runner"


def test_load_runbooks_raises_with_every_problem(tmp_path):
    for name in ("bad-severity", "unknown-kind"):
        shutil.copy(CORPUS / "broken" / f"{name}.md", tmp_path / f"{name}.md")
    with pytest.raises(ContentError) as e:
        load_runbooks(tmp_path)
    assert len(e.value.problems) == 2


HOSTILE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
) | st.sampled_from(["; rm -rf /", "$(touch pwned)", "`id`", "a\nb", "'\"", "-rf", "--help"])


@settings(max_examples=150, deadline=None)
@given(value=HOSTILE)
def test_substituted_values_reach_the_program_as_one_literal_argument(value):
    step = Step(
        name="echo",
        title="Echo",
        kind="diagnose",
        command="printf '%s' {value} --end",
        language="bash",
        section="Diagnosis",
        prose="x",
        line=1,
        fence_line=2,
    )
    command = step.render({"value": value})
    out = subprocess.run(["bash", "-c", command], capture_output=True, check=True).stdout.decode(
        "utf-8", "surrogateescape"
    )
    # printf repeats its format for extra arguments, so "--end" proves one argument.
    assert out == value + "--end"


def test_shipped_signatures_name_real_steps():
    runbooks = load_runbooks()
    signatures = load_signatures()
    assert len(signatures) >= 15
    for sig in signatures:
        assert runbooks[sig.runbook].has_step(sig.step), sig.id
        for example in sig.examples:
            assert sig.matches(example)
    normal = ["Runner reconnected.", "Listening for Jobs", "Connected to GitHub",
              "Running job: build", "Job build completed with result: Succeeded"]  # fmt: skip
    for line in normal:
        assert not [s.id for s in signatures if s.matches(line)], line


def test_the_cli_runs_as_an_installed_program():
    exe = Path(sys.executable).with_name("runnerdoc")
    result = subprocess.run([str(exe), "runbook", "list"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "runner-offline" in result.stdout
