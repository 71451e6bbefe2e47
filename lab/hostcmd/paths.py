"""Real tools on a lab host's files: system paths are redirected into the host's own folder.

A lab host's /tmp, /var/lib/docker, /etc/resolv.conf, /etc/systemd/system and the /proc
entries of its simulated processes live under `<host>/fs/`, so `cat /etc/resolv.conf`,
`curl -o /tmp/x`, `tar -xzf /tmp/x` or `grep Groups: /proc/PID/status` run the real
program on the host's files, and no lab host ever touches the machine's real /tmp.
Paths under the runner root are real paths and pass unchanged.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from lab.host.resources import load1, memory
from lab.host.state import RunnerHost
from lab.hostcmd.session import Session, err, real_user

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The host's own system paths (names on the host, not temporary files of this program).
VIRTUAL = (
    "/tmp",  # noqa: S108
    "/var/tmp",  # noqa: S108
    "/var/lib/docker",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/docker",
    "/etc/systemd/system",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/log/journal",
)
_PROC = re.compile(r"^/proc/(\d+|self)(/.*)?$")
_PROC_FILES = ("/proc/meminfo", "/proc/loadavg", "/proc/uptime")
_LONG = re.compile(r"^([-dlcbsp][-rwxsStT]{9}[.+@]?\s+\d+\s+)(\S+)(\s+)(\S+)(\s)")


def real_program(name: str) -> str:
    found = shutil.which(name, path=SYSTEM_PATH)
    if found is None:
        err(f"{name}: command not found")
        raise SystemExit(127)
    return found


class PathMap:
    """Turns a host's view of a path into the real path, writing /proc entries on demand."""

    def __init__(self, host: RunnerHost, state: dict[str, Any]):
        self.host = host
        self.state = state
        self.fs = str(host.fs)
        self.lab = str(host.folder.parent.parent)
        self.changed = False

    def real(self, path: str) -> str:
        if path == self.lab or path.startswith(self.lab + "/"):
            # The lab's own folder (it may itself lie under /tmp) is a real path.
            return path
        for prefix in VIRTUAL:
            if path == prefix or path.startswith(prefix + "/"):
                self.changed = True
                target = self.fs + path
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                return target
        if path in _PROC_FILES:
            self.changed = True
            return self._proc_file(path)
        m = _PROC.match(path)
        if m and m.group(1) != "self":
            proc = RunnerHost.process(self.state, int(m.group(1)))
            if proc is not None:
                self.changed = True
                self._proc_status(proc)
                return self.fs + path
        return path

    def arg(self, arg: str) -> str:
        if arg.startswith("/"):
            return self.real(arg)
        if arg.startswith("--") and "=" in arg:
            key, _, value = arg.partition("=")
            if value.startswith("/"):
                return f"{key}={self.real(value)}"
        return arg

    def back(self, text: str) -> str:
        """Real paths in a program's output, shown as the host's own paths again."""
        return text.replace(self.fs, "") if self.changed else text

    def _proc_status(self, proc: dict[str, Any]) -> None:
        folder = Path(self.fs) / "proc" / str(proc["pid"])
        folder.mkdir(parents=True, exist_ok=True)
        account = self.state["accounts"].get(proc["user"], {"uid": 0, "gid": 0})
        uid, gid = account["uid"], account["gid"]
        groups = " ".join(str(g) for g in proc.get("groups", [])) + " "
        (folder / "status").write_text(
            f"Name:\t{proc['comm']}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{proc['pid']}\n"
            f"Ngid:\t0\nPid:\t{proc['pid']}\nPPid:\t{proc['ppid']}\nTracerPid:\t0\n"
            f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{gid}\t{gid}\t{gid}\t{gid}\n"
            f"FDSize:\t64\nGroups:\t{groups}\nVmRSS:\t{proc['rss']:>8} kB\nThreads:\t1\n"
        )
        (folder / "comm").write_text(proc["comm"] + "\n")
        (folder / "cmdline").write_text(proc["args"].replace(" ", "\0") + "\0")

    def _proc_file(self, path: str) -> str:
        target = Path(self.fs + path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path == "/proc/meminfo":
            m = memory(self.state)
            kb = 1024
            target.write_text(
                f"MemTotal:       {m.total // kb:>8} kB\nMemFree:        {m.free // kb:>8} kB\n"
                f"MemAvailable:   {m.available // kb:>8} kB\nBuffers:        {m.cache // 20 // kb:>8} kB\n"  # noqa: E501
                f"Cached:         {m.cache // kb:>8} kB\nSwapTotal:      {0:>8} kB\n"
                f"SwapFree:       {0:>8} kB\nShmem:          {m.shared // kb:>8} kB\n"
            )
        elif path == "/proc/loadavg":
            load = load1(self.state)
            target.write_text(
                f"{load:.2f} {load * 0.8:.2f} {load * 0.6:.2f} 1/187 {self.state['next_pid']}\n"
            )
        else:
            import time

            up = time.time() - self.state["boot_time"]
            target.write_text(f"{up:.2f} {up * 3.7:.2f}\n")
        return str(target)


def run_real(name: str, args: list[str], session: Session) -> int:
    """Run the real `name` on the host's files; redirect and un-redirect system paths."""
    state = session.host.read()
    paths = PathMap(session.host, state)
    mapped = [paths.arg(a) for a in args]
    program = real_program(name)
    if not paths.changed:
        os.execv(program, [name, *args])  # noqa: S606 -- the real tool, unchanged
    result = subprocess.run([program, *mapped], capture_output=True)
    sys.stdout.write(paths.back(result.stdout.decode(errors="replace")))
    sys.stderr.write(paths.back(result.stderr.decode(errors="replace")))
    return result.returncode


def _under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def cmd_ls(session: Session, args: list[str]) -> int:
    """Real ls; the runner folder shows as the runner account's, docker.sock as root:docker."""
    state = session.host.read()
    paths = PathMap(session.host, state)
    sockets = [a for a in args if a in ("/var/run/docker.sock", "/run/docker.sock")]
    rest = [a for a in args if a not in sockets]
    long = any(a.startswith("-") and not a.startswith("--") and "l" in a for a in args)
    code = 0
    for sock in sockets:
        if long:
            stamp = _ls_time(state["units"]["docker.service"].get("active_enter") or 0)
            print(f"srw-rw---- 1 root docker 0 {stamp} {sock}")
        else:
            print(sock)
    named = [a for a in rest if not a.startswith("-")]
    if sockets and not named:
        return code
    mapped = [paths.arg(a) for a in rest]
    result = subprocess.run([real_program("ls"), *mapped], capture_output=True)
    text = paths.back(result.stdout.decode(errors="replace"))
    root = session.host.runner_root
    targets = [Path(a) for a in named] or [Path.cwd()]
    if long and all(_under(t, root) for t in targets):
        text = _as_owner(text, state["runner_user"])
    sys.stdout.write(text)
    sys.stderr.write(paths.back(result.stderr.decode(errors="replace")))
    return max(code, result.returncode)


def _as_owner(text: str, owner: str) -> str:
    import grp

    me = real_user()
    try:
        my_group = grp.getgrgid(os.getgid()).gr_name
    except KeyError:
        my_group = str(os.getgid())
    lines = []
    for line in text.splitlines(keepends=True):
        m = _LONG.match(line)
        if m and m.group(2) == me:
            group = owner if m.group(4) == my_group else m.group(4)
            line = f"{m.group(1)}{owner}{m.group(3)}{group}{m.group(5)}{line[m.end() :]}"
        lines.append(line)
    return "".join(lines)


def _ls_time(ts: float) -> str:
    import time

    t = time.gmtime(ts or time.time())
    return time.strftime("%b ", t) + f"{t.tm_mday:2d} " + time.strftime("%H:%M", t)


def cmd_find(session: Session, args: list[str]) -> int:
    """Real find; -user/-group name the host's accounts (the runner account owns its folder)."""
    state = session.host.read()
    paths = PathMap(session.host, state)
    owner = state["runner_user"]
    mapped: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-user", "-group") and i + 1 < len(args):
            name = args[i + 1]
            table = state["accounts"] if a == "-user" else state["groups"]
            if name in table:
                # Every lab file really belongs to whoever runs the lab; on the host it is
                # the runner account's, and no other account owns anything there.
                number = os.getuid() if a == "-user" else os.getgid()
                if name != owner:
                    number = 2147483646
                mapped += ["-uid" if a == "-user" else "-gid", str(number)]
                i += 2
                continue
        mapped.append(paths.arg(a))
        i += 1
    result = subprocess.run([real_program("find"), *mapped], capture_output=True)
    sys.stdout.write(paths.back(result.stdout.decode(errors="replace")))
    sys.stderr.write(paths.back(result.stderr.decode(errors="replace")))
    return result.returncode


def cmd_chown(session: Session, args: list[str]) -> int:
    """chown: checks what the real one checks; the lab's files keep their real owner."""
    state = session.host.read()
    operands = [a for a in args if not a.startswith("-")]
    if len(operands) < 2:
        err("chown: missing operand\nTry 'chown --help' for more information.")
        return 1
    spec, files = operands[0], operands[1:]
    user, _, group = spec.partition(":")
    if user and user not in state["accounts"]:
        err(f"chown: invalid user: ‘{spec}’")
        return 1
    if group and group not in state["groups"]:
        err(f"chown: invalid group: ‘{spec}’")
        return 1
    paths = PathMap(session.host, state)
    code = 0
    for f in files:
        if not os.path.lexists(paths.real(f)):
            err(f"chown: cannot access '{f}': No such file or directory")
            code = 1
        elif not session.is_root(state):
            err(f"chown: changing ownership of '{f}': Operation not permitted")
            code = 1
    return code
