"""Where a scenario runs: the running lab, or a real fleet named by a config file and a runner.

What is tested runs as `runnerdoc` subprocesses, exactly as a user types it; what is
observed (GitHub, Prometheus, Alertmanager, the lab's notification sink) is read over
their own HTTP APIs, so a scenario never trusts runnerdoc to report on itself.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tui.config import ConfigError, Settings, lab_dir, lab_env, load_settings
from tui.model import pool_of
from tui.sources.github import parse_runner
from tui.text import one_line, safe_text

HTTP_TIMEOUT = 10.0
# Faults a real host can be given and taken back with systemctl alone.
REAL_FAULTS = ("offline", "docker-down")


class EnvironmentProblem(Exception):
    """The environment cannot be used for scenarios; the message says why, on one line."""


@dataclass(frozen=True)
class Ran:
    """One runnerdoc command a scenario ran: what, how it ended, what it printed."""

    argv: tuple[str, ...]
    exit_status: int | None  # None: it did not finish before its timeout
    output: str  # stdout then stderr
    seconds: float
    stdout: str = ""

    @property
    def command(self) -> str:
        return "runnerdoc " + shlex.join(self.argv)

    def tail(self, lines: int = 15) -> str:
        kept = [ln for ln in self.output.splitlines() if ln.strip()][-lines:]
        return safe_text("\n".join(kept), keep_newlines=True)

    def verdict(self) -> str:
        ended = "timed out" if self.exit_status is None else f"exit {self.exit_status}"
        return f"`{self.command}`: {ended} after {self.seconds:.1f} s"


@dataclass(frozen=True)
class SinkAlert:
    """One alert in one notification the lab's sink received (Slack or webhook shape)."""

    received: float
    alertname: str
    status: str  # firing | resolved
    text: str
    runbook_url: str | None
    path: str

    def names(self, runner: str) -> bool:
        """True when the alert is about `runner` (the name as a whole word)."""
        return re.search(rf"(?<![\w.-]){re.escape(runner)}(?![\w-]|\.\w)", self.text) is not None


_TITLE = re.compile(r"^\[(?P<status>FIRING|RESOLVED)(?::\d+)?\]\s+(?P<alertname>\S+)")
_BLOCK = re.compile(r"^(:red_circle:|:large_green_circle:)", re.M)
_RUNBOOK = re.compile(r"Runbook: <([^|>]+)")


def sink_alerts(notifications: Iterable[Mapping[str, Any]]) -> list[SinkAlert]:
    """Every alert of every notification, one entry per alert.

    Slack messages (the project's templates) list each alert as a block that starts with
    a red or green circle; Alertmanager's webhook body lists them as JSON.
    """
    found: list[SinkAlert] = []
    for note in notifications:
        body = note.get("body")
        received = float(note.get("received", 0.0))
        path = str(note.get("path", ""))
        if not isinstance(body, dict):
            continue
        for attachment in body.get("attachments") or []:
            title = _TITLE.match(str(attachment.get("title", "")))
            if not title:
                continue
            text = str(attachment.get("text", ""))
            starts = [m.start() for m in _BLOCK.finditer(text)] + [len(text)]
            for begin, end in itertools.pairwise(starts):
                block = text[begin:end]
                url = _RUNBOOK.search(block)
                found.append(
                    SinkAlert(
                        received,
                        title["alertname"],
                        "firing" if block.startswith(":red_circle:") else "resolved",
                        block,
                        url.group(1) if url else attachment.get("title_link") or None,
                        path,
                    )
                )
        for alert in body.get("alerts") or []:
            if not isinstance(alert, dict):
                continue
            labels = alert.get("labels") or {}
            annotations = alert.get("annotations") or {}
            found.append(
                SinkAlert(
                    received,
                    str(labels.get("alertname", "")),
                    str(alert.get("status", "")),
                    json.dumps(labels, sort_keys=True) + " " + json.dumps(annotations),
                    annotations.get("runbook_url"),
                    path,
                )
            )
    return found


def runnerdoc_argv() -> list[str]:
    """The `runnerdoc` a user runs: the console script beside this Python, else the module."""
    script = Path(sys.executable).with_name("runnerdoc")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "tui.cli"]


class Environment:
    """What scenarios need from where they run. Subclasses: LabEnvironment, RealEnvironment."""

    kind = "lab"
    # Deadlines are written for the lab (alerts' `for` cut to 10 s, 2 s scrapes); a real
    # fleet scrapes and polls less often, so its deadlines stretch by this much.
    patience = 1.0
    sink_file: Path | None = None

    def __init__(self, settings: Settings, where: tuple[str, ...], env: Mapping[str, str]):
        if settings.scope is None:
            raise EnvironmentProblem(
                "no GitHub scope in the settings: scenarios need github.org (or repo)"
            )
        self.settings = settings
        self.where = where  # the options that point runnerdoc here: --lab or --config FILE
        self.env = dict(env)
        self._workdir: Path | None = None
        self.broken: dict[str, int] = {}  # runner -> faults injected so far (for picking)
        self.last_broken: dict[str, float] = {}

    # ----- running runnerdoc ---------------------------------------------------------------

    def run(self, *args: str, timeout: float = 300.0) -> Ran:
        """Run `runnerdoc ARGS` as a user would; never raises for a failing command."""
        argv = [*runnerdoc_argv(), *args]
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv, env=self.env, capture_output=True, text=True, timeout=timeout,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired as e:
            out = e.stdout or ""
            text = out.decode(errors="replace") if isinstance(out, bytes) else out
            return Ran(tuple(args), None, text, time.monotonic() - started, text)
        return Ran(tuple(args), done.returncode, done.stdout + done.stderr,
                   time.monotonic() - started, done.stdout)  # fmt: skip

    # ----- GitHub ---------------------------------------------------------------------------

    def _github(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = self.settings.token_provider()().reveal()
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        url = self.settings.github_api_url.rstrip("/") + path
        return httpx.request(method, url, headers=headers, timeout=HTTP_TIMEOUT, **kwargs)

    @property
    def scope_path(self) -> str:
        assert self.settings.scope is not None
        return "/" + self.settings.scope.api_path

    def github_runners(self) -> list[dict[str, Any]]:
        runners: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self._github(
                "GET", f"{self.scope_path}/actions/runners", params={"per_page": 100, "page": page}
            )
            answer.raise_for_status()
            batch = answer.json().get("runners", [])
            runners.extend(batch)
            if len(batch) < 100:
                return runners
            page += 1

    def github_runner(self, name: str) -> dict[str, Any] | None:
        answer = self._github("GET", f"{self.scope_path}/actions/runners", params={"name": name})
        answer.raise_for_status()
        return next((r for r in answer.json().get("runners", []) if r.get("name") == name), None)

    def github_status(self, name: str) -> str:
        """online, offline or absent, as GitHub's API says now."""
        record = self.github_runner(name)
        return "absent" if record is None else str(record.get("status"))

    def pools(self) -> dict[str, list[dict[str, Any]]]:
        """Pool -> its runners (GitHub's records), the pool named as runnerdoc names it."""
        found: dict[str, list[dict[str, Any]]] = {}
        for record in self.github_runners():
            found.setdefault(pool_of(parse_runner(record)), []).append(record)
        return found

    def custom_labels(self, name: str) -> list[str]:
        record = self.github_runner(name)
        if record is None:
            return []
        return [
            label["name"]
            for label in record.get("labels", [])
            if isinstance(label, dict) and label.get("type") == "custom"
        ]

    def _variables_path(self) -> str:
        scope = self.settings.scope
        assert scope is not None
        if scope.kind not in ("org", "repo"):
            raise EnvironmentProblem("Actions variables live in an organisation or a repository")
        return f"{self.scope_path}/actions/variables"

    def variable(self, name: str) -> str | None:
        answer = self._github("GET", f"{self._variables_path()}/{name}")
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        return str(answer.json().get("value"))

    def delete_variable(self, name: str) -> None:
        answer = self._github("DELETE", f"{self._variables_path()}/{name}")
        if answer.status_code not in (204, 404):
            answer.raise_for_status()

    # ----- Prometheus and Alertmanager --------------------------------------------------------

    def _url(self, which: str) -> str:
        url = getattr(self.settings, f"{which}_url")
        if not url:
            raise EnvironmentProblem(f"no {which} URL in the settings")
        return str(url).rstrip("/")

    def alert_states(self, alertname: str, runner: str) -> set[str]:
        """pending and/or firing, as Prometheus's ALERTS series say for this runner."""
        query = f'ALERTS{{alertname="{alertname}", {self.settings.host_label}="{runner}"}}'
        answer = httpx.get(
            self._url("prometheus") + "/api/v1/query", params={"query": query},
            timeout=HTTP_TIMEOUT,
        )  # fmt: skip
        answer.raise_for_status()
        return {s["metric"].get("alertstate", "?") for s in answer.json()["data"]["result"]}

    def rule_runbook_url(self, alertname: str) -> str | None:
        """The runbook_url annotation of the alert rule Prometheus has loaded."""
        answer = httpx.get(
            self._url("prometheus") + "/api/v1/rules", params={"type": "alert"},
            timeout=HTTP_TIMEOUT,
        )  # fmt: skip
        answer.raise_for_status()
        for group in answer.json()["data"]["groups"]:
            for rule in group.get("rules", []):
                if rule.get("name") == alertname:
                    return (rule.get("annotations") or {}).get("runbook_url")
        return None

    def alertmanager_alerts(self, alertname: str, runner: str) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds (active, silenced or inhibited) of this name for a runner."""
        answer = httpx.get(
            self._url("alertmanager") + "/api/v2/alerts",
            params=[("filter", f'alertname="{alertname}"'),
                    ("filter", f'{self.settings.host_label}="{runner}"')],
            timeout=HTTP_TIMEOUT,
        )  # fmt: skip
        answer.raise_for_status()
        return list(answer.json())

    def inhibitors(self, held: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The alerts Alertmanager says inhibit any of `held` (by their fingerprints)."""
        wanted = {fp for a in held for fp in (a.get("status") or {}).get("inhibitedBy") or []}
        if not wanted:
            return []
        answer = httpx.get(self._url("alertmanager") + "/api/v2/alerts", timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        return [a for a in answer.json() if a.get("fingerprint") in wanted]

    # ----- the lab's sink ---------------------------------------------------------------------

    def sink_alerts(self) -> list[SinkAlert]:
        if self.sink_file is None:
            raise EnvironmentProblem("no notification sink here (the lab has one)")
        try:
            lines = self.sink_file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        notes = []
        for line in lines:
            try:
                notes.append(json.loads(line))
            except ValueError:
                continue  # a line being written right now
        return sink_alerts(notes)

    # ----- runners and faults -------------------------------------------------------------------

    def describe(self) -> str:
        """Where, in words fit for a published page (no local paths)."""
        raise NotImplementedError

    @property
    def location(self) -> str:
        """The lab folder or config file: for the operator, not for the page."""
        raise NotImplementedError

    def runners(self) -> list[str]:
        raise NotImplementedError

    def healthy(self) -> dict[str, str]:
        """Runner -> "" when healthy, else what is wrong with it."""
        raise NotImplementedError

    def can_inject(self, kind: str) -> bool:
        raise NotImplementedError

    def inject(self, runner: str, kind: str) -> Ran:
        raise NotImplementedError

    def heal(self, runner: str) -> Ran:
        raise NotImplementedError

    def note_broken(self, runner: str) -> None:
        self.broken[runner] = self.broken.get(runner, 0) + 1
        self.last_broken[runner] = time.monotonic()

    def freshest(self, names: Iterable[str]) -> list[str]:
        """Runners broken least (and longest ago) first: a runner's old logs of another fault
        would otherwise be evidence in the next diagnosis."""
        order = list(self.runners())
        return sorted(
            names,
            key=lambda n: (self.broken.get(n, 0), self.last_broken.get(n, 0.0), order.index(n)),
        )

    @property
    def workdir(self) -> Path:
        """A private folder for the run's own files (the failover state file)."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="runnerdoc-scenarios-"))
        return self._workdir

    def close(self) -> None:
        """Give back what the environment holds: its folder, SSH connections."""
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


class LabEnvironment(Environment):
    """The lab started by `runnerdoc lab up`, in $RUNNERDOC_LAB_DIR or the default folder."""

    kind = "lab"

    def __init__(self, folder: Path | None = None, env: Mapping[str, str] | None = None):
        base_env = dict(os.environ if env is None else env)
        masked = lab_env(base_env)
        self.folder = Path(folder) if folder is not None else lab_dir(base_env)
        masked["RUNNERDOC_LAB_DIR"] = str(self.folder)
        try:
            state = json.loads((self.folder / "lab.json").read_text(encoding="utf-8"))
            config_path = self.folder / "config.toml"
            config = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise EnvironmentProblem(
                f"no running lab in {self.folder} ({type(e).__name__}): start one with "
                "runnerdoc lab up"
            ) from None
        if state.get("state") != "running":
            raise EnvironmentProblem(f"the lab in {self.folder} is {state.get('state')}")
        try:
            settings = load_settings(config_path, env=masked)
        except ConfigError as e:
            raise EnvironmentProblem(f"the lab's config.toml: {e}") from None
        super().__init__(settings, ("--lab",), masked)
        self.state = state
        self.sink_file = Path(config.get("lab", {}).get("sink_file") or "") or None
        self._runners = [r["name"] for r in state.get("runners", [])]

    def describe(self) -> str:
        return f"the lab ({len(self._runners)} runners)"

    @property
    def location(self) -> str:
        return str(self.folder)

    def runners(self) -> list[str]:
        return list(self._runners)

    def healthy(self) -> dict[str, str]:
        ran = self.run("lab", "status", "--json", timeout=60)
        try:
            report = json.loads(ran.stdout)
        except ValueError:
            raise EnvironmentProblem(f"lab status --json: {one_line(ran.output, 200)}") from None
        found = {}
        for r in report.get("runners", []):
            problems = []
            if r.get("github") != "online":
                problems.append(f"GitHub {r.get('github')}")
            if r.get("service") != "active":
                problems.append(f"service {r.get('service')}")
            if r.get("listener") != "listening":
                problems.append(f"listener {r.get('listener')}")
            if r.get("faults"):
                problems.append("faults " + ",".join(r["faults"]))
            found[r["name"]] = ", ".join(problems)
        return found

    def can_inject(self, kind: str) -> bool:
        return True

    def inject(self, runner: str, kind: str) -> Ran:
        self.note_broken(runner)
        return self.run("lab", "fault", runner, kind, timeout=60)

    def heal(self, runner: str) -> Ran:
        return self.run("lab", "heal", runner, timeout=60)

    # The simulator's own view, read through its control API: what "online in GitHub"
    # means in the lab, and free, where each REST call would spend rate limit that the
    # exporter's budget (and so how soon an alert fires) depends on.

    def _simulator(self) -> dict[str, Any]:
        github = self.state["services"]["github"]["url"]
        answer = httpx.get(f"{github}/_sim/state", timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    def _scope_key(self) -> str:
        scope = self.settings.scope
        assert scope is not None
        return f"{scope.kind}:{scope.name}"

    def github_runners(self) -> list[dict[str, Any]]:
        return list(self._simulator()["runners"].get(self._scope_key(), []))

    def github_runner(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.github_runners() if r.get("name") == name), None)

    def variable(self, name: str) -> str | None:
        record = self._simulator()["variables"].get(self._scope_key(), {}).get(name)
        return None if record is None else str(record.get("value"))

    def variable_writes(self, name: str) -> tuple[list[str], bool]:
        """Requests that changed Actions variable `name` (answered 2xx), from the simulator's
        request log; and whether the log is complete (it keeps the last 1000 requests)."""
        github = self.state["services"]["github"]["url"]
        answer = httpx.get(f"{github}/_sim/requests", timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        log = answer.json()
        writes = []
        for r in log:
            path = str(r.get("path", "")).split("?")[0]
            # A refused write (an update of a variable that is not there yet) changes nothing.
            if not 200 <= int(r.get("status") or 0) < 300:
                continue
            if r.get("method") in ("POST", "PATCH", "PUT", "DELETE") and (
                path.endswith(f"/actions/variables/{name}")
                or (path.endswith("/actions/variables") and r.get("method") == "POST")
            ):
                writes.append(f"{r['method']} {path} -> {r.get('status')}")
        return writes, len(log) < 1000


class RealEnvironment(Environment):
    """A real fleet: the settings of a config file, and the one runner a user named."""

    kind = "real"
    patience = 4.0

    def __init__(self, config: Path, target: str, env: Mapping[str, str] | None = None):
        base_env = dict(os.environ if env is None else env)
        try:
            settings = load_settings(config, env=base_env)
        except ConfigError as e:
            raise EnvironmentProblem(str(e)) from None
        super().__init__(settings, ("--config", str(config)), base_env)
        self.config = config
        self.target = target
        self._hosts = None

    def describe(self) -> str:
        return f"runner {self.target} of {self.settings.scope}"

    @property
    def location(self) -> str:
        return str(self.config)

    def runners(self) -> list[str]:
        return [self.target]

    def healthy(self) -> dict[str, str]:
        status = self.github_status(self.target)
        return {self.target: "" if status == "online" else f"GitHub {status}"}

    def can_inject(self, kind: str) -> bool:
        return kind in REAL_FAULTS

    def _ssh(self, runner: str, command: str) -> Ran:
        from tui.remote import RemoteError, RunnerHosts

        if self._hosts is None:
            self._hosts = RunnerHosts(self.settings.ssh)
        started = time.monotonic()
        try:
            result = self._hosts.run(runner, command, timeout=60)
        except RemoteError as e:
            return Ran(("ssh", runner, command), 255, str(e), time.monotonic() - started)
        return Ran(("ssh", runner, command), result.exit_status, result.output, result.duration)

    def _unit(self, runner: str) -> str:
        from tui.runbooks.targets import DEFAULT_RUNNER_ROOT

        root = self.settings.runner_roots.get(runner, DEFAULT_RUNNER_ROOT)
        return f'"$(cat {shlex.quote(root)}/.service)"'

    def inject(self, runner: str, kind: str) -> Ran:
        if kind not in REAL_FAULTS:
            raise EnvironmentProblem(f"{kind} cannot be injected on a real host")
        self.note_broken(runner)
        if kind == "offline":
            unit = self._unit(runner)
            return self._ssh(runner, f"sudo -n systemctl kill --signal=SIGKILL {unit}")
        # Socket activation would start docker again at the first `docker` command.
        stop = (
            "sudo -n systemctl stop docker.socket 2>/dev/null; "
            "sudo -n systemctl stop docker.service"
        )
        return self._ssh(runner, stop)

    def heal(self, runner: str) -> Ran:
        unit = self._unit(runner)
        return self._ssh(
            runner,
            "sudo -n systemctl reset-failed docker.service; sudo -n systemctl start docker.service"
            f" && sudo -n systemctl reset-failed {unit}; sudo -n systemctl start {unit}",
        )

    def close(self) -> None:
        super().close()
        if self._hosts is not None:
            self._hosts.close()
            self._hosts = None
