"""The runner package's scripts on a lab host: svc.sh, config.sh, run.sh and the binaries.

They act on the host's simulated systemd and talk to the GitHub simulator's control API
the way the real ones talk to GitHub: config.sh registers with a one-hour registration
token (a used or expired token gets the real 404), `config.sh remove` needs a removal
token, svc.sh installs, starts, stops and uninstalls the unit.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lab.host.files import read_registration, shim, unit_file_text, write_registration
from lab.host.runner_service import CLOCK_LIMIT, CLOCK_LINE, dns_works
from lab.host.state import RunnerHost, unit_record
from lab.host.timefmt import diag_file_stamp
from lab.hostcmd.session import Session, err, out
from lab.hostcmd.systemd import cmd_systemctl

BANNER = r"""
--------------------------------------------------------------------------------
|        ____ _ _   _   _       _          _        _   _                      |
|       / ___(_) |_| | | |_   _| |__      / \   ___| |_(_) ___  _ __  ___      |
|      | |  _| | __| |_| | | | | '_ \    / _ \ / __| __| |/ _ \| '_ \/ __|     |
|      | |_| | | |_|  _  | |_| | |_) |  / ___ \ (__| |_| | (_) | | | \__ \     |
|       \____|_|\__|_| |_|\__,_|_.__/  /_/   \_\___|\__|_|\___/|_| |_|___/     |
|                                                                              |
|                       Self-hosted runner registration                        |
|                                                                              |
--------------------------------------------------------------------------------
"""


def _root_of(script: str) -> Path:
    here = Path(os.path.abspath(script)).parent
    return here.parent if here.name == "bin" else here


def _scope_of(github_url: str) -> str:
    """`acme` for https://github.com/acme, `acme-app` for https://github.com/acme/app."""
    return "-".join(p for p in urlsplit(github_url).path.split("/") if p)


def _service_name(root: Path) -> str | None:
    try:
        name = (root / ".service").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        name = ""
    if name:
        return name
    registration = read_registration(root)
    if registration is None:
        return None
    scope = _scope_of(str(registration.get("gitHubUrl", "")))
    return f"actions.runner.{scope}.{registration.get('agentName')}.service"


# ----- svc.sh ------------------------------------------------------------------------------------


def cmd_svc(session: Session, argv: list[str]) -> int:
    script, args = argv[0], argv[1:]
    root = _root_of(script)
    state = session.host.read()
    if not session.is_root(state):
        out("Must run as sudo")
        return 1
    name = _service_name(root)
    if name is None:
        out("Runner is not configured: run ./config.sh first")
        return 1
    verb = args[0] if args else ""
    fragment = f"/etc/systemd/system/{name}"
    if verb == "install":
        user = args[1] if len(args) > 1 else os.environ.get("SUDO_USER", "")
        with session.host.locked() as st:
            if name in st["units"]:
                out(f"Failed: error: exists {fragment}")
                return 1
            account = st["accounts"].get(user)
            if account is None:
                err(f"id: ‘{user}’: no such user")
                out("Failed: Must provide a valid user to run the runner as")
                return 1
            registration = read_registration(root) or {}
            desc = f"GitHub Actions Runner ({_scope_of(str(registration.get('gitHubUrl', '')))}."
            desc += f"{registration.get('agentName', session.host.name)})"
            record = unit_record(desc, "simple", fragment=fragment)
            record["user"] = user
            st["units"][name] = record
            st["runner_unit"] = name
            st["runner_user"] = user
            unit_path = session.host.fs / fragment.lstrip("/")
            unit_path.parent.mkdir(parents=True, exist_ok=True)
            org, _, runner = desc[len("GitHub Actions Runner (") : -1].partition(".")
            unit_path.write_text(unit_file_text(org, runner, root, user))
            (root / ".service").write_text(name + "\n")
            out(f"Creating launch runner in {fragment}")
            out(f"Run as user: {user}")
            out(f"Run as uid: {account['uid']}")
            out(f"gid: {account['gid']}")
            out(f"Created symlink /etc/systemd/system/multi-user.target.wants/{name} → {fragment}.")
        return 0
    if verb not in ("start", "stop", "status", "uninstall"):
        out("Usage: ./svc.sh [install, start, stop, status, uninstall]")
        out("Commands:")
        out("   install [user]: Install runner service as Root or specified user.")
        out("   start: Manually start the runner service.")
        out("   stop: Manually stop the runner service.")
        out("   status: Display status of runner service.")
        out("   uninstall: Uninstall runner service.")
        return 0 if not verb else 1
    installed = name in state["units"]
    if verb == "uninstall":
        if not installed:
            out(f"Service {name} is not installed")
            return 0
        _svc_status(session, name, fragment, stop=True)
        with session.host.locked() as st:
            out(f'Removed "/etc/systemd/system/multi-user.target.wants/{name}".')
            st["units"].pop(name, None)
            if st.get("runner_unit") == name:
                st["runner_unit"] = None
            (session.host.fs / fragment.lstrip("/")).unlink(missing_ok=True)
            (root / ".service").unlink(missing_ok=True)
        return 0
    if not installed:
        out()
        out("not installed")
        out()
        return 1
    if verb in ("start", "stop"):
        code = cmd_systemctl(session, [verb, name])
        if code:
            out(f"Failed: failed to {verb} {name}")
            return 1
    return _svc_status(session, name, fragment)


def _svc_status(session: Session, name: str, fragment: str, *, stop: bool = False) -> int:
    if stop:
        cmd_systemctl(session, ["stop", name])
    out()
    out(fragment)
    cmd_systemctl(session, ["--no-pager", "status", name])
    return 0


# ----- talking to the GitHub simulator -----------------------------------------------------------


def _control(state: dict[str, Any], path: str, body: dict[str, Any]) -> tuple[int, dict]:
    req = urllib.request.Request(  # noqa: S310 -- the lab's own http:// URL
        state["github_api_url"] + "/_sim" + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:  # noqa: S310
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw) if raw else {}
        except ValueError:
            return e.code, {}


def _not_found(url: str) -> None:
    base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
    err(f"Http response code: NotFound from 'POST {base}/actions/runner-registration'")
    err('{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}')
    err("Response status code does not indicate success: 404 (Not Found).")


def _options(args: list[str]) -> tuple[dict[str, str], set[str]]:
    values: dict[str, str] = {}
    flags: set[str] = set()
    takes = {
        "--url",
        "--token",
        "--name",
        "--labels",
        "--runnergroup",
        "--work",
        "--pat",
        "--windowslogonaccount",
        "--windowslogonpassword",
    }
    i = 0
    while i < len(args):
        a = args[i]
        if a in takes and i + 1 < len(args):
            values[a[2:]] = args[i + 1]
            i += 2
            continue
        if a.startswith("--") and "=" in a:
            key, _, value = a[2:].partition("=")
            values[key] = value
        elif a.startswith("--"):
            flags.add(a[2:])
        i += 1
    return values, flags


def _network_check(session: Session, state: dict, url: str) -> bool:
    if not dns_works(state):
        err(f"An error occurred: Name or service not known ({urlsplit(url).netloc})")
        return False
    if abs(float(state["clock"]["offset"])) > CLOCK_LIMIT:
        err(f"An error occurred: {CLOCK_LINE}")
        return False
    return True


def _url_matches(state: dict, url: str) -> bool:
    """The URL names the lab's GitHub: its port, on 127.0.0.1, localhost or a *.localhost name."""
    given, lab = urlsplit(url), urlsplit(state["github_api_url"])
    host = given.hostname or ""
    local = host in ("127.0.0.1", "localhost") or host.endswith(".localhost")
    return local and given.port == lab.port and bool(_scope_of(url))


# ----- config.sh ---------------------------------------------------------------------------------


def cmd_config(session: Session, argv: list[str]) -> int:
    script, args = argv[0], argv[1:]
    root = _root_of(script)
    state = session.host.read()
    if session.is_root(state):
        out("Must not run with sudo")
        return 1
    if args and args[0] == "remove":
        return _config_remove(session, state, root, args[1:])
    values, flags = _options(args)
    out(BANNER)
    if (root / ".runner").exists():
        err(
            "Cannot configure the runner because it is already configured. To reconfigure the "
            "runner, run 'config.cmd remove' or './config.sh remove' first."
        )
        return 1
    out("# Authentication")
    out()
    for key in ("url", "token"):
        if not values.get(key):
            err(f"Invalid configuration provided for {key}. Terminating unattended configuration.")
            return 1
    url = values["url"]
    if not _network_check(session, state, url):
        return 1
    if not _url_matches(state, url):
        _not_found(url)
        return 1
    out()
    out("√ Connected to GitHub")
    out()
    out("# Runner Registration")
    out()
    group = values.get("runnergroup", "Default")
    if group != "Default":
        err(f"Could not find any runner group named '{group}'.")
        return 1
    name = values.get("name") or session.host.name
    labels = [x for x in values.get("labels", "").split(",") if x]
    status, body = _control(
        state,
        "/register",
        {
            "token": values["token"],
            "name": name,
            "labels": labels,
            "replace": "replace" in flags,
            "ephemeral": "ephemeral" in flags,
        },
    )
    if status == 404:
        _not_found(url)
        return 1
    if status == 409:
        out(f"A runner exists with the same name {name}.")
        err("Failed to add the runner. Use --replace to replace the existing runner.")
        return 1
    if status != 201:
        err(f"Http response code: {status} from 'POST {url}/actions/runner-registration'")
        return 1
    write_registration(root, runner_id=int(body["id"]), name=name, github_url=url)
    template = root / "bin" / "svc.sh.template"
    svc = root / "svc.sh"
    if template.exists():
        shutil.copyfile(template, svc)
    else:
        python = os.environ.get("RUNNERDOC_LAB_PYTHON", "python3")
        svc.write_text(shim("svc.sh", python))
    svc.chmod(0o755)
    out("√ Runner successfully added")
    out("√ Runner connection is good")
    out()
    out("# Runner settings")
    out()
    out("√ Settings Saved.")
    out()
    return 0


def _config_remove(session: Session, state: dict, root: Path, args: list[str]) -> int:
    values, _ = _options(args)
    out()
    out("# Runner removal")
    out()
    if (root / ".service").exists():
        err("Unconfigure service first")
        return 1
    registration = read_registration(root)
    if registration is not None:
        if not values.get("token"):
            err("Invalid configuration provided for token. Terminating unattended configuration.")
            return 1
        url = str(registration.get("gitHubUrl", ""))
        if not _network_check(session, state, url):
            return 1
        status, body = _control(
            state, "/unregister", {"token": values["token"], "name": registration.get("agentName")}
        )
        if status == 404 and body.get("reason"):
            err("Failed: Removing runner from the server")
            _not_found(url)
            return 1
        if status == 404:
            out("Does not exist. Skipping Removing runner from the server")
        elif status == 204:
            out("√ Runner removed successfully")
        else:
            err("Failed: Removing runner from the server")
            return 1
    else:
        out("Does not exist. Skipping Removing runner from the server")
    for name in (".credentials", ".credentials_rsaparams", ".runner"):
        path = root / name
        if path.exists():
            path.unlink()
            if name != ".credentials_rsaparams":
                out(f"√ Removed {name}")
        elif name != ".credentials_rsaparams":
            out(f"Does not exist. Skipping Removing {name}")
    return 0


# ----- run.sh and the binaries -------------------------------------------------------------------

_CHECKS = (
    ("Internet Connection", "Check if the Actions runner has internet access."),
    (
        "GitHub Actions Connection",
        "Check if the Actions runner has access to the GitHub Actions service.",
    ),
    (
        "Git Certificate/Proxy Validation",
        "Check if git can access GitHub.com or GitHub Enterprise Server.",
    ),
    (
        "Node.js Certificate/Proxy Validation",
        "Check if Node.js has access to GitHub.com or GitHub Enterprise Server.",
    ),
)


def _box(lines: list[str]) -> None:
    width = 118
    out("*" * width)
    for line in lines:
        out(f"**{line:^{width - 4}}**")
    out("*" * width)


def cmd_run(session: Session, argv: list[str]) -> int:
    script, args = argv[0], argv[1:]
    root = _root_of(script)
    state = session.host.read()
    if session.is_root(state):
        out("Must not run interactively with sudo")
        return 1
    if "--check" not in args:
        out(
            "This lab host runs its runner as a service: use ./svc.sh start|stop|status "
            "(./run.sh --check works here)."
        )
        return 2
    values, _ = _options(args)
    if not values.get("url") or not values.get("pat"):
        err("Invalid configuration provided for url or pat. Terminating unattended configuration.")
        return 1
    network = dns_works(state)
    pat_ok = network and _pat_works(state, values["pat"])
    stamp = diag_file_stamp(RunnerHost.now(state))
    failed = 0
    for title, description in _CHECKS:
        passed = network and (pat_ok or title == "Internet Connection")
        failed += 0 if passed else 1
        log = root / "_diag" / f"{title.split()[0]}Check_{stamp}-utc.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(
            f"{title}: {'PASS' if passed else 'FAIL'}\n"
            + ("" if network else "Name or service not known (api.github.com:443)\n")
        )
        _box(
            [
                "",
                f"Check:  {title}",
                f"Description: {description}",
                "",
                "",
                "P A S S" if passed else "F A I L",
                "",
                f"Log: {log}",
                "",
            ]
        )
        out()
    return 1 if failed else 0


def _pat_works(state: dict, pat: str) -> bool:
    req = urllib.request.Request(  # noqa: S310 -- the lab's own http:// URL
        state["github_api_url"] + "/rate_limit", headers={"Authorization": f"Bearer {pat}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:  # noqa: S310
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def cmd_listener(session: Session, argv: list[str]) -> int:
    out(
        "This lab host runs the listener through its runner service: "
        "use ./svc.sh start|stop|status."
    )
    return 2
