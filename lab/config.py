"""The lab folder: where each part lives, lab.json (what runs where) and config.toml.

config.toml is runnerdoc's own settings for the running lab, so `runnerdoc --lab ...`
works: GitHub API, token and organisation, Prometheus, Alertmanager, Loki, SSH (user,
key, known_hosts, runner -> 127.0.0.1:PORT) and each runner's runner root. It holds the
lab's GitHub token, so it is written with mode 0600 from the start.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LabLayout:
    """Every path in the lab folder."""

    root: Path

    @property
    def config_toml(self) -> Path:
        return self.root / "config.toml"

    @property
    def lab_json(self) -> Path:
        return self.root / "lab.json"

    @property
    def plan_json(self) -> Path:
        return self.root / "plan.json"

    @property
    def supervisor_log(self) -> Path:
        return self.root / "supervisor.log"

    @property
    def hosts(self) -> Path:
        return self.root / "hosts"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def ssh(self) -> Path:
        return self.root / "ssh"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def sink_file(self) -> Path:
        return self.root / "sink" / "notifications.jsonl"

    def service(self, name: str) -> Path:
        return self.root / name

    def host(self, name: str) -> Path:
        return self.hosts / name

    # Everything `lab up` creates (and a fresh `up` clears): never anything else in the folder.
    OWNED = (
        "hosts",
        "bin",
        "ssh",
        "tls",
        "sink",
        "prometheus",
        "alertmanager",
        "pushgateway",
        "exporter",
        "config.toml",
        "lab.json",
        "plan.json",
        "supervisor.log",
    )


@dataclass
class RunnerPlan:
    name: str
    labels: list[str]


@dataclass
class LabPlan:
    """What `lab up` asked for; the supervisor reads it to build the lab."""

    org: str
    token: str
    runners: list[RunnerPlan]
    python: str
    login_user: str
    login_uid: int
    login_gid: int
    job_interval: float = 60.0
    exporter: bool = True
    repos: list[str] = field(default_factory=lambda: ["app", "api", "web"])

    def save(self, path: Path) -> None:
        _write_private(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> LabPlan:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["runners"] = [RunnerPlan(**r) for r in data["runners"]]
        return cls(**data)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, from its first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_lab_state(layout: LabLayout) -> dict[str, Any] | None:
    try:
        return json.loads(layout.lab_json.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def write_lab_state(layout: LabLayout, state: dict[str, Any]) -> None:
    _write_private(layout.lab_json, json.dumps(state, indent=1))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # A JSON string is a valid TOML basic string for everything the lab writes.
    return json.dumps(str(value))


def _table(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]"]
    for key, value in values.items():
        bare = key.replace("_", "").replace("-", "").isalnum() and "." not in key
        lines.append(
            f"{key if bare and '-' not in key else json.dumps(key)} = {_toml_value(value)}"
        )
    return "\n".join(lines)


def write_runnerdoc_config(
    layout: LabLayout,
    *,
    github_api_url: str,
    org: str,
    token: str,
    repos: list[str],
    prometheus_url: str,
    alertmanager_url: str,
    loki_url: str,
    ssh_user: str,
    ssh_hosts: dict[str, str],
    runner_roots: dict[str, str],
    exporter_url: str | None,
    pushgateway_url: str,
    sink_url: str,
    runbook_parameters: dict[str, str],
) -> None:
    tables = [
        "# runnerdoc's settings for the running lab, written by `runnerdoc lab up`.\n"
        "# `runnerdoc --lab ...` reads this file; `runnerdoc lab down` removes it.",
        _table(
            "github",
            {
                "api_url": github_api_url,
                "url": github_api_url,
                "org": org,
                "token": token,
                "queued_repos": [f"{org}/{r}" for r in repos],
            },
        ),
        _table("prometheus", {"url": prometheus_url}),
        _table("alertmanager", {"url": alertmanager_url}),
        _table("loki", {"url": loki_url}),
        _table(
            "ssh",
            {
                "user": ssh_user,
                "identity_file": str(layout.ssh / "id_ed25519"),
                "known_hosts": str(layout.ssh / "known_hosts"),
                "config_file": str(layout.ssh / "config"),
                "connect_timeout": 10,
            },
        ),
        _table("ssh.hosts", ssh_hosts),
        _table("hosts", {"label": "runner"}),
        _table(
            "lab",
            {
                "folder": str(layout.root),
                "exporter_url": exporter_url or "",
                "pushgateway_url": pushgateway_url,
                "sink_url": sink_url,
                "sink_file": str(layout.sink_file),
            },
        ),
        _table("lab.runner_roots", runner_roots),
        "# Values for the runbooks' parameters that differ in the lab from their defaults.",
        _table("lab.runbook_parameters", runbook_parameters),
    ]
    _write_private(layout.config_toml, "\n\n".join(tables) + "\n")
