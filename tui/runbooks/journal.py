"""The audit journal: one append-only JSONL file per run, each record flushed to disk.

Written before and after every step, so a dropped SSH session or a killed process
never loses what was done, and `runnerdoc runbook resume RUN_ID` can continue.
Secrets (captured tokens, anything that looks like a GitHub token) are redacted
before a record is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_OUTPUT = 64 * 1024  # characters of a step's output kept in the journal
# Token shapes GitHub documents, plus long opaque values after "token" words, as a net
# under the explicit redaction of captured secrets.
_TOKEN_SHAPES = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|[A-Z0-9]{29}(?=\s|$))"
)


class JournalError(Exception):
    """The journal cannot be written or read; the message is one line."""


def journal_dir() -> Path:
    base = os.environ.get("RUNNERDOC_JOURNAL_DIR")
    if base:
        return Path(base).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or "~/.local/state"
    return Path(state).expanduser() / "runnerdoc" / "journal"


def new_run_id(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(now or time.time(), UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


@dataclass
class Redactor:
    """Replaces known secret values and token-shaped strings with a marker."""

    values: dict[str, str] = field(default_factory=dict)  # secret value -> its name

    def add(self, name: str, value: str) -> None:
        if value and len(value) >= 4:
            self.values[value] = name

    def __call__(self, text: str) -> str:
        for value, name in sorted(self.values.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(value, f"<redacted:{name}>")
        return _TOKEN_SHAPES.sub("<redacted:token>", text)


class Journal:
    """Appends records to `<dir>/<run_id>.jsonl`; every record is flushed and fsynced."""

    def __init__(
        self, run_id: str, directory: Path | None = None, redactor: Redactor | None = None
    ):
        if not re.fullmatch(r"[A-Za-z0-9-]{6,64}", run_id):
            raise JournalError(f"run id {run_id!r} is not a runnerdoc run id")
        self.run_id = run_id
        self.directory = journal_dir() if directory is None else Path(directory)
        self.path = self.directory / f"{run_id}.jsonl"
        self.redact = redactor or Redactor()

    def write(self, record_type: str, /, **fields: Any) -> dict[str, Any]:
        record = {"type": record_type, "at": time.time(), "run_id": self.run_id}
        record.update({k: self._clean(v) for k, v in fields.items()})
        line = json.dumps(record, ensure_ascii=True, sort_keys=False) + "\n"
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise JournalError(f"cannot write the journal {self.path}: {e.strerror}") from None
        return record

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value

    def records(self) -> list[dict[str, Any]]:
        return list(read_journal(self.path))


def output_fields(output: str) -> dict[str, Any]:
    """The output as kept in the journal: the text (cut to a size) and a digest of all of it."""
    digest = hashlib.sha256(output.encode("utf-8", "surrogateescape")).hexdigest()
    kept = output if len(output) <= MAX_OUTPUT else output[-MAX_OUTPUT:]
    return {"output": kept, "output_sha256": digest, "output_truncated": len(output) > MAX_OUTPUT}


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Records in order; a last line cut short by a crash is ignored, not fatal."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise JournalError(f"cannot read the journal {path}: {e.strerror}") from None
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):
                return  # the process died while writing this line
            raise JournalError(f"{path}:{number}: not a journal record") from None
        if isinstance(record, dict):
            yield record


def find_run(run_id: str, directory: Path | None = None) -> Path:
    directory = journal_dir() if directory is None else Path(directory)
    if not re.fullmatch(r"[A-Za-z0-9-]{6,64}", run_id):
        raise JournalError(f"run id {run_id!r} is not a runnerdoc run id")
    path = directory / f"{run_id}.jsonl"
    if not path.exists():
        raise JournalError(f"no run {run_id} in {directory}")
    return path


def list_runs(directory: Path | None = None) -> Iterable[Path]:
    directory = journal_dir() if directory is None else Path(directory)
    return sorted(directory.glob("*.jsonl")) if directory.exists() else []
