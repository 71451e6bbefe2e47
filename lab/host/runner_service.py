"""The runner service of a lab host, advanced one tick at a time by the lab's supervisor.

While systemd (lab.host.units) says the unit is active, the listener here does what the
real one does: reads `.runner`, connects to GitHub (the simulator), refuses to run when
it is not configured, when its registration is gone, its version is deprecated, the clock
is off or DNS fails, and otherwise listens for jobs and runs some. It writes the same
journal and `_diag` lines as the real runner (see runner-log-signatures.md) and reports
online, busy and version to the GitHub simulator.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any, Protocol

from lab.host import units
from lab.host.files import installed_version, read_registration
from lab.host.resources import disk, snapshot_cpu
from lab.host.state import RunnerHost
from lab.host.timefmt import diag_file_stamp, runner_utc

START_DELAY = 1.0  # the real listener needs 5-20 s to connect; the lab is quicker
RETRY_DELAY = 5.0
MAX_RETRIES = 10
CLOCK_LIMIT = 300.0
SYNC_SERVER = "185.125.190.56:123 (ntp.ubuntu.com)"
BROKER = "broker.actions.githubusercontent.com:443"

DELETED = (
    "Failed to create a session. The runner registration has been deleted from the server, "
    "please re-configure. Runner registrations are automatically deleted for runners that have "
    "not connected to the service recently."
)
CLOCK_LINE = (
    "The local machine's clock may be out of sync with the server time by more than five "
    "minutes. Please sync your clock with your domain or internet time and try again."
)
TERMINATED = "Runner listener exit with terminated error, stop the service, no retry needed."
RETRYABLE = "Runner listener exit with retryable error, re-launch runner in 5 seconds."
JOB_NAMES = ("build", "test", "lint", "integration-tests", "package")
REPOS = ("app", "api", "web")


class GitHubView(Protocol):
    """What the runner service needs from GitHub (the lab's simulator)."""

    def runner_exists(self, runner_id: int) -> bool: ...

    def version_refused(self, version: str) -> bool: ...

    def report(self, runner_id: int, *, online: bool, busy: bool, version: str | None) -> None: ...

    def start_job(self, runner_id: int, repo: str, name: str) -> int | None: ...

    def finish_job(self, job_id: int, conclusion: str) -> None: ...


def dns_works(state: dict[str, Any]) -> bool:
    """Names resolve while systemd-resolved (the stub resolver on 127.0.0.53) runs."""
    return state["units"]["systemd-resolved.service"]["state"] == "active"


def docker_works(state: dict[str, Any]) -> bool:
    return state["units"]["docker.service"]["state"] == "active"


class RunnerService:
    """One host's runner service; `tick()` moves it on and tells GitHub what changed."""

    def __init__(self, host: RunnerHost, github: GitHubView, *, seed: int | None = None):
        self.host = host
        self.github = github
        self.rng = random.Random(seed)  # noqa: S311 -- job timing, not a secret

    # ----- the tick --------------------------------------------------------------------------

    def tick(self) -> None:
        with self.host.locked() as state:
            self._sync_clock(state)
            self._advance(state)
            for done in state.pop("finished_jobs", []) or []:
                if done.get("id"):
                    self.github.finish_job(int(done["id"]), done["conclusion"])
            snapshot_cpu(state)
            self._report(state)

    def _report(self, state: dict[str, Any]) -> None:
        listener = state["listener"]
        registration = read_registration(self.host.runner_root)
        runner_id = int(listener.get("runner_id") or (registration or {}).get("agentId") or 0)
        if not runner_id:
            return
        online = listener["phase"] == "listening"
        busy = bool(state.get("job")) or (bool(listener.get("orphan")) and not online)
        self.github.report(
            runner_id, online=online, busy=busy, version=listener.get("version") or None
        )

    def _sync_clock(self, state: dict[str, Any]) -> None:
        clock = state["clock"]
        timesyncd = state["units"]["systemd-timesyncd.service"]
        if clock["synced"] or timesyncd["state"] != "active":
            return
        if not clock.get("sync_at") or time.time() < clock["sync_at"]:
            return
        pid = timesyncd["main_pid"]
        name = "systemd-timesyncd.service"
        inv = timesyncd.get("invocation", "")
        self.host.log(
            state,
            "systemd-timesyncd",
            f"Contacted time server {SYNC_SERVER}.",
            unit=name,
            pid=pid,
            invocation=inv,
        )
        clock.update(offset=0.0, synced=True, sync_at=0.0)
        stamp = time.strftime("%a %Y-%m-%d %H:%M:%S", time.gmtime())
        self.host.log(
            state,
            "systemd-timesyncd",
            f"Initial clock synchronization to {stamp} UTC.",
            unit=name,
            pid=pid,
            invocation=inv,
        )

    def _advance(self, state: dict[str, Any]) -> None:
        name = state.get("runner_unit") or ""
        unit = state["units"].get(name)
        listener = state["listener"]
        now = time.time()
        if unit is None or unit["state"] != "active":
            listener["phase"] = "down"
            return
        phase = listener["phase"]
        if phase == "down":
            listener.update(phase="starting", since=now, retries=0)
        elif phase == "starting" and now - listener["since"] >= START_DELAY:
            self._connect(state)
        elif phase == "retrying" and now - listener["since"] >= RETRY_DELAY:
            self._relaunch(state)
        elif phase == "reconnecting" and dns_works(state):
            if listener.get("connected_once"):
                self._say(state, f"{runner_utc(self.host.now(state))}: Runner reconnected.")
                self._diag(state, "INFO", "Terminal", "WRITE LINE: Runner reconnected.")
                listener.update(phase="listening", since=now)
            else:
                self._connect(state)
        elif phase == "listening":
            self._watch(state)

    # ----- what the listener prints ------------------------------------------------------------

    def _say(self, state: dict[str, Any], message: str) -> None:
        units.runner_say(self.host, state, message)

    def _diag(self, state: dict[str, Any], level: str, component: str, text: str) -> None:
        self.host.diag_line(state, state["listener"].get("log", ""), level, component, text)

    def _utc(self, state: dict[str, Any]) -> str:
        return runner_utc(self.host.now(state))

    # ----- connecting ------------------------------------------------------------------------

    def _connect(self, state: dict[str, Any]) -> None:
        listener = state["listener"]
        root = self.host.runner_root
        if not listener.get("log"):
            listener["log"] = f"Runner_{diag_file_stamp(self.host.now(state))}-utc.log"
            self._diag(state, "INFO", "HostContext", f"Well known directory 'Bin': '{root}/bin'")
            self._diag(state, "INFO", "HostContext", f"Well known directory 'Root': '{root}'")
            self._diag(state, "INFO", "Listener", "Runner is built for Linux (X64) - linux-x64.")
        registration = read_registration(root)
        if registration is None or not (root / ".credentials").exists():
            self._diag(
                state,
                "ERR ",
                "Listener",
                "Not configured. Run config.(sh/cmd) to configure the runner.",
            )
            self._say(
                state,
                "An error occurred: Not configured. Run config.(sh/cmd) to configure the runner.",
            )
            self._terminated(state)
            return
        version = installed_version(root)
        if version is None:
            self._say(
                state, f"{root}/bin/Runner.Listener: cannot execute binary file: Exec format error"
            )
            self._say(state, "Runner listener exited with error code 126")
            units.fail_unit(
                self.host,
                state,
                state["runner_unit"],
                code="exited",
                status="1/FAILURE",
                result="exit-code",
            )
            return
        self._diag(state, "INFO", "RunnerServer", "EstablishVssConnection")
        self._diag(state, "INFO", "MessageListener", "Connect to server.")
        if not dns_works(state):
            self._connect_error(state, f"Name or service not known ({BROKER})")
            return
        self._say(state, "√ Connected to GitHub")
        self._say(state, f"Current runner version: '{version}'")
        # GitHub learns the version from the session request, whatever it answers.
        listener["version"] = version
        runner_id = int(registration.get("agentId") or 0)
        name = registration.get("agentName", "")
        self._diag(
            state,
            "INFO",
            "MessageListener",
            f"Create session with runner '{name}' (id {runner_id}).",
        )
        if abs(float(state["clock"]["offset"])) > CLOCK_LIMIT:
            self._clock_refused(state)
            return
        if not self.github.runner_exists(runner_id):
            self._deleted(state)
            return
        if self.github.version_refused(version):
            self._deprecated(state, version)
            return
        self._diag(state, "INFO", "MessageListener", "Session created.")
        self._say(state, f"{self._utc(state)}: Listening for Jobs")
        self._diag(state, "INFO", "Terminal", "WRITE LINE: Listening for Jobs")
        listener.update(
            phase="listening",
            since=time.time(),
            runner_id=runner_id,
            version=version,
            connected_once=True,
            retries=0,
            orphan=False,
        )
        self._schedule_job(state)

    def _relaunch(self, state: dict[str, Any]) -> None:
        name = state["runner_unit"]
        listener = self.host.add_process(
            state,
            "Runner.Listener",
            f"{self.host.runner_root}/bin/Runner.Listener run --startuptype service",
            user=state["units"][name].get("user") or state["runner_user"],
            rss_kb=98_300,
            unit=name,
            cpu=0.01,
        )
        self._say(state, "Starting Runner listener with startup type: service")
        self._say(state, f"Started listener process, pid: {listener['pid']}")
        state["listener"].update(phase="starting", since=time.time(), log="")

    def _listener_ends(self, state: dict[str, Any]) -> None:
        gone = {
            p["pid"]
            for p in state["processes"]
            if p["unit"] == state["runner_unit"] and p["comm"] == "Runner.Listener"
        }
        RunnerHost.remove_processes(state, gone)

    def _terminated(self, state: dict[str, Any]) -> None:
        self._listener_ends(state)
        self._say(state, TERMINATED)
        units.exit_unit(self.host, state, state["runner_unit"])

    def _retryable(self, state: dict[str, Any]) -> None:
        listener = state["listener"]
        self._listener_ends(state)
        units.cancel_job(self.host, state)
        self._say(state, RETRYABLE)
        listener["retries"] = int(listener.get("retries", 0)) + 1
        if listener["retries"] >= MAX_RETRIES:
            self._say(
                state, f"Stopping the runner after {MAX_RETRIES} consecutive re-tryable failures"
            )
            units.exit_unit(self.host, state, state["runner_unit"])
            return
        listener.update(phase="retrying", since=time.time())

    def _connect_error(self, state: dict[str, Any], reason: str) -> None:
        utc = self._utc(state)
        self._diag(
            state,
            "ERR ",
            "BrokerMessageListener",
            "Catch exception during get next message"
            f"\nSystem.Net.Http.HttpRequestException: {reason}\n ---> System.Net.Sockets."
            f"SocketException (0xFFFDFFFF): {reason.split(' (')[0]}",
        )
        line = f"{utc}: Runner connect error: {reason}. Retrying until reconnected."
        self._say(state, line)
        self._diag(state, "ERR ", "Terminal", f"WRITE ERROR: {line}")
        self._diag(
            state,
            "ERR ",
            "Terminal",
            f"WRITE ERROR: {utc}: Runner connect error: "
            f"Resource temporarily unavailable ({BROKER}). Retrying until reconnected.",
        )
        state["listener"].update(phase="reconnecting", since=time.time())

    def _clock_refused(self, state: dict[str, Any]) -> None:
        self._diag(
            state,
            "ERR ",
            "MessageListener",
            "Catch exception during create session.\n"
            "GitHub.Services.OAuth.VssOAuthTokenRequestException: " + CLOCK_LINE,
        )
        self._say(state, CLOCK_LINE)
        self._retryable(state)

    def _deleted(self, state: dict[str, Any]) -> None:
        self._diag(
            state,
            "ERR ",
            "MessageListener",
            "Catch exception during create session.\n"
            "GitHub.DistributedTask.WebApi.TaskAgentNotFoundException: " + DELETED,
        )
        self._say(state, DELETED)
        self._terminated(state)

    def _deprecated(self, state: dict[str, Any], version: str) -> None:
        text = f"Runner version v{version} is deprecated and cannot receive messages."
        self._diag(
            state, "ERR ", "Runner", f"GitHub.DistributedTask.WebApi.AccessDeniedException: {text}"
        )
        self._say(state, f"An error occurred: {text}")
        self._terminated(state)

    # ----- listening ---------------------------------------------------------------------------

    def _watch(self, state: dict[str, Any]) -> None:
        listener = state["listener"]
        runner_id = int(listener.get("runner_id") or 0)
        if not self.github.runner_exists(runner_id):
            units.cancel_job(self.host, state)
            self._deleted(state)
            return
        if self.github.version_refused(listener.get("version") or ""):
            units.cancel_job(self.host, state)
            self._deprecated(state, listener["version"])
            return
        if not dns_works(state):
            self._connect_error(state, f"Name or service not known ({BROKER})")
            return
        if abs(float(state["clock"]["offset"])) > CLOCK_LIMIT:
            self._clock_refused(state)
            return
        self._jobs(state)

    def _schedule_job(self, state: dict[str, Any]) -> None:
        interval = float(state.get("job_interval") or 0)
        if interval > 0:
            state["next_job_at"] = time.time() + self.rng.uniform(0.3, 1.7) * interval
        else:
            state["next_job_at"] = 0.0

    def _jobs(self, state: dict[str, Any]) -> None:
        now = time.time()
        job = state.get("job")
        if job:
            if now >= job["ends"]:
                self._finish_job(state)
            return
        forced = state.get("forced_job")
        if forced:
            state["forced_job"] = None
            self._start_job(
                state,
                docker=bool(forced.get("docker")),
                duration=float(forced.get("duration", 1.0)),
            )
            return
        if state.get("next_job_at") and now >= state["next_job_at"]:
            self._start_job(state, docker=self.rng.random() < 0.4, duration=self.rng.uniform(5, 25))

    def _start_job(self, state: dict[str, Any], *, docker: bool, duration: float) -> None:
        listener = state["listener"]
        name = self.rng.choice(JOB_NAMES)
        repo = f"{state['org']}/{self.rng.choice(REPOS)}"
        unit = state["runner_unit"]
        worker = self.host.add_process(
            state,
            "Runner.Worker",
            f"{self.host.runner_root}/bin/Runner.Worker spawnclient 114 117",
            user=state["units"][unit].get("user") or state["runner_user"],
            rss_kb=151_200,
            unit=unit,
            cpu=1.4,
        )
        log = f"Worker_{diag_file_stamp(self.host.now(state))}-utc.log"
        sim_id = self.github.start_job(int(listener["runner_id"]), repo, name)
        state["job"] = {
            "name": name,
            "repo": repo,
            "pid": worker["pid"],
            "log": log,
            "sim_id": sim_id,
            "docker": docker,
            "started": time.time(),
            "ends": time.time() + duration,
        }
        self.host.diag_line(state, log, "INFO", "Worker", f"Version: {listener.get('version')}")
        self.host.diag_line(
            state, log, "INFO", "Worker", "Waiting to receive the job message from the channel."
        )
        self.host.diag_line(state, log, "INFO", "JobRunner", f"Job ID {sim_id or 0}")
        self._say(state, f"{self._utc(state)}: Running job: {name}")

    def _finish_job(self, state: dict[str, Any]) -> None:
        job = state["job"]
        log = job["log"]
        root = self.host.runner_root
        result = "Succeeded"
        self.host.diag_line(
            state,
            log,
            "INFO",
            "StepsRunner",
            "Processing step: DisplayName='Run actions/checkout@v4'",
        )
        if disk(self.host, state).avail <= 0:
            script = f"{root}/_work/_temp/{uuid.uuid4()}.sh"
            self.host.diag_line(
                state,
                log,
                "ERR ",
                "JobRunner",
                f"System.IO.IOException: No space left on device : '{script}'",
            )
            runner_log = state["listener"].get("log") or "Runner.log"
            self._say(
                state,
                f"System.IO.IOException: No space left on device : '{root}/_diag/{runner_log}'",
            )
            result = "Failed"
        elif job.get("docker"):
            self.host.diag_line(
                state,
                log,
                "INFO",
                "StepsRunner",
                "Processing step: DisplayName='Initialize containers'",
            )
            worker = RunnerHost.process(state, job["pid"]) or {}
            docker_gid = state["groups"]["docker"]["gid"]
            if not docker_works(state):
                self.host.diag_line(
                    state,
                    log,
                    "ERR ",
                    "ContainerOperationProvider",
                    "Cannot connect to the Docker daemon at "
                    "unix:///var/run/docker.sock. Is the docker daemon running?",
                )
                result = "Failed"
            elif docker_gid not in worker.get("groups", []):
                self.host.diag_line(
                    state,
                    log,
                    "ERR ",
                    "ContainerOperationProvider",
                    "permission denied while trying to connect to the Docker "
                    "daemon socket at unix:///var/run/docker.sock: Get "
                    '"http://%2Fvar%2Frun%2Fdocker.sock/v1.47/version": dial unix '
                    "/var/run/docker.sock: connect: permission denied",
                )
                result = "Failed"
        self.host.diag_line(
            state, log, "INFO", "JobRunner", f"Job result after all job steps finish: {result}"
        )
        self._say(state, f"{self._utc(state)}: Job {job['name']} completed with result: {result}")
        RunnerHost.remove_processes(state, {job["pid"]})
        state.setdefault("finished_jobs", []).append(
            {
                "id": job.get("sim_id"),
                "conclusion": "success" if result == "Succeeded" else "failure",
            }
        )
        state["job"] = None
        state["jobs_run"] = int(state.get("jobs_run", 0)) + 1
        self._schedule_job(state)
