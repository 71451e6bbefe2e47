"""`runnerdoc check` on this machine: levels forced by thresholds, DNS and TLS against a local
TLS server, the clock against an API whose clock is off, Docker, the job summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_pipeline_support import docker_daemon, self_signed, skewed_api, tls_server

from tui.pipeline.health_check import (
    CheckStatus,
    Endpoint,
    Thresholds,
    check_docker,
    check_memory,
    check_runner_version,
    default_endpoints,
)

RUNNERDOC = str(Path(sys.executable).with_name("runnerdoc"))
LOCAL_ONLY = ["--skip", "dns", "--skip", "tls", "--skip", "clock", "--skip", "docker"]


def run_check(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    base.pop("RUNNERDOC_CONFIG", None)
    base["XDG_CONFIG_HOME"] = str(cwd or Path.cwd())  # never a developer's own config
    out = subprocess.run(
        [RUNNERDOC, "check", *args], capture_output=True, text=True, timeout=120,
        env={**base, **(env or {})}, cwd=cwd,
    )  # fmt: skip
    return out


def checks(out) -> dict[str, dict]:
    assert out.stdout, out.stderr
    data = json.loads(out.stdout)
    return {f"{c['check']} {c['target']}": c for c in data["checks"]} | {"_": data}


def by_check(out, name: str) -> list[dict]:
    assert out.stdout, out.stderr
    return [c for c in json.loads(out.stdout)["checks"] if c["check"] == name]


def test_thresholds_force_each_level_and_the_exit_status(tmp_path):
    work = tmp_path / "_work"
    work.mkdir()
    (work / "build.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    common = ["--json", "--path", str(work), "--skip", "runner-version", *LOCAL_ONLY]

    calm = run_check(
        *common, "--disk-free-warning", "0", "--disk-free-critical", "0",
        "--inodes-free-warning", "0", "--inodes-free-critical", "0",
        "--memory-available-warning", "0", "--memory-available-critical", "0",
        cwd=tmp_path,
    )  # fmt: skip
    assert calm.returncode == 0, calm.stderr
    data = json.loads(calm.stdout)
    assert data["status"] == "ok" and data["exit_code"] == 0
    assert {c["check"] for c in data["checks"]} == {"disk", "inodes", "memory", "work-size"}
    size = by_check(calm, "work-size")[0]
    assert size["value"] >= 0.0019 and size["unit"] == "GiB"

    # 100% free is never reached, so a 100% warning level must warn.
    warn = run_check(
        *common, "--disk-free-warning", "100", "--disk-free-critical", "0", cwd=tmp_path
    )
    assert warn.returncode == 1
    assert by_check(warn, "disk")[0]["status"] == "warning"
    assert json.loads(warn.stdout)["status"] == "warning"

    crit = run_check(
        *common, "--memory-available-warning", "100", "--memory-available-critical", "100",
        cwd=tmp_path,
    )  # fmt: skip
    assert crit.returncode == 2
    assert by_check(crit, "memory")[0]["status"] == "critical"

    big = run_check(*common, "--work-size-warning", "0.001", cwd=tmp_path)
    assert big.returncode == 1 and by_check(big, "work-size")[0]["status"] == "warning"
    huge = run_check(
        *common, "--work-size-warning", "0.001", "--work-size-critical", "0.001", cwd=tmp_path
    )
    assert huge.returncode == 2 and by_check(huge, "work-size")[0]["status"] == "critical"


def test_thresholds_come_from_the_config_table_and_flags_win(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[check]\nmemory_available_warning = 100\n"
        "skip = ['docker', 'dns', 'tls', 'clock', 'runner-version']\n"
    )
    base = ["--config", str(cfg), "--json", "--path", str(tmp_path)]
    out = run_check(*base, cwd=tmp_path)
    assert by_check(out, "memory")[0]["status"] == "warning"
    assert by_check(out, "docker") == []
    assert out.returncode == 1
    flagged = run_check(
        *base, "--memory-available-warning", "0", "--memory-available-critical", "0",
        "--skip", "dns", "--skip", "tls",
        "--skip", "clock", "--skip", "runner-version", cwd=tmp_path,
    )  # fmt: skip
    assert by_check(flagged, "memory")[0]["status"] == "ok"
    # --skip on the command line replaces the table's list: docker is checked again.
    assert len(by_check(flagged, "docker")) == 1


def test_bad_thresholds_are_refused(tmp_path):
    out = run_check(
        "--disk-free-warning", "5", "--disk-free-critical", "10", "--path", str(tmp_path),
        cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2
    assert "critical (10%) must not be above warning (5%)" in out.stderr
    out = run_check("--skip", "disks", cwd=tmp_path)
    assert out.returncode == 2 and "not disks" in out.stderr


def test_dns_and_tls_against_a_local_server_with_a_self_signed_certificate(tmp_path):
    cert, key = self_signed(tmp_path)
    with tls_server(cert, key) as port:
        trusted = run_check(
            "--json", "--path", str(tmp_path), "--host", f"localhost:{port}",
            "--host", "runner-check.invalid", "--ca-file", str(cert),
            "--skip", "clock", "--skip", "docker", "--skip", "runner-version", cwd=tmp_path,
        )  # fmt: skip
        untrusted = run_check(
            "--json", "--path", str(tmp_path), "--host", f"localhost:{port}",
            "--skip", "clock", "--skip", "docker", "--skip", "runner-version", cwd=tmp_path,
        )  # fmt: skip
    results = checks(trusted)
    assert results["dns localhost"]["status"] == "ok"
    assert "127.0.0.1" in results["dns localhost"]["summary"]
    assert results[f"tls localhost:{port}"]["status"] == "ok"
    assert "handshake" in results[f"tls localhost:{port}"]["summary"]
    assert results["dns runner-check.invalid"]["status"] == "critical"
    assert "does not resolve" in results["dns runner-check.invalid"]["summary"]
    tls_invalid = results["tls runner-check.invalid"]
    assert tls_invalid["status"] == "unknown" and "does not resolve" in tls_invalid["summary"]
    assert trusted.returncode == 2

    bad = checks(untrusted)[f"tls localhost:{port}"]
    assert bad["status"] == "critical"
    assert "certificate not trusted" in bad["summary"] and "--ca-file" in bad["summary"]
    assert untrusted.returncode == 2


def test_a_certificate_close_to_expiry_warns(tmp_path):
    cert, key = self_signed(tmp_path, days=3)
    with tls_server(cert, key) as port:
        out = run_check(
            "--json", "--path", str(tmp_path), "--host", f"127.0.0.1:{port}",
            "--ca-file", str(cert), "--skip", "clock", "--skip", "docker",
            "--skip", "runner-version", cwd=tmp_path,
        )  # fmt: skip
    tls = checks(out)[f"tls 127.0.0.1:{port}"]
    assert tls["status"] == "warning" and "expires in" in tls["summary"]
    assert out.returncode == 1


@pytest.mark.parametrize(
    ("offset", "status", "code"),
    [(0, "ok", 0), (-120, "warning", 1), (900, "critical", 2)],
)
def test_clock_offset_against_the_api_date_header(tmp_path, offset, status, code):
    with skewed_api(offset) as api:
        out = run_check(
            "--json", "--path", str(tmp_path), *LOCAL_ONLY[:4], "--skip", "docker",
            "--skip", "runner-version", "--skip", "disk", "--skip", "inodes",
            "--skip", "memory", "--skip", "work-size",
            env={"GITHUB_API_URL": api, "GITHUB_SERVER_URL": api}, cwd=tmp_path,
        )  # fmt: skip
    (clock,) = by_check(out, "clock")
    assert clock["status"] == status, clock
    # The API is `offset` seconds ahead, so this machine is behind by as much.
    assert abs(clock["value"] + offset) < 3
    assert out.returncode == code


def test_hosts_default_to_githubs_from_the_actions_environment():
    hosts = default_endpoints("https://api.github.com", "https://github.com")
    assert [str(h) for h in hosts][:2] == ["api.github.com", "github.com"]
    assert Endpoint("codeload.github.com") in hosts
    ghes = default_endpoints("https://ghe.example.com/api/v3", "https://ghe.example.com")
    assert [str(h) for h in ghes] == ["ghe.example.com"]
    assert Endpoint.parse("[::1]:8443") == Endpoint("::1", 8443)
    with pytest.raises(ValueError):
        Endpoint.parse("host name")


def test_docker_through_the_cli_and_through_the_socket(tmp_path, monkeypatch):
    sock = tmp_path / "docker.sock"
    with docker_daemon(sock):
        if shutil.which("docker"):
            via_cli = check_docker(f"unix://{sock}", 5)
            assert via_cli.status is CheckStatus.OK and "24.0.7" in via_cli.summary
        monkeypatch.setenv("PATH", str(tmp_path))  # no docker CLI: ping the socket itself
        via_socket = check_docker(f"unix://{sock}", 5)
        assert via_socket.status is CheckStatus.OK and "_ping" in via_socket.summary
    gone = check_docker(f"unix://{tmp_path / 'none.sock'}", 5)
    assert gone.status is CheckStatus.UNKNOWN and "no docker CLI" in gone.summary
    sock.touch()  # a stale socket file with no daemon behind it
    dead = check_docker(f"unix://{sock}", 5)
    assert dead.status is CheckStatus.CRITICAL


def test_docker_cli_with_the_daemon_down_is_critical(tmp_path):
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI on this machine")
    result = check_docker(f"unix://{tmp_path / 'missing.sock'}", 5)
    assert result.status is CheckStatus.CRITICAL
    assert "`docker info` failed" in result.summary


def test_a_check_that_cannot_run_says_why_and_does_not_fail_the_job(tmp_path):
    missing = tmp_path / "not-here"
    out = run_check("--json", "--path", str(missing), *LOCAL_ONLY, cwd=tmp_path)
    results = json.loads(out.stdout)["checks"]
    disk = next(c for c in results if c["check"] == "disk")
    assert disk["status"] == "unknown" and "cannot read the filesystem" in disk["summary"]
    version = next(c for c in results if c["check"] == "runner-version")
    assert version["status"] == "unknown" and "--runner-root" in version["summary"]
    assert out.returncode == 0
    memory = check_memory(Thresholds(), meminfo=tmp_path / "meminfo")
    assert memory.status is CheckStatus.UNKNOWN


def test_runner_version_from_the_environment_and_from_the_runner_root(tmp_path):
    old = check_runner_version("2.300.0", None, Thresholds(runner_min_version="2.320.0"), 5)
    assert old.status is CheckStatus.WARNING and "older than the minimum 2.320.0" in old.summary
    root = tmp_path / "actions-runner"
    (root / "_diag").mkdir(parents=True)
    (root / ".runner").write_text("{}")
    (root / "_diag" / "Runner_20260101-000000-utc.log").write_text(
        "[2026-01-01 00:00:00Z INFO Runner] Current runner version: '2.330.0'\n"
    )
    work = root / "_work"
    (work / "api").mkdir(parents=True)
    out = run_check(
        "--json", *LOCAL_ONLY, "--runner-min-version", "2.329.0",
        env={"RUNNER_WORKSPACE": str(work / "api")}, cwd=tmp_path,
    )  # fmt: skip
    (version,) = by_check(out, "runner-version")
    assert version["status"] == "ok" and version["value"] == "2.330.0"
    assert "Runner_20260101" in version["summary"]
    # The work folder is the runner's _work, found from $RUNNER_WORKSPACE.
    assert by_check(out, "disk")[0]["target"] == str(work)


def test_the_job_summary_gets_a_markdown_section(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("# Deploy\n\nearlier step's text\n")
    out = run_check(
        "--path", str(tmp_path), *LOCAL_ONLY, "--memory-available-warning", "100",
        env={"GITHUB_STEP_SUMMARY": str(summary), "RUNNER_NAME": "runner-07|x"}, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 1
    assert "runner health: WARNING (exit 1)" in out.stdout
    text = summary.read_text()
    assert text.startswith("# Deploy\n\nearlier step's text\n")  # appended, not replaced
    assert "### ⚠️ Runner health on `runner-07\\|x`: warning" in text
    assert "| ⚠️ | memory | this host |" in text
    assert "| ✅ | disk |" in text
    no_summary = run_check(
        "--path", str(tmp_path), *LOCAL_ONLY, "--no-summary",
        env={"GITHUB_STEP_SUMMARY": str(summary)}, cwd=tmp_path,
    )  # fmt: skip
    assert no_summary.returncode in (0, 1)
    assert summary.read_text() == text
