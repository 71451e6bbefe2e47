"""Alertmanager routing for runnerdoc's alerts: `amtool check-config`, route tests for
every alert the rules define, and a real Alertmanager delivering to a stand-in Slack and
failover service, with its inhibitions at work."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lab.services import start_alertmanager
from tui.monitoring_pages import load_alert_rules
from tui.runbooks.parse import load_runbooks

REPO = Path(__file__).resolve().parent.parent
AM_DIR = REPO / "monitoring" / "alertmanager"
CONFIG = AM_DIR / "alertmanager.yml"
POOL_ALERTS = {"RunnerPoolEmpty", "RunnerPoolCapacityLow"}


def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail(
            "amtool not found: install it with `apt-get install -y prometheus-alertmanager` "
            "(Debian's package ships /usr/bin/amtool)"
        )
    return path


def routes_to(labels: dict[str, str], receivers: list[str]) -> subprocess.CompletedProcess[str]:
    """`amtool config routes test --verify.receivers=...`: exit 0 only if exactly these."""
    return subprocess.run(
        [
            amtool(), "config", "routes", "test", f"--config.file={CONFIG}",
            f"--verify.receivers={','.join(receivers)}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_amtool_check_config_is_clean() -> None:
    result = subprocess.run(
        [amtool(), "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "4 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            {"alertname": "RunnerPoolEmpty", "severity": "critical", "team": "ci-platform"},
            ["failover", "ci-platform-critical"],
        ),
        (
            {"alertname": "RunnerPoolCapacityLow", "severity": "warning", "team": "ci-platform"},
            ["failover", "ci-platform-warning"],
        ),
        (
            {"alertname": "RunnerOffline", "severity": "warning", "team": "ci-platform"},
            ["ci-platform-warning"],
        ),
        (
            {"alertname": "HostDiskFull", "severity": "critical", "team": "ci-platform"},
            ["ci-platform-critical"],
        ),
        (
            {"alertname": "HostCPUSaturated", "severity": "info", "team": "ci-platform"},
            ["ci-platform-info"],
        ),
        # An alert from someone else's rules, with no team of ours.
        ({"alertname": "NodeDown", "severity": "critical"}, ["unrouted"]),
    ],
)
def test_routes(labels: dict[str, str], receivers: list[str]) -> None:
    result = routes_to(labels, receivers)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails_the_route_test() -> None:
    labels = {"alertname": "RunnerOffline", "severity": "warning", "team": "ci-platform"}
    assert routes_to(labels, ["ci-platform-critical"]).returncode == 1
    assert routes_to(labels, ["failover", "ci-platform-warning"]).returncode == 1


def test_every_alert_reaches_its_team_at_its_severity() -> None:
    """Derived from the rules: a new alert, severity or team without a route fails here."""
    for alert in load_alert_rules():
        expected = [f"{alert.team}-{alert.severity}"]
        if alert.name in POOL_ALERTS:
            expected.insert(0, "failover")
        labels = {"alertname": alert.name, **alert.labels, "pool": "linux", "runner": "r-1"}
        result = routes_to(labels, expected)
        assert result.returncode == 0, f"{alert.name}: {result.stdout}{result.stderr}"


def test_every_runbook_team_has_its_own_route() -> None:
    for team in {book.team for book in load_runbooks().values()}:
        for severity in ("critical", "warning", "info"):
            labels = {"alertname": "Any", "team": team, "severity": severity}
            result = routes_to(labels, [f"{team}-{severity}"])
            assert result.returncode == 0, result.stdout + result.stderr


def test_no_secret_in_the_config() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert "slack_api_url" not in (config.get("global") or {})
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs") or []:
            assert "api_url" not in slack, receiver["name"]
            assert slack["api_url_file"].startswith("/etc/alertmanager/secrets/")
    assert "hooks.slack.com" not in CONFIG.read_text(encoding="utf-8")


# --- A real Alertmanager ----------------------------------------------------------------


class Recorder(http.server.ThreadingHTTPServer):
    """Stands in for Slack and the failover service: keeps every POST body by path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with server.lock:
                    server.received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def bodies(self, path: str) -> list[Any]:
        with self.lock:
            return [body for p, body in self.received if p == path]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _config_for_test(tmp_path: Path, recorder: Recorder) -> str:
    """The shipped config with only addresses, secret files and waits changed: Slack's
    webhook URLs (read from files, as in production) and the failover service point at
    the recorder, and groups flush at once instead of after 10-30 s."""
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["templates"] = [str(AM_DIR / t) for t in config["templates"]]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs") or []:
            url_file = secrets / Path(slack["api_url_file"]).name
            url_file.write_text(f"{recorder.url}/slack/{receiver['name']}\n")
            url_file.chmod(0o600)
            slack["api_url_file"] = str(url_file)
        for hook in receiver.get("webhook_configs") or []:
            assert hook["url"] == "http://127.0.0.1:9099/alertmanager"
            hook["url"] = f"{recorder.url}/failover"

    def fast(route: dict[str, Any]) -> None:
        route["group_wait"] = "0s"
        route["group_interval"] = "1s"
        for child in route.get("routes") or []:
            fast(child)

    fast(config["route"])
    return yaml.safe_dump(config, sort_keys=False)


def _alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
    rule = {a.name: a for a in load_alert_rules()}[name]
    assert rule.severity == severity
    return {
        "labels": {"alertname": name, "severity": severity, "team": rule.team, **labels},
        "annotations": {
            "summary": f"{name} summary",
            "description": f"{name} description",
            "runbook_url": rule.runbook_url,
        },
    }


def _wait_for(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for Alertmanager")


def test_alertmanager_delivers_inhibits_and_calls_the_failover_service(
    tmp_path: Path, recorder: Recorder
) -> None:
    service = start_alertmanager(tmp_path / "am", _config_for_test(tmp_path, recorder))
    try:
        alerts = [
            _alert("RunnerPoolEmpty", "critical", pool="gpu"),
            # Same pool as the empty one: inhibited. Pool linux: not.
            _alert("RunnerPoolCapacityLow", "warning", pool="gpu"),
            _alert("RunnerPoolCapacityLow", "warning", pool="linux"),
            # r-1 is offline, so its service alert is inhibited; r-2's is not.
            _alert("RunnerOffline", "warning", runner="r-1", runner_id="1", pool="linux"),
            _alert("RunnerServiceNotActive", "warning", runner="r-1", instance="a:9100"),
            _alert("RunnerServiceNotActive", "warning", runner="r-2", instance="b:9100"),
            # The cause of an offline runner stays visible.
            _alert("HostDiskFull", "critical", runner="r-1", instance="a:9100", mountpoint="/"),
        ]
        response = httpx.post(f"{service.url}/api/v2/alerts", json=alerts, timeout=10)
        assert response.status_code == 200, response.text

        def states() -> dict[tuple[str, str], str]:
            got = httpx.get(f"{service.url}/api/v2/alerts", timeout=10).json()
            return {
                (a["labels"]["alertname"], a["labels"].get("runner") or a["labels"].get("pool")):
                a["status"]["state"]
                for a in got
            }  # fmt: skip

        _wait_for(lambda: len(states()) == len(alerts) and "unprocessed" not in states().values())
        assert states() == {
            ("RunnerPoolEmpty", "gpu"): "active",
            ("RunnerPoolCapacityLow", "gpu"): "suppressed",
            ("RunnerPoolCapacityLow", "linux"): "active",
            ("RunnerOffline", "r-1"): "active",
            ("RunnerServiceNotActive", "r-1"): "suppressed",
            ("RunnerServiceNotActive", "r-2"): "active",
            ("HostDiskFull", "r-1"): "active",
        }

        # The failover service hears of both pools' capacity alerts that are not inhibited.
        _wait_for(lambda: len(recorder.bodies("/failover")) >= 2)
        failover = recorder.bodies("/failover")
        notified = {
            (a["labels"]["alertname"], a["labels"]["pool"]) for b in failover for a in b["alerts"]
        }
        assert notified == {("RunnerPoolEmpty", "gpu"), ("RunnerPoolCapacityLow", "linux")}
        assert all(b["status"] == "firing" for b in failover)

        # Slack gets the critical ones in the on-call channel with the runbook link, read
        # from the webhook URL file.
        _wait_for(lambda: len(recorder.bodies("/slack/ci-platform-critical")) >= 2)
        _wait_for(lambda: len(recorder.bodies("/slack/ci-platform-warning")) >= 3)
        critical = recorder.bodies("/slack/ci-platform-critical")
        pool_message = next(
            b for b in critical if "RunnerPoolEmpty" in b["attachments"][0]["title"]
        )
        attachment = pool_message["attachments"][0]
        assert pool_message["channel"] == "#ci-platform-oncall"
        assert attachment["title"] == "[FIRING:1] RunnerPoolEmpty (pool gpu)"
        assert attachment["title_link"] == "http://127.0.0.1:8000/runbooks/jobs-queued.html"
        assert "*RunnerPoolEmpty summary*" in attachment["text"]
        assert "Runbook: <http://127.0.0.1:8000/runbooks/jobs-queued.html|" in attachment["text"]

        time.sleep(2)  # a few more group intervals: nothing inhibited may arrive late
        warning_text = "\n".join(
            a["title"] + "\n" + a["text"]
            for b in recorder.bodies("/slack/ci-platform-warning")
            for a in b["attachments"]
        )
        assert "RunnerServiceNotActive" in warning_text  # r-2's
        assert warning_text.count("RunnerServiceNotActive summary") == 1
        assert "(pool gpu)" not in warning_text  # the inhibited capacity alert
        assert recorder.bodies("/slack/unrouted") == []
    finally:
        service.stop()
