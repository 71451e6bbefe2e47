"""The runbook engine and its journal: order, branches, checks, confirmation, dry run,
rollback, timeouts, secrets and hostile parameter values, with real commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.runbooks.engine import Decision, LocalExecutor, RunbookRun, StepState
from tui.runbooks.journal import Journal, read_journal
from tui.runbooks.parse import parse_runbook
from tui.runbooks.runbook import ParameterError

DEMO = Path(__file__).parent / "corpus" / "runbooks" / "engine" / "wizard-demo.md"
TOKEN = "ghs_SuperSecretToken1234567890abcdef"


def make_run(tmp_path, *, confirm=None, dry_run=False, values=None, journal_dir=None):
    runbook = parse_runbook(DEMO)
    executor = LocalExecutor()
    journal = Journal("20261128-000000-abcdef", journal_dir or tmp_path / "journal")
    asked: list[str] = []

    def default_confirm(step, command):
        asked.append(step.name)
        return Decision.RUN

    run = RunbookRun(
        runbook,
        "runner-01",
        {"workdir": str(tmp_path), **(values or {})},
        {"runner": executor, "local": executor},
        journal,
        confirm=confirm or default_confirm,
        dry_run=dry_run,
        operator="alice",
    )
    return run, asked, journal


def states(result):
    return [(o.step.name, o.state.value) for o in result.outcomes]


def test_branches_fix_and_verify(tmp_path):
    run, asked, _ = make_run(tmp_path)
    result = run.start()
    assert states(result) == [
        ("check-marker", "failed"),  # diagnose: marker missing -> on_fail=fetch-token
        ("fetch-token", "passed"),
        ("create-marker", "passed"),
        ("maybe-fail", "passed"),
        ("verify-marker", "passed"),  # the rollback step is skipped in the normal flow
    ]
    assert result.ok
    assert asked == ["create-marker", "maybe-fail"]  # fetch-token has confirm=false
    assert (tmp_path / "token").read_text().strip() == TOKEN
    # Run again: healthy now, diagnosis passes and on_pass=done ends it.
    run2, _, _ = make_run(tmp_path / ".." / tmp_path.name)
    assert states(run2.start()) == [("check-marker", "passed")]


def test_checks_say_expected_against_actual(tmp_path):
    run, _, _ = make_run(tmp_path)
    first = run.start().outcomes[0]
    assert first.checks == ["exit status 0 (expected 0)", "output does not match /present/"]


def test_failed_change_aborts_and_rolls_back(tmp_path):
    (tmp_path / "fail-here").touch()
    run, _, journal = make_run(tmp_path)
    result = run.start()
    assert result.aborted and not result.ok
    assert states(result)[-2:] == [("maybe-fail", "failed"), ("remove-marker", "passed")]
    assert not (tmp_path / "marker").exists()
    assert journal.records()[-1]["reason"] == "step maybe-fail failed"


def test_declining_skips_and_abort_stops(tmp_path):
    def decline_create(step, command):
        return Decision.SKIP if step.name == "create-marker" else Decision.RUN

    run, _, _ = make_run(tmp_path, confirm=decline_create)
    result = run.start()
    assert ("create-marker", "declined") in states(result)
    assert ("verify-marker", "failed") in states(result) and not result.ok
    run, _, _ = make_run(tmp_path / "x", confirm=lambda s, c: Decision.ABORT)
    (tmp_path / "x").mkdir()
    result = run.start()
    assert result.aborted and result.reason == "aborted by the operator at create-marker"


def test_dry_run_prints_every_command_and_runs_nothing(tmp_path):
    run, asked, _ = make_run(tmp_path, dry_run=True, values={"label": "x; rm -rf /"})
    result = run.start()
    assert [o.state for o in result.outcomes] == [StepState.WOULD_RUN] * 6
    commands = {o.step.name: o.command for o in result.outcomes}
    assert commands["check-marker"] == (
        f"test -f {tmp_path}/marker && echo present || echo missing"
    )
    # Exactly as it would run: the hostile label quoted, the captured token named.
    assert commands["create-marker"] == (
        f"printf '%s\\n' 'x; rm -rf /' > {tmp_path}/marker && printf '%s\\n' "
        f"'<token from step fetch-token>' > {tmp_path}/token && echo created"
    )
    assert asked == [] and not (tmp_path / "marker").exists()


@pytest.mark.parametrize(
    "hostile",
    [
        "; touch /tmp/pwned",
        "$(touch pwned)",
        "`touch pwned`",
        "a\nb",
        'it\'s "quoted"',
        "-rf",
        "--help",
        "日本語 ‮",
        "| cat /etc/passwd",
    ],
)
def test_hostile_values_are_data_never_code(tmp_path, hostile):
    run, _, _ = make_run(tmp_path, values={"label": hostile})
    assert run.start().ok
    assert (tmp_path / "marker").read_text() == hostile + "\n"
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_invalid_and_unknown_parameters_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ParameterError, match="does not match pattern"):
        make_run(tmp_path, values={"workdir": "relative/path"})
    with pytest.raises(ParameterError, match="unknown parameter"):
        make_run(tmp_path, values={"wrokdir": "/x"})
    assert not (tmp_path / "journal").exists()


def test_journal_records_every_step_and_never_the_secret(tmp_path):
    run, _, journal = make_run(tmp_path)
    run.start()
    text = journal.path.read_text()
    assert TOKEN not in text
    assert "<redacted:token>" in text
    records = list(read_journal(journal.path))
    assert records[0]["type"] == "run-start" and records[0]["operator"] == "alice"
    assert records[0]["runner"] == "runner-01" and records[0]["runbook"] == "wizard-demo"
    ends = [r for r in records if r["type"] == "step-end"]
    assert [r["step"] for r in ends] == [
        "check-marker",
        "fetch-token",
        "create-marker",
        "maybe-fail",
        "verify-marker",
    ]
    create = next(r for r in ends if r["step"] == "create-marker")
    assert create["exit_status"] == 0 and create["output"] == "created\n"
    assert "<redacted:token>" in create["command"] and len(create["output_sha256"]) == 64
    assert oct(journal.path.stat().st_mode & 0o777) == "0o600"
    assert records[-1] == {**records[-1], "type": "run-end", "ok": True}


def test_timeout_stops_the_command(tmp_path):
    from tui.runbooks.engine import LocalExecutor

    result = LocalExecutor().run("echo start; sleep 30; echo never", timeout=1)
    assert result.timed_out and result.exit_status is None
    assert result.output == "start\n" and result.duration < 10


def test_output_is_streamed_as_it_comes(tmp_path):
    import threading
    import time

    chunks: list[tuple[float, str]] = []
    started = time.monotonic()
    LocalExecutor().run(
        "echo one; sleep 1; echo two",
        timeout=10,
        on_output=lambda t: chunks.append((time.monotonic() - started, t)),
    )
    assert "".join(t for _, t in chunks) == "one\ntwo\n"
    assert chunks[0][1] == "one\n" and chunks[0][0] < chunks[-1][0]
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    result = LocalExecutor().run("sleep 20", timeout=60, cancel=cancel)
    assert result.cancelled and result.exit_status is None


def test_journal_survives_a_torn_last_line(tmp_path):
    journal = Journal("20261128-000000-aaaaaa", tmp_path)
    journal.write("run-start", runbook="x")
    with journal.path.open("a") as f:
        f.write('{"type": "step-en')  # the process died mid-write
    assert [r["type"] for r in read_journal(journal.path)] == ["run-start"]
    assert json.loads(journal.path.read_text().splitlines()[0])["runbook"] == "x"


def test_operator_can_retry_a_failed_change(tmp_path):
    from tui.runbooks.engine import AfterFailure

    (tmp_path / "fail-here").touch()
    answers = iter([AfterFailure.RETRY, AfterFailure.FOLLOW])

    def on_failure(outcome):
        (tmp_path / "fail-here").unlink(missing_ok=True)  # the operator fixed it by hand
        return next(answers)

    runbook = parse_runbook(DEMO)
    ex = LocalExecutor()
    run = RunbookRun(
        runbook, "runner-01", {"workdir": str(tmp_path)}, {"runner": ex, "local": ex},
        Journal("20261128-000000-retry1", tmp_path / "j"), confirm=lambda s, c: Decision.RUN,
        on_failure=on_failure,
    )  # fmt: skip
    result = run.start()
    assert [o.state.value for o in result.outcomes if o.step.name == "maybe-fail"] == [
        "failed", "passed",
    ]  # fmt: skip
    assert result.ok
    assert "retry" in [r["type"] for r in run.journal.records()]


def test_timeline_from_the_journal(tmp_path):
    from tui.runbooks.timeline import timeline_markdown

    run, _, journal = make_run(tmp_path, values={"label": "a|b `c`"})
    run.start()
    text = timeline_markdown(journal.records())
    assert text.startswith("# Incident timeline: wizard-demo on runner-01")
    assert "- Operator: alice" in text and "- Outcome: succeeded" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert [row.split("|")[2].strip() for row in rows] == [
        "`check-marker`", "`fetch-token`", "`create-marker`", "`maybe-fail`", "`verify-marker`",
    ]  # fmt: skip
    assert "created" in text and TOKEN not in text
