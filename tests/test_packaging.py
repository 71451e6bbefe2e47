"""The wheel: an on-call engineer who installs runnerdoc (pipx on a bastion) gets the
runbooks, log signatures and query templates with it, and the commands find them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tui.queries import load_templates
from tui.runbooks.parse import load_runbooks

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT = (".git", ".venv", ".nox", "node_modules", "site", "build", "*.egg-info", "_generated",
            "__pycache__", ".pytest_cache", ".ruff_cache")  # fmt: skip
SAMPLE_LOG = (
    "[2026-11-28 01:00:00Z ERR  JobRunner] System.IO.IOException: No space left on device :"
    " '/home/runner/actions-runner/_work/_temp/a.sh'\n"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # A copy, because setuptools builds in build/ of the source tree, and a build/ left in
    # the clone would be packed into the next wheel as it was.
    source = tmp_path_factory.mktemp("source") / "runnerdoc"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*LEFT_OUT))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = out.glob("runnerdoc-*.whl")
    return found


def test_the_wheel_carries_every_runbook_signature_and_query_template(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "runnerdoc-0.1.0.data/data/share/runnerdoc/"
    wanted = [
        *(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs" / "runbooks").glob("*.md")),
        "docs/runbooks/signatures.yaml",
        *(p.relative_to(ROOT).as_posix() for p in (ROOT / "queries").glob("*.yaml")),
        "monitoring/prometheus/runnerdoc.rules.yml",
        "monitoring/grafana/runnerdoc.json",
    ]
    missing = [w for w in wanted if data + w not in names]
    assert not missing, f"not in the wheel: {missing}"


def test_installed_from_the_wheel_the_commands_find_their_content(
    wheel: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "prefix"
    installed = subprocess.run(
        # --ignore-installed: without it pip uninstalls the development install first.
        [sys.executable, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q",
         "--prefix", str(prefix), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    purelib = sysconfig.get_path("purelib", vars={"base": str(prefix)})
    # Only the installed copy: run away from the clone, with the wheel's package first.
    env = {**os.environ, "PYTHONPATH": purelib, "RUNNERDOC_CONFIG": str(tmp_path / "none.toml")}
    env.pop("RUNNERDOC_RUNBOOKS_DIR", None)
    away = tmp_path / "elsewhere"
    away.mkdir()

    def run(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", "import sys, tui.cli; sys.exit(tui.cli.main())", *argv],
            cwd=away, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    where = subprocess.run(
        [sys.executable, "-c", "import tui.content as c; print(c.__file__); print(c.ROOT)"],
        cwd=away, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert where == [f"{purelib}/tui/content.py", str(prefix / "share" / "runnerdoc")]

    listed = run("runbook", "list")
    for rid in load_runbooks():
        assert rid in listed
    queries = run("query", "list")
    for tid in load_templates():
        assert tid in queries
    log = away / "Worker_20261128.log"
    log.write_text(SAMPLE_LOG)
    findings = json.loads(run("diagnose", "--log-file", str(log), "--json"))
    assert findings["findings"][0]["runbook"] == "degraded-resources"
