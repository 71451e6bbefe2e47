"""The lab's GitHub simulator answers like GitHub: shapes, pages, auth, rate limits, ETags,
faults and the registration flow, checked over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema
import pytest

from lab.github_sim import (
    CURRENT_RUNNER_VERSION,
    GitHubSimulator,
    RegistrationRefused,
    generate_fleet,
)

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "runner.json").read_text())
TOKEN = "ghp_labTestToken0123456789abcdefghijklmnop"
ROOT = Path(__file__).resolve().parent.parent

# Strings GitHub stores as runner names when asked: shell syntax, terminal escape sequences
# (OSC 52 writes the clipboard), bidi overrides, quotes, non-Latin scripts, very long names.
HOSTILE_NAMES = [
    "$(rm -rf /)",
    "`reboot`; echo pwned",
    "runner'\"; DROP TABLE runners;--",
    "\x1b]52;c;ZWNobyBoaQ==\x07clip",
    "\x1b[2J\x1b[Hscreen-wipe",
    "evil\u202etxt.exe",
    "line\nbreak\ttab",
    "ランナー-東京-01",
    "🔥-runner-🔥",
    "percent%20and+plus&amp=1#frag",
    "x" * 300,
]


def validator(definition: str) -> jsonschema.Draft202012Validator:
    schema = {"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(schema)


def links(response: httpx.Response) -> dict[str, int]:
    """rel -> page number, from the Link header."""
    out = {}
    for rel, link in response.links.items():
        out[rel] = int(parse_qs(urlsplit(link["url"]).query)["page"][0])
    return out


@pytest.fixture
def sim():
    with GitHubSimulator(org="acme", token=TOKEN, runners=generate_fleet(250)) as simulator:
        yield simulator


@pytest.fixture
def gh(sim):
    with httpx.Client(
        base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        yield client


def test_runner_answers_match_the_schema_in_every_scope(sim, gh):
    sim.add_runner(name="repo-runner", scope="repo:api", labels=["self-hosted", "Linux"])
    sim.add_runner(name="ent-runner", scope="enterprise", version=None, status="offline")
    lists = validator("runner_list")
    for path in (
        "/orgs/acme/actions/runners",
        "/repos/acme/api/actions/runners",
        "/enterprises/acme-enterprise/actions/runners",
    ):
        answer = gh.get(path)
        assert answer.status_code == 200, path
        lists.validate(answer.json())
    assert [r["name"] for r in gh.get("/repos/acme/api/actions/runners").json()["runners"]] == [
        "repo-runner"
    ]
    single = gh.get("/orgs/acme/actions/runners/7")
    assert single.status_code == 200
    validator("runner").validate(single.json())
    token = gh.post("/orgs/acme/actions/runners/registration-token")
    validator("runner_token").validate(token.json())


def test_generated_fleet_looks_like_a_real_one():
    fleet = generate_fleet(200, seed=3)
    for runner in fleet:
        validator("runner").validate({**runner, "labels": [{"name": x} for x in runner["labels"]]})
    pools = {label for r in fleet for label in r["labels"] if label.startswith("pool-")}
    assert pools == {"pool-a", "pool-b", "pool-gpu"}
    assert all(r["labels"][0] == "self-hosted" for r in fleet)
    assert any("gpu" in r["labels"] for r in fleet)
    states = {(r["status"], r["busy"]) for r in fleet}
    # idle, active, offline and orphaned runners all occur
    assert states == {("online", False), ("online", True), ("offline", False), ("offline", True)}
    assert any(r["version"] != CURRENT_RUNNER_VERSION for r in fleet)
    assert len({r["name"] for r in fleet}) == 200
    assert generate_fleet(200, seed=3) == fleet


def test_250_runners_in_pages_of_100_with_link_headers(gh):
    pages = [
        gh.get("/orgs/acme/actions/runners", params={"per_page": 100, "page": n}) for n in (1, 2, 3)
    ]
    assert [len(p.json()["runners"]) for p in pages] == [100, 100, 50]
    assert all(p.json()["total_count"] == 250 for p in pages)
    ids = [r["id"] for p in pages for r in p.json()["runners"]]
    assert ids == sorted(ids) and len(set(ids)) == 250
    assert links(pages[0]) == {"next": 2, "last": 3}
    assert links(pages[1]) == {"prev": 1, "next": 3, "last": 3, "first": 1}
    assert links(pages[2]) == {"prev": 2, "first": 1}
    # The next link is absolute and keeps per_page, so a client can follow it verbatim.
    next_url = pages[0].links["next"]["url"]
    assert next_url.startswith(str(gh.base_url).rstrip("/") + "/orgs/acme/actions/runners?")
    assert gh.get(next_url).json() == pages[1].json()


def test_per_page_defaults_to_30_and_is_capped_at_100(gh):
    default = gh.get("/orgs/acme/actions/runners")
    assert len(default.json()["runners"]) == 30
    assert links(default)["last"] == 9
    capped = gh.get("/orgs/acme/actions/runners", params={"per_page": 500})
    assert len(capped.json()["runners"]) == 100
    assert links(capped) == {"next": 2, "last": 3}
    beyond = gh.get("/orgs/acme/actions/runners", params={"per_page": 100, "page": 9})
    assert beyond.json() == {"total_count": 250, "runners": []}


def test_name_filter_is_an_exact_match(sim, gh):
    sim.add_runner(name="pool-a-001-extra")
    answer = gh.get("/orgs/acme/actions/runners", params={"name": "pool-a-001"}).json()
    assert answer["total_count"] == 1
    assert [r["name"] for r in answer["runners"]] == ["pool-a-001"]


def test_bad_or_missing_token_gets_401_in_githubs_shape(sim):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        answer = httpx.get(f"{sim.url}/orgs/acme/actions/runners", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
        }
        validator("error").validate(answer.json())
        assert "x-ratelimit-remaining" in answer.headers
    for scheme in ("Bearer", "token", "bearer"):
        answer = httpx.get(
            f"{sim.url}/orgs/acme/actions/runners", headers={"Authorization": f"{scheme} {TOKEN}"}
        )
        assert answer.status_code == 200, scheme
    assert sim.rate_limit_used == 3  # the refused requests cost the token nothing


def test_if_none_match_answers_304_without_body_and_without_cost(sim, gh):
    first = gh.get("/orgs/acme/actions/runners", params={"per_page": 100})
    etag = first.headers["etag"]
    used = sim.rate_limit_used
    again = gh.get(
        "/orgs/acme/actions/runners", params={"per_page": 100}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["x-ratelimit-used"] == str(used)
    assert sim.rate_limit_used == used
    sim.update_runner(5, busy=not sim.runner(5)["busy"])
    changed = gh.get(
        "/orgs/acme/actions/runners", params={"per_page": 100}, headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert sim.rate_limit_used == used + 1


def test_a_change_alters_only_the_etag_of_its_page(sim, gh):
    def etags() -> list[str]:
        return [
            gh.get("/orgs/acme/actions/runners", params={"per_page": 100, "page": n}).headers[
                "etag"
            ]
            for n in (1, 2, 3)
        ]

    before = etags()
    sim.update_runner(150, status="offline", busy=True)
    after = etags()
    assert [b == a for b, a in zip(before, after, strict=True)] == [True, False, True]


def test_rate_limit_headers_and_accounting(sim, gh):
    answer = gh.get("/orgs/acme/actions/runners")
    headers = answer.headers
    assert headers["x-ratelimit-limit"] == "5000"
    assert headers["x-ratelimit-used"] == "1"
    assert headers["x-ratelimit-remaining"] == "4999"
    assert headers["x-ratelimit-resource"] == "core"
    reset = int(headers["x-ratelimit-reset"])
    assert time.time() < reset <= time.time() + 3601
    gh.get("/orgs/acme/actions/runners/1")
    gh.get("/orgs/acme/actions/runners/999999")  # a 404 counts too
    gh.post("/orgs/acme/actions/runners/registration-token")
    assert sim.rate_limit_used == 4
    status = gh.get("/rate_limit")
    assert status.json()["resources"]["core"]["used"] == 4
    assert sim.rate_limit_used == 4  # /rate_limit is free


def test_spent_budget_answers_403_until_the_window_resets(sim, gh):
    sim.set_rate_limit(limit=3)
    etag = gh.get("/orgs/acme/actions/runners").headers["etag"]
    for _ in range(2):
        assert gh.get("/orgs/acme/actions/runners/1").status_code == 200
    spent = gh.get("/orgs/acme/actions/runners/1")
    assert spent.status_code == 403
    assert spent.headers["x-ratelimit-remaining"] == "0"
    assert "rate limit exceeded" in spent.json()["message"]
    validator("error").validate(spent.json())
    # Writes are refused before they change anything.
    assert gh.delete("/orgs/acme/actions/runners/2").status_code == 403
    assert sim.runner(2)["id"] == 2
    # A conditional request that matches still costs nothing and still works.
    assert gh.get("/orgs/acme/actions/runners", headers={"If-None-Match": etag}).status_code == 304
    sim.advance_clock(3601)
    assert gh.get("/orgs/acme/actions/runners/1").status_code == 200
    assert sim.rate_limit()["used"] == 1


def test_missing_runner_404_and_busy_runner_422(sim, gh):
    missing = gh.get("/orgs/acme/actions/runners/424242")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Not Found"
    validator("error").validate(missing.json())
    assert gh.get("/orgs/other-org/actions/runners").status_code == 404
    assert gh.get("/repos/other-org/api/actions/runners").status_code == 404
    busy = sim.update_runner(10, busy=True, status="online")
    refused = gh.delete("/orgs/acme/actions/runners/10")
    assert refused.status_code == 422
    assert busy["name"] in refused.json()["message"]
    assert sim.runner(10)["busy"] is True
    sim.update_runner(10, busy=False)
    deleted = gh.delete("/orgs/acme/actions/runners/10")
    assert deleted.status_code == 204 and deleted.content == b""
    assert gh.get("/orgs/acme/actions/runners/10").status_code == 404
    assert gh.delete("/orgs/acme/actions/runners/10").status_code == 404


def test_registration_token_lives_one_hour_and_registers_once(sim, gh):
    answer = gh.post("/orgs/acme/actions/runners/registration-token")
    assert answer.status_code == 201
    body = answer.json()
    expires = datetime.fromisoformat(body["expires_at"]).timestamp()
    assert abs(expires - (time.time() + 3600)) < 5
    runner = sim.register_runner(body["token"], "new-runner", ["pool-a"])
    assert runner["status"] == "offline" and runner["version"] is None
    assert [x["name"] for x in runner["labels"]] == ["self-hosted", "Linux", "X64", "pool-a"]
    listed = gh.get("/orgs/acme/actions/runners", params={"name": "new-runner"}).json()
    assert listed["runners"][0]["id"] == runner["id"]
    with pytest.raises(RegistrationRefused) as used:
        sim.register_runner(body["token"], "another", [])
    assert used.value.reason == "used"
    late = gh.post("/orgs/acme/actions/runners/registration-token").json()["token"]
    sim.advance_clock(3601)
    with pytest.raises(RegistrationRefused) as expired:
        sim.register_runner(late, "late", [])
    assert expired.value.reason == "expired"
    remove = gh.post("/orgs/acme/actions/runners/remove-token").json()["token"]
    with pytest.raises(RegistrationRefused) as wrong:
        sim.register_runner(remove, "with-remove-token", [])
    assert wrong.value.reason == "wrong-kind"


def test_control_api_register_and_unregister_like_config_sh(sim, gh):
    token = gh.post("/repos/acme/api/actions/runners/registration-token").json()["token"]
    control = f"{sim.url}/_sim"
    made = httpx.post(
        f"{control}/register", json={"token": token, "name": "api-1", "labels": ["gpu"]}
    )
    assert made.status_code == 201
    assert gh.get("/repos/acme/api/actions/runners").json()["runners"][0]["name"] == "api-1"
    again = httpx.post(f"{control}/register", json={"token": token, "name": "api-2"})
    assert again.status_code == 404
    assert again.json() == {"message": "Not Found", "reason": "used"}
    unknown = httpx.post(f"{control}/register", json={"token": "NOPE", "name": "x"})
    assert unknown.json()["reason"] == "unknown"
    second = gh.post("/repos/acme/api/actions/runners/registration-token").json()["token"]
    clash = httpx.post(f"{control}/register", json={"token": second, "name": "api-1"})
    assert clash.status_code == 409
    replaced = httpx.post(
        f"{control}/register", json={"token": second, "name": "api-1", "replace": True}
    )
    assert replaced.status_code == 201
    runners = gh.get("/repos/acme/api/actions/runners").json()["runners"]
    assert [r["id"] for r in runners] == [replaced.json()["id"]]
    remove = gh.post("/repos/acme/api/actions/runners/remove-token").json()["token"]
    gone = httpx.post(f"{control}/unregister", json={"token": remove, "name": "api-1"})
    assert gone.status_code == 204
    assert gh.get("/repos/acme/api/actions/runners").json()["total_count"] == 0


def test_control_api_changes_runner_state(sim, gh):
    control = f"{sim.url}/_sim"
    assert httpx.patch(f"{control}/runners/3", json={"status": "offline"}).status_code == 200
    assert gh.get("/orgs/acme/actions/runners/3").json()["status"] == "offline"
    httpx.patch(f"{control}/runners/3", json={"version": "2.319.1", "busy": True})
    assert gh.get("/orgs/acme/actions/runners/3").json()["version"] == "2.319.1"
    added = httpx.post(f"{control}/runners", json={"name": "fresh", "labels": ["self-hosted"]})
    assert added.status_code == 201
    assert gh.get(f"/orgs/acme/actions/runners/{added.json()['id']}").json()["name"] == "fresh"
    assert httpx.delete(f"{control}/runners/3").status_code == 204
    assert gh.get("/orgs/acme/actions/runners/3").status_code == 404
    assert httpx.patch(f"{control}/runners/3", json={"busy": False}).status_code == 404
    assert httpx.patch(f"{control}/runners/4", json={"colour": "red"}).status_code == 422
    state = httpx.get(f"{control}/state").json()
    assert len(state["runners"]["org:acme"]) == 250


def test_deprecation_dates(sim, gh):
    old = gh.get("/orgs/acme/actions/runners/deprecations/2.319.1").json()
    assert old["runner_version"] == "2.319.1"
    assert old["registration_deprecates_at"] and old["runtime_deprecates_at"]
    current = gh.get(f"/orgs/acme/actions/runners/deprecations/{CURRENT_RUNNER_VERSION}").json()
    assert current["registration_deprecates_at"] is None
    sim.deprecate_version("2.328.0", "2027-01-01T00:00:00Z", "2027-06-01T00:00:00Z")
    later = gh.get("/orgs/acme/actions/runners/deprecations/2.328.0").json()
    assert later["runtime_deprecates_at"] == "2027-06-01T00:00:00Z"


@pytest.mark.parametrize("base", ["/repos/acme/api", "/orgs/acme"])
def test_actions_variables_flow(sim, gh, base):
    url = f"{base}/actions/variables"
    assert gh.get(url).json() == {"total_count": 0, "variables": []}
    create = {"name": "ci_runner", "value": '["self-hosted","linux"]', "visibility": "all"}
    assert gh.post(url, json=create).status_code == 201
    assert gh.post(url, json=create).status_code == 409
    got = gh.get(f"{url}/CI_RUNNER")
    assert got.status_code == 200
    assert got.json()["name"] == "CI_RUNNER"
    assert got.json()["value"] == '["self-hosted","linux"]'
    assert ("visibility" in got.json()) == base.startswith("/orgs")
    patched = gh.patch(f"{url}/CI_RUNNER", json={"value": '["ubuntu-latest"]'})
    assert patched.status_code == 204 and patched.content == b""
    assert gh.get(f"{url}/ci_runner").json()["value"] == '["ubuntu-latest"]'
    assert gh.get(url).json()["total_count"] == 1
    assert gh.delete(f"{url}/CI_RUNNER").status_code == 204
    assert gh.get(f"{url}/CI_RUNNER").status_code == 404
    assert gh.patch(f"{url}/CI_RUNNER", json={"value": "x"}).status_code == 404
    assert gh.delete(f"{url}/CI_RUNNER").status_code == 404
    assert (
        gh.post(url, json={"name": "GITHUB_X", "value": "1", "visibility": "all"}).status_code
        == 422
    )
    assert gh.post(url, json={"name": "NO_VALUE"}).status_code == 422
    assert gh.post(url, json=["not", "an", "object"]).status_code == 422
    assert gh.post(url, content=b"{broken").status_code == 400


def test_issues_flow(sim, gh):
    url = "/repos/acme/api/issues"
    first = gh.post(
        url,
        json={"title": "pool-a is down", "body": "3 offline", "labels": ["runnerdoc", "pool-a"]},
    )
    assert first.status_code == 201
    assert first.json()["number"] == 1 and first.json()["state"] == "open"
    second = gh.post(url, json={"title": "unrelated"})
    assert second.json()["number"] == 2
    assert gh.post(url, json={"body": "no title"}).status_code == 422
    labelled = gh.get(url, params={"state": "open", "labels": "runnerdoc,pool-a"}).json()
    assert [i["number"] for i in labelled] == [1]
    assert [i["number"] for i in gh.get(url).json()] == [2, 1]
    comment = gh.post(f"{url}/1/comments", json={"body": "failover to ubuntu-latest"})
    assert comment.status_code == 201
    assert comment.json()["body"] == "failover to ubuntu-latest"
    assert gh.get(f"{url}/1").json()["comments"] == 1
    assert gh.post(f"{url}/99/comments", json={"body": "x"}).status_code == 404
    closed = gh.patch(f"{url}/1", json={"state": "closed"})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert [i["number"] for i in gh.get(url, params={"labels": "runnerdoc"}).json()] == []
    assert [i["number"] for i in gh.get(url, params={"state": "closed"}).json()] == [1]
    assert len(gh.get(url, params={"state": "all"}).json()) == 2
    assert sim.comments("api", 1)[0]["body"] == "failover to ubuntu-latest"


def test_queued_runs_and_their_jobs(sim, gh):
    waiting = sim.add_queued_job("api", ["self-hosted", "pool-gpu"], name="train", age_seconds=600)
    other = sim.add_queued_job("api", ["self-hosted", "pool-a"], name="lint")
    runs = gh.get("/repos/acme/api/actions/runs", params={"status": "queued"}).json()
    assert runs["total_count"] == 2
    assert {r["id"] for r in runs["workflow_runs"]} == {waiting["run_id"], other["run_id"]}
    jobs = gh.get(f"/repos/acme/api/actions/runs/{waiting['run_id']}/jobs").json()["jobs"]
    assert jobs[0]["status"] == "queued" and jobs[0]["runner_id"] is None
    assert jobs[0]["labels"] == ["self-hosted", "pool-gpu"]
    created = datetime.fromisoformat(jobs[0]["created_at"]).timestamp()
    assert abs(created - (time.time() - 600)) < 5
    sim.update_job(other["id"], status="in_progress", runner_id=1)
    still = gh.get("/repos/acme/api/actions/runs", params={"status": "queued"}).json()
    assert [r["id"] for r in still["workflow_runs"]] == [waiting["run_id"]]
    job = gh.get(f"/repos/acme/api/actions/runs/{other['run_id']}/jobs").json()["jobs"][0]
    assert job["runner_id"] == 1 and job["runner_name"] == sim.runner(1)["name"]
    assert gh.get("/repos/acme/api/actions/runs/999/jobs").status_code == 404


def test_hostile_runner_names_round_trip_intact(tmp_path):
    fleet = [
        {
            "id": n + 1,
            "name": name,
            "os": "Linux",
            "status": "online",
            "busy": False,
            "labels": [
                {"id": 1, "name": "self-hosted", "type": "read-only"},
                {"id": 0, "name": name, "type": "custom"},
            ],
        }
        for n, name in enumerate(HOSTILE_NAMES)
    ]
    with GitHubSimulator(token=TOKEN, runners=fleet) as sim:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        answer = httpx.get(f"{sim.url}/orgs/acme/actions/runners?per_page=100", headers=headers)
        validator("runner_list").validate(answer.json())
        runners = answer.json()["runners"]
        assert [r["name"] for r in runners] == HOSTILE_NAMES
        assert [r["labels"][1]["name"] for r in runners] == HOSTILE_NAMES
        assert runners[0]["labels"][1]["id"] == 0
        for name in HOSTILE_NAMES:
            found = httpx.get(
                f"{sim.url}/orgs/acme/actions/runners", params={"name": name}, headers=headers
            ).json()
            assert [r["name"] for r in found["runners"]] == [name]


def test_faults_from_the_control_api(sim, gh):
    control = f"{sim.url}/_sim/faults"
    assert httpx.post(control, json={"kind": "5xx", "count": 2, "status": 503}).status_code == 201
    statuses = [gh.get("/orgs/acme/actions/runners/1").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    httpx.post(control, json={"kind": "rate-limited", "count": 1, "retry_after": 17})
    limited = gh.get("/orgs/acme/actions/runners/1")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "17"
    assert "secondary rate limit" in limited.json()["message"]
    httpx.post(control, json={"kind": "malformed", "count": 1})
    broken = gh.get("/orgs/acme/actions/runners")
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        json.loads(broken.content)
    httpx.post(control, json={"kind": "slow", "count": 1, "delay": 2})
    with pytest.raises(httpx.ReadTimeout):
        gh.get("/orgs/acme/actions/runners/1", timeout=0.3)
    httpx.post(control, json={"kind": "5xx", "count": None, "path": "/repos/"})
    assert gh.get("/repos/acme/api/actions/runners").status_code == 502
    assert gh.get("/orgs/acme/actions/runners/1").status_code == 200
    assert gh.get("/repos/acme/api/actions/runners").status_code == 502
    assert httpx.delete(control).status_code == 204
    assert gh.get("/repos/acme/api/actions/runners").status_code == 200
    assert httpx.post(control, json={"kind": "meteor"}).status_code == 422


def test_accounting_is_exact_under_concurrent_clients(sim):
    def worker(_: int) -> list[int]:
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            return [
                client.get(f"{sim.url}/orgs/acme/actions/runners/1").status_code for _ in range(15)
            ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [s for batch in pool.map(worker, range(8)) for s in batch]
    assert results == [200] * 120
    assert sim.rate_limit_used == 120
    assert sim.peak_in_flight >= 1


def test_stop_does_not_wait_for_a_slow_answer():
    sim = GitHubSimulator(token=TOKEN).start()
    sim.inject_slow(1, delay=30)
    thread = threading.Thread(
        target=lambda: httpx.get(f"{sim.url}/rate_limit", timeout=60), daemon=True
    )
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 5


def test_command_line_serves_a_fleet_file(tmp_path):
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps([{"name": HOSTILE_NAMES[3], "labels": ["self-hosted"]}]))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lab.github_sim",
            "--port",
            "0",
            "--org",
            "lab",
            "--token",
            TOKEN,
            "--fleet",
            str(fleet),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        line = process.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(
            f"{url}/orgs/lab/actions/runners", headers={"Authorization": f"token {TOKEN}"}
        )
        assert [r["name"] for r in answer.json()["runners"]] == [HOSTILE_NAMES[3]]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_command_line_generates_n_runners():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lab.github_sim",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--runners",
            "42",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        url = process.stdout.readline().rsplit(" ", 1)[-1].strip()
        answer = httpx.get(
            f"{url}/orgs/acme/actions/runners?per_page=100",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()
        assert answer["total_count"] == 42
        validator("runner_list").validate(answer)
    finally:
        process.terminate()
        process.wait(timeout=10)
