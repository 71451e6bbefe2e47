"""`runnerdoc runbook run` over real SSH: the lock on the host, hostile values, the journal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sshd_fixture import keygen, start_sshd

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "tests" / "corpus" / "runbooks" / "engine" / "wizard-demo.md"
EXE = str(Path(sys.executable).with_name("runnerdoc"))


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    base = tmp_path_factory.mktemp("ssh")
    client_key = base / "id_ed25519"
    public = keygen(client_key)
    sshd = start_sshd(base / "sshd", [public])
    known = base / "known_hosts"
    known.write_text(sshd.known_hosts_line)
    books = base / "runbooks"
    books.mkdir()
    shutil.copy(DEMO, books / "wizard-demo.md")
    cfg = base / "config.toml"
    cfg.write_text(
        f'[github]\norg = "acme"\n[ssh]\nuser = "{sshd.user}"\nidentity_file = "{client_key}"\n'
        f'known_hosts = "{known}"\nconfig_file = "{base / "no-ssh-config"}"\n'
        f'[ssh.hosts]\n"runner-01" = "127.0.0.1:{sshd.port}"\n'
    )
    yield {"config": cfg, "books": books, "base": base, "sshd": sshd}
    sshd.stop()


def runnerdoc(host, *args, env=None):
    environment = {
        **os.environ,
        "RUNNERDOC_RUNBOOKS_DIR": str(host["books"]),
        "RUNNERDOC_JOURNAL_DIR": str(host["base"] / "journal"),
        "GITHUB_TOKEN": "ghp_notUsedHere" + "x" * 30,
        **(env or {}),
    }
    return subprocess.run(
        [EXE, *args, "--config", str(host["config"])],
        capture_output=True, text=True, env=environment, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip


def test_run_over_ssh_with_hostile_values_and_journal(host, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    hostile = "x'; touch " + str(tmp_path / "pwned") + "; echo '$(id)`id`\n-rf"
    r = runnerdoc(host, "runbook", "run", "wizard-demo", "--runner", "runner-01",
                  "--param", f"workdir={work}", "--param", f"label={hostile}", "--yes")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert (work / "marker").read_text() == hostile + "\n"  # data, never code
    assert not (tmp_path / "pwned").exists()
    assert "ghs_SuperSecretToken" not in r.stdout + r.stderr
    run_id = r.stdout.split("run ", 1)[1].split(":", 1)[0]
    journal = (host["base"] / "journal" / f"{run_id}.jsonl").read_text()
    assert "ghs_SuperSecretToken" not in journal
    steps = [json.loads(line) for line in journal.splitlines()]
    assert [s["step"] for s in steps if s["type"] == "step-end"] == [
        "check-marker", "fetch-token", "create-marker", "maybe-fail", "verify-marker",
    ]  # fmt: skip
    assert steps[0]["operator"].startswith(host["sshd"].user + "@")


def test_dry_run_over_ssh_runs_nothing(host, tmp_path):
    r = runnerdoc(host, "runbook", "run", "wizard-demo", "--runner", "runner-01",
                  "--param", f"workdir={tmp_path}", "--dry-run")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"$ test -f {tmp_path}/marker && echo present || echo missing" in r.stdout
    assert "would run" in r.stdout and not (tmp_path / "marker").exists()


def test_without_a_terminal_or_yes_a_change_is_not_made(host, tmp_path):
    r = runnerdoc(host, "runbook", "run", "wizard-demo", "--runner", "runner-01",
                  "--param", f"workdir={tmp_path}")  # fmt: skip
    assert r.returncode == 1
    assert "needs confirmation" in r.stderr and not (tmp_path / "marker").exists()


def test_lock_on_the_host_stops_a_second_operator(host, tmp_path):
    from tui.runbooks.lock import lock_path

    path = Path(lock_path("runner-01"))
    path.mkdir()
    (path / "owner").write_text('{"operator": "alice@bastion", "run_id": "r1", "since": 0}\n')
    try:
        r = runnerdoc(host, "runbook", "run", "wizard-demo", "--runner", "runner-01",
                      "--param", f"workdir={tmp_path}", "--yes")  # fmt: skip
        assert r.returncode == 1
        assert "being remediated by alice@bastion" in r.stderr
        assert not (tmp_path / "marker").exists()
        r = runnerdoc(host, "runbook", "run", "wizard-demo", "--runner", "runner-01",
                      "--param", f"workdir={tmp_path}", "--yes", "--break-lock")  # fmt: skip
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(path, ignore_errors=True)
    assert not path.exists()  # released after the run


def test_unknown_host_key_is_refused_before_anything_runs(host, tmp_path):
    other = tmp_path / "config.toml"
    other.write_text(
        host["config"]
        .read_text()
        .replace(str(host["base"] / "known_hosts"), str(tmp_path / "empty_known_hosts"))
    )
    (tmp_path / "empty_known_hosts").write_text("")
    r = subprocess.run(
        [EXE, "runbook", "run", "wizard-demo", "--runner", "runner-01", "--config", str(other),
         "--param", f"workdir={tmp_path}", "--yes"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "RUNNERDOC_RUNBOOKS_DIR": str(host["books"]),
             "RUNNERDOC_JOURNAL_DIR": str(tmp_path / "j")},
    )  # fmt: skip
    assert r.returncode == 1
    assert "SHA256:" in r.stderr and not (tmp_path / "marker").exists()
