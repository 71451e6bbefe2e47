"""The GitHub client against the lab's simulator: whole-fleet listings, conditional requests
that cost nothing, retries and waits for every fault, typed errors, and tokens that never leak.
"""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from lab.github_sim import GitHubSimulator, generate_fleet
from tui.model import RateLimit, Runner, RunnerState
from tui.sources.github import (
    AuthError,
    GitHubClient,
    GitHubError,
    GitHubUnavailable,
    NotFound,
    RateLimited,
    RunnerBusy,
    Scope,
)

ORG = Scope("org", "acme")
# Longer than any classic token and full of characters a careless regex would trip on.
TOKEN = "ghs_" + "A1b2C3d4E5f6" * 20 + "~!@#$%^&*()_+-=[]{}|;:,.<>?/\\'\"`"


class Sleeps:
    """An injected sleep: records every wait and moves the simulator's clock on instead."""

    def __init__(self, sim: GitHubSimulator | None = None) -> None:
        self.calls: list[float] = []
        self.sim = sim

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.sim is not None:
            self.sim.advance_clock(seconds)


@pytest.fixture
def sim():
    with GitHubSimulator(org="acme", token=TOKEN, runners=generate_fleet(250)) as simulator:
        yield simulator


def client_for(sim: GitHubSimulator, scope: Scope = ORG, **options) -> GitHubClient:
    options.setdefault("sleep", Sleeps(sim))
    options.setdefault("rng", random.Random(7))
    return GitHubClient(sim.url, lambda: sim.token, scope, **options)


def run(make: Callable[[], object]):
    """Run one coroutine on a fresh event loop, as the TUI's worker does."""
    return asyncio.run(make())


def test_scope_paths_and_parsing():
    assert Scope("org", "acme").runners_path == "/orgs/acme/actions/runners"
    assert Scope("repo", "acme/api").runners_path == "/repos/acme/api/actions/runners"
    assert Scope("enterprise", "big").runners_path == "/enterprises/big/actions/runners"
    assert Scope.parse("repo:acme/api") == Scope("repo", "acme/api")
    for bad in [
        ("org", "a/b"),
        ("org", "acme\n"),
        ("repo", "acme"),
        ("repo", "acme/../x"),
        ("team", "x"),
    ]:
        with pytest.raises(ValueError):
            Scope(*bad)
    with pytest.raises(ValueError):
        Scope.parse("acme")


def test_lists_the_whole_fleet_across_pages(sim):
    async def go():
        async with client_for(sim) as client:
            return await client.list_runners(), client.rate_limit

    runners, rate = run(go)
    assert len(runners) == 250
    assert [r.id for r in runners] == list(range(1, 251))
    assert all(isinstance(r, Runner) for r in runners)
    expected = {r["id"]: r for r in sim.runners()}
    for runner in runners:
        raw = expected[runner.id]
        assert runner.name == raw["name"]
        assert runner.labels == tuple(x["name"] for x in raw["labels"])
        assert runner.label_types[:2] == ("read-only", "read-only")
        assert runner.version == raw["version"]
        assert runner.group_id == 1
    assert {r.state for r in runners} == set(RunnerState)
    orphan = next(r for r in runners if r.state is RunnerState.ORPHAN)
    assert orphan.status == "offline" and orphan.busy
    # per_page=100: three pages, three points
    assert sim.rate_limit_used == 3
    paths = [r["path"] for r in sim.requests()]
    assert paths[0] == "/orgs/acme/actions/runners?per_page=100"
    assert paths[1:] == [
        "/orgs/acme/actions/runners?per_page=100&page=2",
        "/orgs/acme/actions/runners?per_page=100&page=3",
    ]
    assert rate == RateLimit(
        limit=5000, remaining=4997, used=3, reset=sim.rate_limit()["reset"], resource="core"
    )


def test_unchanged_fleet_costs_nothing_and_one_change_costs_its_page(sim):
    async def go():
        async with client_for(sim) as client:
            first = await client.list_runners()
            after_first = sim.rate_limit_used
            second = await client.list_runners()
            after_second = sim.rate_limit_used
            sim.update_runner(150, status="offline", busy=True)
            third = await client.list_runners()
            return first, second, third, after_first, after_second, client.rate_limit

    first, second, third, after_first, after_second, rate = run(go)
    assert after_second == after_first == 3
    assert second == first
    assert sim.rate_limit_used == 4
    assert [r["status"] for r in sim.requests()[-6:]] == [304, 304, 304, 304, 200, 304]
    assert all(r["conditional"] for r in sim.requests()[-6:])
    changed = next(r for r in third if r.id == 150)
    assert changed.state is RunnerState.ORPHAN
    assert [r for r in third if r.id != 150] == [r for r in first if r.id != 150]
    assert rate.used == 4


def test_name_filter_finds_hostile_names_intact():
    names = ["$(reboot)", "\x1b]52;c;aGk=\x07", "évil\u202e", "a b&c=d?e#f", "🔥"]
    fleet = [{"name": n, "labels": ["self-hosted", n]} for n in names]
    with GitHubSimulator(token=TOKEN, runners=fleet) as sim:

        async def go():
            async with client_for(sim) as client:
                everyone = await client.list_runners()
                one_by_one = [await client.list_runners(name=n) for n in names]
                return everyone, one_by_one

        everyone, one_by_one = run(go)
    assert [r.name for r in everyone] == names
    assert [r.custom_labels for r in everyone] == [(n,) for n in names]
    assert [[r.name for r in found] for found in one_by_one] == [[n] for n in names]


def test_5xx_burst_is_retried_with_growing_backoff(sim):
    sim.inject_5xx(3, status=502)
    sleeps = Sleeps()

    async def go():
        async with client_for(sim, sleep=sleeps) as client:
            return await client.get_runner(1)

    assert run(go).id == 1
    assert len(sleeps.calls) == 3
    for attempt, waited in enumerate(sleeps.calls):
        full = 0.5 * 2**attempt
        assert full / 2 <= waited <= full


def test_5xx_that_does_not_stop_gives_up_as_unavailable(sim):
    sim.inject_5xx(None, status=503)

    async def go():
        async with client_for(sim, max_retries=2) as client:
            await client.list_runners()

    with pytest.raises(GitHubUnavailable) as caught:
        run(go)
    message = str(caught.value)
    assert "503" in message and "/orgs/acme/actions/runners" in message
    assert "tried 3 times" in message
    assert "\n" not in message
    assert [r["status"] for r in sim.requests()] == [503, 503, 503]


def test_a_failed_post_is_not_repeated(sim):
    sim.inject_5xx(1, status=502)

    async def go():
        async with client_for(sim) as client:
            await client.create_issue("acme/api", "pool-a is down")

    with pytest.raises(GitHubUnavailable):
        run(go)
    assert sim.issues("api") == []
    assert len(sim.requests()) == 1


def test_429_waits_as_long_as_retry_after_says(sim):
    sim.inject_rate_limited(1, retry_after=7, status=429)
    sleeps = Sleeps(sim)

    async def go():
        async with client_for(sim, sleep=sleeps) as client:
            return await client.list_runners()

    assert len(run(go)) == 250
    assert sleeps.calls == [7]


def test_secondary_limit_without_retry_after_waits_at_least_a_minute(sim):
    sim.inject_rate_limited(2, retry_after=None, status=403)
    sleeps = Sleeps(sim)

    async def go():
        async with client_for(sim, sleep=sleeps) as client:
            return await client.get_runner(2)

    assert run(go).id == 2
    assert len(sleeps.calls) == 2
    assert 60 <= sleeps.calls[0] < sleeps.calls[1]


def test_spent_budget_waits_until_reset_then_carries_on(sim):
    sim.set_rate_limit(remaining=0, reset_in=90)
    sleeps = Sleeps(sim)

    async def go():
        async with client_for(sim, sleep=sleeps) as client:
            return await client.list_runners()

    assert len(run(go)) == 250
    assert len(sleeps.calls) == 1
    assert 88 <= sleeps.calls[0] <= 92


def test_spent_budget_with_a_far_reset_raises_rate_limited_at_once(sim):
    sim.set_rate_limit(remaining=0, reset_in=2400)
    sleeps = Sleeps(sim)

    async def go():
        async with client_for(sim, sleep=sleeps) as client:
            try:
                await client.list_runners()
            finally:
                rate = client.rate_limit
            return rate

    with pytest.raises(RateLimited) as caught:
        run(go)
    assert sleeps.calls == []
    reset_at = caught.value.reset_at
    assert reset_at is not None
    assert reset_at == datetime.fromtimestamp(sim.rate_limit()["reset"], UTC)
    assert reset_at.strftime("%H:%M:%S") in str(caught.value)
    assert caught.value.status == 403


def test_slow_answer_times_out_and_is_retried(sim):
    sim.inject_slow(1, delay=3)
    sleeps = Sleeps()

    async def go():
        async with client_for(sim, sleep=sleeps, timeout=0.3) as client:
            return await client.get_runner(3)

    assert run(go).id == 3
    assert len(sleeps.calls) == 1


def test_answers_that_never_come_raise_unavailable(sim):
    sim.inject_slow(None, delay=3)

    async def go():
        async with client_for(sim, timeout=0.3, max_retries=1) as client:
            await client.get_runner(3)

    with pytest.raises(GitHubUnavailable) as caught:
        run(go)
    assert "did not answer GET /orgs/acme/actions/runners/3 within 0.3 s" in str(caught.value)


def test_malformed_body_is_a_typed_error(sim):
    sim.inject_malformed(1)

    async def go():
        async with client_for(sim) as client:
            await client.list_runners()

    with pytest.raises(GitHubUnavailable) as caught:
        run(go)
    assert "not valid JSON" in str(caught.value)
    assert caught.value.status == 200


def test_unreachable_github_is_unavailable():
    sim = GitHubSimulator(token=TOKEN).start()
    url = sim.url
    sim.stop()
    sleeps = Sleeps()

    async def go():
        async with GitHubClient(url, lambda: TOKEN, ORG, sleep=sleeps, max_retries=2) as client:
            await client.list_runners()

    with pytest.raises(GitHubUnavailable) as caught:
        run(go)
    assert "cannot reach GitHub" in str(caught.value)
    assert len(sleeps.calls) == 2


def test_http_errors_map_to_typed_errors(sim):
    sim.update_runner(9, busy=True, status="online")

    async def go():
        errors = []
        async with client_for(sim) as client:
            for action in (
                lambda: client.get_runner(999_999),
                lambda: client.delete_runner(9),
                lambda: client.get_variable("NOT_SET"),
            ):
                try:
                    await action()
                except GitHubError as err:
                    errors.append(err)
        async with GitHubClient(sim.url, lambda: "wrong-token", ORG) as stranger:
            try:
                await stranger.list_runners()
            except GitHubError as err:
                errors.append(err)
        return errors

    missing, busy, unset, refused = run(go)
    assert isinstance(missing, NotFound) and missing.status == 404
    assert isinstance(busy, RunnerBusy) and busy.status == 422
    assert sim.runner(9)["busy"] is True
    assert isinstance(unset, NotFound)
    assert isinstance(refused, AuthError) and refused.status == 401
    assert "Bad credentials" in str(refused)


def test_delete_runner_and_runner_tokens(sim):
    sim.update_runner(12, busy=False)

    async def go():
        async with client_for(sim) as client:
            await client.delete_runner(12)
            return await client.registration_token(), await client.remove_token()

    registration, removal = run(go)
    with pytest.raises(KeyError):
        sim.runner(12)
    assert registration.token not in repr(registration)
    assert abs((registration.expires_at - datetime.now(UTC)).total_seconds() - 3600) < 10
    runner = sim.register_runner(registration.token, "from-client", ["pool-a"])
    assert runner["name"] == "from-client"
    sim.unregister_runner(removal.token, "from-client")


@pytest.mark.parametrize("repo", [None, "acme/api"])
def test_variables_set_creates_then_updates_then_deletes(sim, repo):
    scope = "org" if repo is None else "repo:api"

    async def go():
        async with client_for(sim) as client:
            await client.set_variable("CI_RUNNER", '["ubuntu-latest"]', repo=repo)
            created = await client.get_variable("CI_RUNNER", repo=repo)
            await client.set_variable("CI_RUNNER", '["self-hosted","linux"]', repo=repo)
            updated = await client.get_variable("CI_RUNNER", repo=repo)
            mid = sim.variables(scope)
            await client.delete_variable("CI_RUNNER", repo=repo)
            try:
                await client.get_variable("CI_RUNNER", repo=repo)
            except NotFound:
                gone = True
            return created, updated, mid, gone

    created, updated, mid, gone = run(go)
    assert created.value == '["ubuntu-latest"]'
    assert updated.value == '["self-hosted","linux"]'
    assert mid == {"CI_RUNNER": '["self-hosted","linux"]'}
    assert gone and sim.variables(scope) == {}
    methods = [(r["method"], r["status"]) for r in sim.requests()]
    assert methods[:3] == [("PATCH", 404), ("POST", 201), ("GET", 200)]
    assert ("PATCH", 204) in methods
    if repo is None:
        assert created.visibility == "all"
    with pytest.raises(ValueError):
        run(lambda: client_for(sim).get_variable("BAD NAME/../x"))


def test_issue_flow(sim):
    async def go():
        async with client_for(sim) as client:
            issue = await client.create_issue(
                "acme/api", "pool-a: 3 runners offline", "details", ["runnerdoc", "pool-a"]
            )
            await client.create_issue("acme/api", "something else")
            mine = await client.list_issues("acme/api", labels=["runnerdoc"])
            link = await client.comment_issue("acme/api", issue.number, "failover on")
            closed = await client.close_issue("acme/api", issue.number)
            still_open = await client.list_issues("acme/api", labels=["runnerdoc"])
            return issue, mine, link, closed, still_open

    issue, mine, link, closed, still_open = run(go)
    assert issue.number == 1 and issue.state == "open"
    assert issue.labels == ("runnerdoc", "pool-a")
    assert [i.number for i in mine] == [1]
    assert link.endswith("#issuecomment-1")
    assert sim.comments("acme/api", 1)[0]["body"] == "failover on"
    assert closed.state == "closed"
    assert still_open == []


def test_queued_jobs_across_repositories_oldest_first(sim):
    old = sim.add_queued_job("api", ["self-hosted", "pool-gpu"], name="train", age_seconds=900)
    sim.add_queued_job("web", ["self-hosted", "pool-a"], name="build", age_seconds=60)
    running = sim.add_queued_job("web", ["self-hosted", "pool-a"], name="test", age_seconds=30)
    sim.update_job(running["id"], status="in_progress", runner_id=1)
    sim.add_queued_job("api", ["self-hosted"], name="lint", run_id=old["run_id"], age_seconds=5)

    async def go():
        async with client_for(sim) as client:
            first = await client.queued_jobs(["acme/api", "acme/web", "acme/docs"])
            used = sim.rate_limit_used
            second = await client.queued_jobs(["acme/api", "acme/web", "acme/docs"])
            return first, second, used

    first, second, used = run(go)
    assert [(j.repository, j.name) for j in first] == [
        ("acme/api", "train"),
        ("acme/web", "build"),
        ("acme/api", "lint"),
    ]
    assert first[0].labels == ("self-hosted", "pool-gpu")
    assert first[0].workflow == "CI"
    assert abs((datetime.now(UTC) - first[0].created_at).total_seconds() - 900) < 10
    # Unchanged queues are answered with 304s: polling them again costs nothing.
    assert second == first
    assert sim.rate_limit_used == used


def test_at_most_four_requests_in_flight(sim):
    repos = [f"acme/repo-{n}" for n in range(10)]
    for repo in repos:
        sim.add_queued_job(repo, ["self-hosted"])
    sim.inject_slow(None, delay=0.15)

    async def go():
        async with client_for(sim) as client:
            return await client.queued_jobs(repos)

    assert len(run(go)) == 10
    assert 2 <= sim.peak_in_flight <= 4


def test_next_link_to_another_host_is_not_followed():
    seen: list[str] = []

    def github(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(
            200,
            json={"total_count": 2, "runners": []},
            headers={"link": '<https://evil.example/steal?page=2>; rel="next"'},
        )

    async def go():
        client = GitHubClient(
            "https://api.github.com",
            lambda: TOKEN,
            ORG,
            transport=httpx.MockTransport(github),
        )
        async with client:
            await client.list_runners()

    with pytest.raises(GitHubUnavailable) as caught:
        run(go)
    assert "another host" in str(caught.value)
    assert seen == ["https://api.github.com/orgs/acme/actions/runners?per_page=100"]


def test_a_runner_in_the_wrong_shape_is_a_typed_error():
    def github(request: httpx.Request) -> httpx.Response:
        bad = {"id": 1, "name": "r", "os": "Linux", "status": "online", "busy": "yes", "labels": []}
        return httpx.Response(200, json={"total_count": 1, "runners": [bad]})

    async def go():
        async with GitHubClient(
            "https://api.github.com", lambda: TOKEN, ORG, transport=httpx.MockTransport(github)
        ) as client:
            await client.list_runners()

    with pytest.raises(GitHubUnavailable) as caught:
        run(go)
    assert "'busy'" in str(caught.value)


def _failing_calls(sim: GitHubSimulator) -> list[Callable[[], object]]:
    """Every way a call can fail, each made with TOKEN as the client's token."""

    def call(action, token_provider=lambda: TOKEN, url=None, transport=None, arm=None):
        async def go():
            sim.clear_faults()
            sim.set_rate_limit(remaining=5000, reset_in=3600)
            if arm is not None:
                arm()
            async with GitHubClient(
                url or sim.url,
                token_provider,
                ORG,
                sleep=Sleeps(),
                transport=transport,
                timeout=0.3,
                max_retries=1,
            ) as client:
                return await action(client)

        return go

    def echo_token(request: httpx.Request) -> httpx.Response:
        # GitHub never echoes a token, but the client must not pass one on if it did.
        sent = request.headers["authorization"]
        return httpx.Response(403, json={"message": f"{sent} lacks admin:org"})

    def refuse_token():
        raise RuntimeError(f"vault said no to {TOKEN}")

    stopped = GitHubSimulator(token=TOKEN).start()
    dead_url = stopped.url
    stopped.stop()

    def listing(client):
        return client.list_runners()

    return [
        call(listing, arm=lambda: sim.inject_5xx(None)),
        call(listing, arm=lambda: sim.inject_slow(None, delay=2)),
        call(listing, arm=lambda: sim.inject_malformed(None)),
        call(listing, arm=lambda: sim.set_rate_limit(remaining=0, reset_in=3000)),
        call(listing, arm=lambda: sim.inject_rate_limited(None, retry_after=9999)),
        call(lambda c: c.get_runner(424242)),
        call(lambda c: c.create_issue("acme/api", "x"), arm=lambda: sim.inject_5xx(1)),
        call(listing, url=dead_url),
        call(listing, token_provider=lambda: TOKEN + "\n\x00bad"),
        call(listing, token_provider=refuse_token),
        call(listing, url="https://api.github.com", transport=httpx.MockTransport(echo_token)),
    ]


def test_the_token_never_leaks_into_errors_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    errors: list[GitHubError] = []

    # A simulator that knows another token refuses ours with 401.
    with GitHubSimulator(token="the-real-one-" + "z" * 30, runners=generate_fleet(5)) as other:

        async def wrong():
            async with GitHubClient(other.url, lambda: TOKEN, ORG) as client:
                await client.list_runners()

        with pytest.raises(AuthError) as caught:
            run(wrong)
        errors.append(caught.value)

    with GitHubSimulator(token=TOKEN, runners=generate_fleet(5)) as sim:
        for go in _failing_calls(sim):
            with pytest.raises(GitHubError) as caught:
                run(go)
            errors.append(caught.value)

    assert {type(e) for e in errors} >= {AuthError, NotFound, GitHubUnavailable, RateLimited}
    assert all("\n" not in str(e) for e in errors)
    texts = [str(e) for e in errors] + [repr(e) for e in errors]
    texts += ["".join(traceback.format_exception(e)) for e in errors]
    texts.append(caplog.text)
    texts.append(repr(GitHubClient("https://api.github.com", lambda: TOKEN, ORG)))
    for text in texts:
        assert TOKEN not in text
        assert TOKEN[:40] not in text
    # The echoed token was scrubbed and the rest of GitHub's message kept.
    assert any("*** lacks admin:org" in str(e) for e in errors)
    assert any("token source failed (RuntimeError)" in str(e) for e in errors)
    assert any("cannot travel in an HTTP header" in str(e) for e in errors)
