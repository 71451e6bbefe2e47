"""Resume after a killed run loses no completed step; the host lock keeps operators apart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tui.runbooks.engine import Decision, LocalExecutor, RunbookRun, resume_point
from tui.runbooks.journal import Journal, read_journal
from tui.runbooks.lock import HostLock, LockHeld, lock_path
from tui.runbooks.parse import parse_runbook

SLOW = """\
---
id: slow-fix
title: Slow fix
severity: warning
team: ci-platform
summary: Three changes, the second slow.
symptom: Files missing.
time_to_remediate: 1m
alerts: []
detection: []
parameters:
  workdir:
    type: path
    pattern: '^/[A-Za-z0-9._/-]+$'
    description: Where the files go.
  token:
    type: secret
    description: Fetched by a step.
quick_reference:
  first_check: check
  fix: first
escalation: Nobody.
---

# Slow fix

## Meaning

Test.

## Impact

None.

## Diagnosis

### Check

Always fails, to go on fixing.

```bash { name=check kind=diagnose expect_output="never" }
echo checking
```

## Mitigation

### Fetch the token

A secret.

```bash { name=fetch-token kind=remediate confirm=false capture=token }
echo ghs_ResumeSecretToken0123456789abcdef
```

### First change

Counts how often it ran.

```bash { name=first kind=remediate }
echo run >> {workdir}/first.count
```

### Slow change

Slow, uses the token.

```bash { name=slow kind=remediate timeout=120 }
touch {workdir}/slow.started && sleep 3 && printf '%s' {token} > {workdir}/slow.done
```

## Verification

### All done

Both files are there.

```bash { name=verify kind=verify expect_output="ok" }
test -f {workdir}/first.count && test -f {workdir}/slow.done && echo ok
```

## Escalation

None.

## Related log signatures

None.
"""

DRIVER = """
import sys
from pathlib import Path
from tui.runbooks.engine import Decision, LocalExecutor, RunbookRun
from tui.runbooks.journal import Journal
from tui.runbooks.parse import parse_runbook
book, workdir, jdir = sys.argv[1:4]
ex = LocalExecutor()
RunbookRun(parse_runbook(Path(book)), "runner-01", {"workdir": workdir},
           {"runner": ex, "local": ex}, Journal("20261128-010101-abcdef", Path(jdir)),
           confirm=lambda s, c: Decision.RUN, operator="alice").start()
"""


@pytest.fixture
def slow_book(tmp_path):
    book = tmp_path / "slow-fix.md"
    book.write_text(SLOW)
    return book


def test_killed_run_resumes_without_repeating_completed_steps(tmp_path, slow_book):
    work, jdir = tmp_path / "work", tmp_path / "journal"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(DRIVER), str(slow_book),
                             str(work), str(jdir)], start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while not (work / "slow.started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the operator's session dies mid-step
    proc.wait()
    journal = Journal("20261128-010101-abcdef", jdir)
    records = list(read_journal(journal.path))
    finished = [r["step"] for r in records if r["type"] == "step-end"]
    assert finished == ["check", "fetch-token", "first"]  # nothing completed was lost
    book = parse_runbook(slow_book)
    point = resume_point(records, book)
    # `slow` never ended: it runs again. It needs the token, which the journal never held,
    # so fetch-token runs again first, on its own; `first` does not run twice.
    assert point.from_step == "slow" and point.recapture == ("fetch-token",)
    assert "slow started and never finished" in point.reason
    assert "ghs_" not in journal.path.read_text()

    ex = LocalExecutor()
    run = RunbookRun(book, point.runner, point.params, {"runner": ex, "local": ex}, journal,
                     confirm=lambda s, c: Decision.RUN, operator="bob")  # fmt: skip
    result = run.start(resume_from=point.from_step, resumed=True, recapture=point.recapture)
    assert result.ok
    assert [o.step.name for o in result.outcomes] == ["fetch-token", "slow", "verify"]
    assert (work / "first.count").read_text() == "run\n"  # ran once, before the crash
    assert (work / "slow.done").read_text() == "ghs_ResumeSecretToken0123456789abcdef"
    types = [r["type"] for r in read_journal(journal.path)]
    assert types.count("run-start") == 1 and "run-resume" in types


def test_resume_point_after_a_finished_and_an_aborted_run(slow_book, tmp_path):
    book = parse_runbook(slow_book)
    start = {"type": "run-start", "runbook": "slow-fix", "runner": "r", "params": {}}
    done = [start, {"type": "run-end", "ok": True, "aborted": False}]
    assert resume_point(done, book).from_step is None
    failed = [start, {"type": "step-end", "step": "check", "state": "failed"},
              {"type": "step-end", "step": "fetch-token", "state": "passed"},
              {"type": "step-end", "step": "first", "state": "failed"},
              {"type": "run-end", "ok": False, "aborted": True}]  # fmt: skip
    point = resume_point(failed, book)
    assert point.from_step == "first" and "trying it again" in point.reason
    # `slow`, after `first`, needs the token that only fetch-token's run held.
    assert point.recapture == ("fetch-token",)


def test_second_operator_is_told_who_holds_the_lock(tmp_path):
    ex = LocalExecutor()
    name = "runner-01; rm -rf /tmp/x"  # a hostile name stays data
    first = HostLock(ex, name, run_id="20261128-000001-aaaaaa", operator="alice@bastion")
    second = HostLock(ex, name, run_id="20261128-000002-bbbbbb", operator="bob@laptop")
    first.acquire()
    try:
        with pytest.raises(LockHeld) as e:
            second.acquire()
        message = str(e.value)
        assert "alice@bastion" in message and "20261128-000001-aaaaaa" in message
        assert "--break-lock" in message
        second.release()  # not held: does nothing, and never removes alice's lock
        assert Path(lock_path(name)).exists()
    finally:
        first.release()
    assert not Path(lock_path(name)).exists()
    second.acquire()
    third = HostLock(ex, name, run_id="20261128-000003-cccccc", operator="carol")
    third.acquire(break_stale=True)  # bob's session died; carol takes over
    second.release()  # bob's release must not drop carol's lock
    assert Path(lock_path(name)).exists()
    third.release()
    assert "/" not in Path(lock_path(name)).name and ";" not in lock_path(name)
