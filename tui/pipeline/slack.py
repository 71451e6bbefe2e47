"""Posting to a Slack incoming webhook: Block Kit messages cut to Slack's limits, retries on
429 and 5xx, and a webhook URL that never appears in a message, a log line or an exception."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tui.config import ConfigError, Secret
from tui.text import one_line, safe_text

log = logging.getLogger(__name__)

# Slack's documented Block Kit limits.
HEADER_LIMIT = 150  # header block: plain_text
SECTION_LIMIT = 3000  # section text
FIELD_LIMIT = 2000  # each section field
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
MAX_BLOCKS = 50
FALLBACK_LIMIT = 3000  # `text`: what notifications and screen readers show
_SLACK_ERROR = re.compile(r"[a-z_]{2,60}")


def escape(text: str) -> str:
    """Outside text made safe for mrkdwn: no control characters, and no `<...>` that Slack
    would turn into a link or an @channel mention."""
    return (
        safe_text(text, keep_newlines=True)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def link(url: str, label: str) -> str:
    """A mrkdwn link; a URL that could break out of `<url|label>` is shown as text instead."""
    if re.fullmatch(r"https?://[^\s<>|]+", url):
        return f"<{url}|{escape(label).replace('|', '¦')}>"
    return escape(label)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class SlackMessage:
    """A message under construction; `payload()` cuts every part to Slack's limits."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def header(self, text: str) -> SlackMessage:
        plain = one_line(text) or "-"
        self.blocks.append(
            {"type": "header", "text": {"type": "plain_text", "text": _cut(plain, HEADER_LIMIT)}}
        )
        return self

    def section(self, mrkdwn: str) -> SlackMessage:
        """A section of mrkdwn: escape outside text with `escape()` first."""
        if mrkdwn.strip():
            self.blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": _cut(mrkdwn, SECTION_LIMIT)}}
            )
        return self

    def fields(self, pairs: Sequence[tuple[str, str]]) -> SlackMessage:
        """Label/value pairs in two columns; values are mrkdwn (escape outside text)."""
        items = [
            {"type": "mrkdwn", "text": _cut(f"*{escape(k)}*\n{v}", FIELD_LIMIT)}
            for k, v in pairs
            if v
        ]
        for start in range(0, len(items), MAX_FIELDS):
            self.blocks.append({"type": "section", "fields": items[start : start + MAX_FIELDS]})
        return self

    def code(self, text: str) -> SlackMessage:
        """A preformatted excerpt, keeping its last lines when it is too long."""
        body = escape(text).replace("```", "ˋˋˋ")
        room = SECTION_LIMIT - 8
        if len(body) > room:
            body = "…" + body[-(room - 1) :]
        return self.section(f"```\n{body}\n```")

    def context(self, parts: Sequence[str]) -> SlackMessage:
        elements = [{"type": "mrkdwn", "text": _cut(p, SECTION_LIMIT)} for p in parts if p.strip()][
            :MAX_CONTEXT_ELEMENTS
        ]
        if elements:
            self.blocks.append({"type": "context", "elements": elements})
        return self

    def divider(self) -> SlackMessage:
        self.blocks.append({"type": "divider"})
        return self

    def payload(self) -> dict[str, Any]:
        blocks = list(self.blocks)
        if len(blocks) > MAX_BLOCKS:
            left_out = len(blocks) - (MAX_BLOCKS - 1)
            blocks = blocks[: MAX_BLOCKS - 1]
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": f"({left_out} more parts left out)"}],
                }
            )
        # Slack reads the fallback as mrkdwn too: `<!channel>` in it would notify everyone.
        fallback = _cut(escape(one_line(self.text)) or "runnerdoc", FALLBACK_LIMIT)
        return {"text": fallback, "blocks": blocks} if blocks else {"text": fallback}


class SlackError(Exception):
    """The message was not posted. The text is safe to show: it never holds the webhook."""


class _RedactWebhooks(logging.Filter):
    """httpx logs every request URL at INFO; for a webhook the URL is the secret."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
            secrets = list(self.secrets)
        if secrets:
            message = record.getMessage()
            if any(s in message for s in secrets):
                for s in secrets:
                    message = message.replace(s, "<slack webhook>")
                record.msg, record.args = message, ()
        return True


_redactor = _RedactWebhooks()
logging.getLogger("httpx").addFilter(_redactor)


class SlackWebhook:
    """One incoming webhook. `post` retries 429 (after Retry-After) and 5xx (with backoff),
    and a connection that never opened; anything else raises SlackError at once."""

    def __init__(
        self,
        url: Secret,
        *,
        timeout: float = 10.0,
        attempts: int = 4,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        value = url.reveal().strip()
        if not re.fullmatch(r"https?://[^\s]+", value):
            raise ConfigError("the Slack webhook URL must start with https://")
        self._url = Secret(value)
        with _redactor.lock:
            _redactor.secrets.add(value)
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.max_wait = max_wait
        self._sleep = sleep

    def __repr__(self) -> str:
        return "SlackWebhook(<redacted>)"

    @classmethod
    def configured(
        cls, file: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None, **kw: Any
    ) -> SlackWebhook | None:
        """The webhook from a file (its first line), else $SLACK_WEBHOOK_URL; None if neither."""
        env = os.environ if env is None else env
        if file:
            path = Path(file).expanduser()
            try:
                first = path.read_text(encoding="utf-8").strip().splitlines()
            except OSError as e:
                raise ConfigError(f"Slack webhook file {path}: {e.strerror}") from None
            if not first:
                raise ConfigError(f"Slack webhook file {path} is empty")
            return cls(Secret(first[0].strip()), **kw)
        if env.get("SLACK_WEBHOOK_URL"):
            return cls(Secret(env["SLACK_WEBHOOK_URL"]), **kw)
        return None

    def post(self, message: SlackMessage | Mapping[str, Any]) -> None:
        payload = message.payload() if isinstance(message, SlackMessage) else dict(message)
        problem = "no attempt made"
        for attempt in range(self.attempts):
            wait = min(30.0, 1.0 * 2**attempt)
            try:
                response = httpx.post(self._url.reveal(), json=payload, timeout=self.timeout)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                # Never reached Slack, so a second try cannot post twice.
                problem = f"cannot reach Slack ({type(e).__name__})"
            except httpx.HTTPError as e:
                # It may have arrived: trying again could post the message twice.
                raise SlackError(
                    f"Slack did not answer in time ({type(e).__name__}); the message may or "
                    "may not have been posted"
                ) from None
            else:
                status = response.status_code
                code = response.text.strip()
                code = code if _SLACK_ERROR.fullmatch(code) else response.reason_phrase
                if status == 200:
                    return
                if status == 429:
                    after = _retry_after(response.headers.get("retry-after"))
                    if after is not None and after > self.max_wait:
                        raise SlackError(
                            f"Slack rate-limited the webhook and asked to wait {after:.0f} s"
                        )
                    wait = after if after is not None else wait
                    problem = f"Slack rate-limited the webhook (429 {code})"
                elif status >= 500:
                    problem = f"Slack answered {status} {code}"
                else:
                    raise SlackError(f"Slack refused the message: {status} {code}{_hint(code)}")
            if attempt + 1 < self.attempts:
                log.warning("%s; trying again in %.0f s", problem, wait)
                self._sleep(wait)
        raise SlackError(f"{problem} (tried {self.attempts} times)")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


_HINTS = {
    "invalid_payload": " (the JSON was not understood)",
    "invalid_blocks": " (a block breaks Slack's rules)",
    "no_text": " (the message had no text)",
    "action_prohibited": " (the workspace forbids this webhook from posting)",
    "channel_not_found": " (the webhook's channel no longer exists)",
    "channel_is_archived": " (the webhook's channel is archived: make a new webhook)",
    "no_service": " (the webhook was revoked or the URL is wrong)",
}


def _hint(code: str) -> str:
    return _HINTS.get(code, "")
