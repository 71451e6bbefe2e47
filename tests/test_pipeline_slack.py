"""The Slack webhook client against the Slack simulator: Block Kit limits, retries, refusals,
and a webhook URL that never leaks."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from lab.slack_sim import SlackSimulator, block_problem
from tui.config import ConfigError, Secret
from tui.pipeline.slack import (
    HEADER_LIMIT,
    MAX_BLOCKS,
    SECTION_LIMIT,
    SlackError,
    SlackMessage,
    SlackWebhook,
    escape,
    link,
)


@pytest.fixture
def slack():
    with SlackSimulator() as sim:
        yield sim


def webhook(sim: SlackSimulator, **kw) -> tuple[SlackWebhook, list[float]]:
    waits: list[float] = []
    return SlackWebhook(Secret(sim.url), sleep=waits.append, **kw), waits


def test_the_simulator_answers_like_slack(slack):
    post = lambda body, **kw: httpx.post(slack.url, content=body, **kw)  # noqa: E731
    ok = post(json.dumps({"text": "hello"}), headers={"content-type": "application/json"})
    assert (ok.status_code, ok.text) == (200, "ok")
    form = post("payload=" + json.dumps({"text": "form"}),
                headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert form.status_code == 200
    assert [m["text"] for m in slack.messages] == ["hello", "form"]
    assert (post("{not json").status_code, post("{not json").text) == (400, "invalid_payload")
    assert post(json.dumps({"username": "x"})).text == "no_text"
    too_long = {"text": "t", "blocks": [{"type": "header", "text": {
        "type": "plain_text", "text": "x" * 151}}]}  # fmt: skip
    assert post(json.dumps(too_long)).text == "invalid_blocks"
    wrong = httpx.post(slack.base_url + "/services/T0/B0/guess", json={"text": "x"})
    assert (wrong.status_code, wrong.text) == (404, "no_service")
    slack.fail("rate_limited", retry_after=7)
    limited = post(json.dumps({"text": "x"}))
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    slack.fail("action_prohibited")
    assert post(json.dumps({"text": "x"})).status_code == 403
    slack.archive_channel()
    assert (post(json.dumps({"text": "x"})).status_code, slack.requests[-1]["answer"]) == (
        410, "channel_is_archived",
    )  # fmt: skip
    assert len(slack.messages) == 2  # only the accepted ones are recorded


def test_block_limits_are_those_slack_documents():
    assert block_problem([{"type": "divider"}] * 50) is None
    assert "at most 50" in block_problem([{"type": "divider"}] * 51)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    assert "3000" in block_problem([section])
    fields = {"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}
    assert "fields" in block_problem([fields])
    assert block_problem([{"type": "context", "elements": []}]) is not None


def test_messages_are_cut_to_slacks_limits_and_accepted(slack):
    hook, _ = webhook(slack)
    message = SlackMessage(text="x" * 5000).header("H" * 400).section("s" * 9000)
    message.code("\n".join(f"line {n} " + "z" * 80 for n in range(200)))
    message.fields([(f"field {n}", "v" * 3000) for n in range(25)])
    for n in range(60):
        message.context([f"part {n}"])
    payload = message.payload()
    assert len(payload["blocks"]) == MAX_BLOCKS
    assert payload["blocks"][-1]["elements"][0]["text"].endswith("more parts left out)")
    assert len(payload["blocks"][0]["text"]["text"]) == HEADER_LIMIT
    assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in payload["blocks"] if "text" in b)
    code = payload["blocks"][2]["text"]["text"]
    assert "line 199" in code and "line 0 " not in code  # the end of a log matters most
    hook.post(message)
    assert slack.messages[-1]["blocks"] == payload["blocks"]
    assert slack.messages[-1]["text"]  # the fallback text is always there


def test_outside_text_cannot_mention_everyone_or_forge_links():
    assert escape("<!channel> deploy <https://evil|ok> & co") == (
        "&lt;!channel&gt; deploy &lt;https://evil|ok&gt; &amp; co"
    )
    assert link("https://github.com/acme/api/actions/runs/1", "run |1>") == (
        "<https://github.com/acme/api/actions/runs/1|run ¦1&gt;>"
    )
    assert link("javascript:alert(1)", "run") == "run"
    assert "\x1b" not in escape("red \x1b[31m text")


def test_rate_limits_and_server_errors_are_retried(slack):
    hook, waits = webhook(slack)
    slack.fail("rate_limited", count=2, retry_after=3)
    hook.post(SlackMessage("after two 429s").section("hi"))
    assert waits == [3.0, 3.0]
    slack.fail("5xx", count=2)
    waits.clear()
    hook.post(SlackMessage("after two 500s"))
    assert waits == [1.0, 2.0]
    assert [m["text"] for m in slack.messages] == ["after two 429s", "after two 500s"]


def test_giving_up_and_refusals_say_why_without_the_url(slack, caplog):
    caplog.set_level(logging.DEBUG)
    hook, _ = webhook(slack, attempts=3)
    slack.fail("5xx", count=None)
    with pytest.raises(SlackError) as failed:
        hook.post(SlackMessage("x"))
    assert "500 rollup_error (tried 3 times)" in str(failed.value)
    slack.clear_faults()
    slack.fail("rate_limited", retry_after=3600)
    with pytest.raises(SlackError, match="asked to wait 3600 s"):
        hook.post(SlackMessage("x"))
    slack.fail("action_prohibited")
    with pytest.raises(SlackError, match="403 action_prohibited") as refused:
        hook.post(SlackMessage("x"))
    slack.revoke()
    with pytest.raises(SlackError, match=r"404 no_service .*revoked") as revoked:
        hook.post(SlackMessage("x"))
    secret_part = slack.path.rsplit("/", 1)[1]
    for err in (failed.value, refused.value, revoked.value):
        assert secret_part not in str(err) and secret_part not in repr(err)
    assert secret_part not in caplog.text  # httpx logs each request's URL
    assert "<slack webhook>" in caplog.text
    assert secret_part not in repr(hook)


def test_a_connection_that_never_opened_is_retried_and_reported(slack):
    dead = SlackSimulator().start()
    url = dead.url
    dead.stop()
    waits: list[float] = []
    hook = SlackWebhook(Secret(url), sleep=waits.append, attempts=2)
    with pytest.raises(SlackError, match="cannot reach Slack") as err:
        hook.post(SlackMessage("x"))
    assert waits == [1.0]
    assert url not in str(err.value)


def test_the_webhook_comes_from_a_file_or_the_environment(tmp_path, slack):
    path = tmp_path / "slack.url"
    path.write_text(slack.url + "\n")
    assert SlackWebhook.configured(path, env={}) is not None
    assert SlackWebhook.configured(None, env={"SLACK_WEBHOOK_URL": slack.url}) is not None
    assert SlackWebhook.configured(None, env={}) is None
    with pytest.raises(ConfigError, match=r"no\.url: No such file"):
        SlackWebhook.configured(tmp_path / "no.url", env={})
    with pytest.raises(ConfigError, match="must start with https://") as bad:
        SlackWebhook(Secret("hooks.slack.com/services/SECRETPART"))
    assert "SECRETPART" not in str(bad.value)
