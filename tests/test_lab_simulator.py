"""What the lab adds to the GitHub simulator: public endpoints, releases, deprecation, pruning."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lab.github_sim import CURRENT_RUNNER_VERSION, GitHubSimulator
from lab.host.files import RELEASED_VERSIONS, build_release, installed_version


@pytest.fixture
def sim() -> Iterator[GitHubSimulator]:
    with GitHubSimulator(token="ghp_lab_test") as s:
        s.release_provider = lambda version, arch: (
            build_release(version, arch, "/usr/bin/python3", (0, 0, "root"))
            if version in RELEASED_VERSIONS
            else None
        )
        yield s


def test_public_answers_need_no_token(sim: GitHubSimulator) -> None:
    head = httpx.head(sim.url + "/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["date"].endswith(" GMT")
    status = httpx.get(sim.url + "/api/v2/status.json").json()
    assert status["status"]["indicator"] == "none"
    assert httpx.get(sim.url + "/_apis/health").status_code == 200
    assert httpx.get(sim.url + "/orgs/acme/actions/runners").status_code == 401


def test_the_latest_release_can_be_downloaded_and_unpacked(
    sim: GitHubSimulator, tmp_path: Path
) -> None:
    latest = httpx.get(sim.url + "/repos/actions/runner/releases/latest").json()
    assert latest["tag_name"] == f"v{CURRENT_RUNNER_VERSION}"
    asset = next(a for a in latest["assets"] if "linux-x64" in a["name"])
    package = httpx.get(asset["browser_download_url"])
    assert package.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(package.content)) as tar:
        assert "./bin/Runner.Listener" in tar.getnames()
        tar.extractall(tmp_path, filter="data")
    assert installed_version(tmp_path) == CURRENT_RUNNER_VERSION
    missing = httpx.get(sim.url + "/actions/runner/releases/download/v9.9.9/"
                        "actions-runner-linux-x64-9.9.9.tar.gz")  # fmt: skip
    assert missing.status_code == 404


def test_a_version_is_refused_after_its_runtime_cutoff(sim: GitHubSimulator) -> None:
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    sim.deprecate_version("2.317.0", past, past)
    sim.deprecate_version("2.320.0", past, future)
    assert sim.version_refused("2.317.0")
    assert not sim.version_refused("2.320.0")
    assert not sim.version_refused(CURRENT_RUNNER_VERSION)


def test_finished_runs_are_forgotten_but_waiting_ones_stay(sim: GitHubSimulator) -> None:
    for _ in range(30):
        job = sim.add_queued_job("app", name="build")
        sim.update_job(job["id"], status="completed", conclusion="success")
    waiting = sim.add_queued_job("app", name="deploy")
    assert sim.forget_finished_runs(keep=5) == 25
    token = {"Authorization": "Bearer ghp_lab_test"}
    runs = httpx.get(sim.url + "/repos/acme/app/actions/runs", headers=token).json()
    assert runs["total_count"] == 6
    queued = httpx.get(sim.url + "/repos/acme/app/actions/runs?status=queued", headers=token)
    assert [r["id"] for r in queued.json()["workflow_runs"]] == [waiting["run_id"]]
