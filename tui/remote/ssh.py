"""Running a runbook step's command on a runner host over SSH (paramiko).

`RunnerHosts` keeps ONE connection per host (jump hosts included) and reconnects when it
dropped; `RunnerHost.run` streams a command's output and honours timeouts and cancel.
"""

from __future__ import annotations

import codecs
import logging
import re
import secrets
import shlex
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST

from tui.config import SSHSettings
from tui.remote.errors import (
    AuthFailed,
    CommandCancelled,
    CommandTimeout,
    ConnectFailed,
    ConnectionLost,
    RemoteError,
)
from tui.remote.known_hosts import KnownHosts, fingerprint, known_hosts_name
from tui.remote.target import Hop, SSHTarget, load_ssh_config, resolve
from tui.text import one_line

# Checked as well as [ssh] known_hosts, as OpenSSH checks the user's and the system file.
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")
# Keepalives let a connection that died silently (NAT timeout, host gone) be noticed.
KEEPALIVE_SECONDS = 30
# How often a running command checks its cancel event and time limit.
POLL_SECONDS = 0.1
# How long a stopped command gets to end on sshd's signal before it is killed by name.
STOP_GRACE_SECONDS = 1.0
# Every command carries RUNNERDOC_RUN=<token> in its environment, inherited by whatever it
# starts, so that it can be found and stopped when sshd will not signal it (see _stop).
RUN_TOKEN_VARIABLE = "RUNNERDOC_RUN"
# A runaway command (journalctl without a limit) must not eat the TUI's memory: only the
# last part of the output is kept; the live callback still sees all of it.
MAX_OUTPUT_CHARS = 1_000_000

# paramiko logs failures at ERROR; with no handler Python would print them on stderr, over
# the TUI's screen. Errors reach the on-call as RemoteError messages instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_SUDO_PASSWORD = re.compile(
    r"sudo: (?:a password is required|a terminal is required|no tty present)", re.IGNORECASE
)

OutputCallback = Callable[[str], None]


@dataclass(frozen=True)
class CommandResult:
    """What a command did: exit status, combined stdout+stderr, and how it ended.

    `exit_status` is None when the command did not finish (timed out, cancelled) or the
    host reported no status (killed by a signal). `output` is the host's raw text: pass it
    through tui.text.safe_text before it reaches the screen.
    """

    runner: str
    exit_status: int | None
    output: str
    duration: float
    timed_out: bool = False
    cancelled: bool = False
    sudo_wants_password: bool = False
    output_truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out and not self.cancelled

    @property
    def problem(self) -> str | None:
        """One line on why the command did not simply run to an exit status, else None."""
        if self.sudo_wants_password:
            return (
                f"sudo on {self.runner} wants a password: allow the runbook's commands with"
                " NOPASSWD for the on-call user, or run it by hand"
            )
        if self.timed_out:
            return f"the command on {self.runner} ran out of time after {self.duration:.0f}s"
        if self.cancelled:
            return f"the command on {self.runner} was cancelled"
        if self.exit_status is None:
            return f"the command on {self.runner} ended without an exit status (killed?)"
        return None

    def check_finished(self) -> CommandResult:
        """Raise CommandTimeout or CommandCancelled when the command did not finish."""
        if self.timed_out:
            raise CommandTimeout(self.problem or "timed out", host=self.runner)
        if self.cancelled:
            raise CommandCancelled(self.problem or "cancelled", host=self.runner)
        return self


class _Output:
    """Decodes streamed bytes as UTF-8 (split characters survive), keeps the tail."""

    def __init__(self, callback: OutputCallback | None, limit: int):
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.callback = callback
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False
        self.sudo_wants_password = False
        self._carry = ""  # the end of the previous chunk, so a message split in two is found

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self.decoder.decode(data, final)
        if not text:
            return
        window = self._carry + text
        if _SUDO_PASSWORD.search(window):
            self.sudo_wants_password = True
        self._carry = window[-64:]
        self.parts.append(text)
        self.size += len(text)
        if self.size > 2 * self.limit:
            self._trim()
        if self.callback is not None:
            self.callback(text)

    def _trim(self) -> None:
        joined = "".join(self.parts)
        if len(joined) > self.limit:
            joined = joined[-self.limit :]
            self.truncated = True
        self.parts, self.size = [joined], len(joined)

    def text(self) -> str:
        self._trim()
        return self.parts[0] if self.parts else ""


class _Link:
    """The one SSH connection to one server (reached through a chain of hops)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.transport: paramiko.Transport | None = None
        self.logins = 0  # how many times it was (re)connected, for the status line


class RunnerHosts:
    """The runner hosts, reached over SSH: one reused connection per host, thread-safe.

    `known_hosts_files` replaces DEFAULT_KNOWN_HOSTS (the [ssh] known_hosts file is always
    read). Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        ssh: SSHSettings,
        *,
        known_hosts_files: Sequence[str | Path] | None = None,
        max_output_chars: int = MAX_OUTPUT_CHARS,
    ):
        self.ssh = ssh
        extra = DEFAULT_KNOWN_HOSTS if known_hosts_files is None else known_hosts_files
        files = [Path(ssh.known_hosts).expanduser(), *(Path(f).expanduser() for f in extra)]
        self.known_hosts_files = list(dict.fromkeys(files))
        self.max_output_chars = max_output_chars
        self._lock = threading.Lock()
        self._links: dict[tuple[Hop, ...], _Link] = {}
        self._config: paramiko.SSHConfig | None = None
        self._config_loaded = False
        self._closed = False

    # -- where ---------------------------------------------------------------------------

    def target(self, runner: str) -> SSHTarget:
        """Where `runner` is reached (host, port, user, keys, jump hosts); no connection."""
        with self._lock:
            if not self._config_loaded:
                self._config = load_ssh_config(self.ssh.config_file)
                self._config_loaded = True
            config = self._config
        return resolve(runner, self.ssh, config)

    def host(self, runner: str) -> RunnerHost:
        return RunnerHost(self, self.target(runner))

    def run(
        self,
        runner: str,
        command: str,
        *,
        timeout: float | None,
        on_output: OutputCallback | None = None,
        cancel: threading.Event | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run `command` on `runner`'s host; see RunnerHost.run."""
        return self.host(runner).run(
            command, timeout=timeout, on_output=on_output, cancel=cancel, env=env
        )

    def close(self) -> None:
        """Close every connection, runner hosts before the jump hosts they go through."""
        with self._lock:
            self._closed = True
            links = sorted(self._links.items(), key=lambda item: -len(item[0]))
            self._links.clear()
        for _, link in links:
            with link.lock:
                if link.transport is not None:
                    link.transport.close()
                    link.transport = None

    def __enter__(self) -> RunnerHosts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections ---------------------------------------------------------------------

    def transport(self, chain: tuple[Hop, ...], role: str = "host") -> paramiko.Transport:
        """The live connection to `chain[-1]`, through `chain[:-1]`; made or remade if needed.

        `role` ("host" or "jump host") only words the error messages.
        """
        with self._lock:
            if self._closed:
                raise ConnectFailed("the SSH connections are closed", host=chain[-1].host)
            link = self._links.setdefault(chain, _Link())
        with link.lock:
            if link.transport is not None and link.transport.is_active():
                return link.transport
            if link.transport is not None:
                link.transport.close()
                link.transport = None
            link.transport = self._connect(chain, role)
            link.logins += 1
            return link.transport

    def discard(self, chain: tuple[Hop, ...], transport: paramiko.Transport) -> None:
        """Forget a connection that failed, so the next use connects again."""
        with self._lock:
            link = self._links.get(chain)
        if link is None:
            return
        with link.lock:
            if link.transport is transport:
                transport.close()
                link.transport = None

    def _connect(self, chain: tuple[Hop, ...], role: str) -> paramiko.Transport:
        hop, jumps = chain[-1], chain[:-1]
        timeout = self.ssh.connect_timeout
        sock: socket.socket | paramiko.Channel
        if not jumps:
            sock = self._open_socket(hop, role, timeout)
        else:
            sock = self._open_forward(chain, timeout)
        transport = paramiko.Transport(sock)
        try:
            transport.banner_timeout = timeout
            transport.handshake_timeout = timeout
            transport.auth_timeout = timeout
            self._handshake(transport, hop, role, via_jump=bool(jumps), timeout=timeout)
            _log_in(transport, hop, role)
            transport.set_keepalive(KEEPALIVE_SECONDS)
        except BaseException:
            transport.close()
            raise
        return transport

    @staticmethod
    def _open_socket(hop: Hop, role: str, timeout: float) -> socket.socket:
        where = f"{role} {hop.host} port {hop.port}"
        try:
            return socket.create_connection((hop.host, hop.port), timeout=timeout)
        except socket.gaierror:
            raise ConnectFailed(f"cannot resolve {role} {hop.host}", host=hop.host) from None
        except ConnectionRefusedError:
            raise ConnectFailed(
                f"{where} refused the connection (is sshd running?)", host=hop.host
            ) from None
        except TimeoutError:
            raise ConnectFailed(
                f"no answer from {where} within {timeout:g}s", host=hop.host
            ) from None
        except OSError as e:
            raise ConnectFailed(
                f"cannot reach {where}: {e.strerror or type(e).__name__}", host=hop.host
            ) from None

    def _open_forward(self, chain: tuple[Hop, ...], timeout: float) -> paramiko.Channel:
        hop, jump = chain[-1], chain[-2]
        jump_transport = self.transport(chain[:-1], "jump host")
        try:
            return jump_transport.open_channel(
                "direct-tcpip", (hop.host, hop.port), ("127.0.0.1", 0), timeout=timeout
            )
        except paramiko.ChannelException as e:
            # RFC 4254: 1 = administratively prohibited, 2 = connect failed
            if e.code == 1:
                reason = "refused to forward (AllowTcpForwarding is off there?)"
            else:
                reason = f"could not reach it: {one_line(str(e.text), limit=120)}"
            raise ConnectFailed(
                f"jump host {jump.host} port {jump.port} {reason} - for {hop.host} port {hop.port}",
                host=hop.host,
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as e:
            self.discard(chain[:-1], jump_transport)
            raise ConnectFailed(
                f"jump host {jump.host} port {jump.port} dropped the forward to {hop.host}"
                f" port {hop.port}: {type(e).__name__}",
                host=hop.host,
            ) from None

    def _handshake(
        self,
        transport: paramiko.Transport,
        hop: Hop,
        role: str,
        *,
        via_jump: bool,
        timeout: float,
    ) -> None:
        # Re-read known_hosts on every connect: the on-call may just have added a key.
        known = KnownHosts(self.known_hosts_files)
        options = transport.get_security_options()
        options.key_types = known.preferred_algorithms(
            known_hosts_name(hop.host, hop.port), options.key_types
        )
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as e:
            detail = one_line(str(e), limit=120) or type(e).__name__
            raise ConnectFailed(
                f"{role} {hop.host} port {hop.port} did not complete the SSH handshake: {detail}",
                host=hop.host,
            ) from None
        # start_client returns quietly when its time is up: check the handshake happened.
        if not (transport.is_active() and transport.initial_kex_done):
            raise ConnectFailed(
                f"{role} {hop.host} port {hop.port} did not complete the SSH handshake"
                f" within {timeout:g}s",
                host=hop.host,
            )
        known.check(
            transport.get_remote_server_key(),
            host=hop.host,
            port=hop.port,
            add_to=Path(self.ssh.known_hosts).expanduser(),
            role=role,
            via_jump=via_jump,
        )


def _log_in(transport: paramiko.Transport, hop: Hop, role: str) -> None:
    """Public-key login: the identity files first, then the SSH agent's keys.

    Key files are read here and never shown: messages name files and fingerprints only.
    """
    where = f"{hop.user}@{hop.host} port {hop.port}"
    tried: list[str] = []
    notes: list[str] = []

    def offer(key: paramiko.PKey, label: str) -> bool:
        tried.append(f"{label} ({key.get_name()} {fingerprint(key)})")
        try:
            further = transport.auth_publickey(hop.user, key)
        except paramiko.BadAuthenticationType as e:
            allowed = ", ".join(str(t) for t in e.allowed_types) or "nothing"
            raise AuthFailed(
                f"{role} {where} does not take keys (it allows: {allowed})", host=hop.host
            ) from None
        except paramiko.AuthenticationException:
            return False
        except (paramiko.SSHException, EOFError, OSError):
            raise AuthFailed(
                f"{role} {where} closed the connection during login (too many keys offered?"
                " set [ssh] identity_file)",
                host=hop.host,
            ) from None
        if further:
            raise AuthFailed(
                f"{role} {where} wants a second factor ({', '.join(further)}) after the key;"
                " runnerdoc logs in with keys only",
                host=hop.host,
            )
        return transport.is_authenticated()

    for path in hop.identity_files:
        try:
            key = paramiko.PKey.from_path(path)
        except FileNotFoundError:
            notes.append(f"{path} does not exist")
            continue
        except PermissionError:
            notes.append(f"{path} cannot be read")
            continue
        except (TypeError, paramiko.PasswordRequiredException):
            notes.append(f"{path} has a passphrase: load it into ssh-agent with ssh-add")
            continue
        except Exception as e:  # never show the parser's message: it may quote the file
            notes.append(f"{path} is not a private key runnerdoc can read ({type(e).__name__})")
            continue
        if offer(key, str(path)):
            return

    try:
        agent = paramiko.Agent()
    except (paramiko.SSHException, OSError):
        notes.append("the SSH agent ($SSH_AUTH_SOCK) did not answer")
    else:
        try:
            for agent_key in agent.get_keys():
                if offer(agent_key, "agent key"):
                    return
        finally:
            agent.close()

    if not tried and not notes:
        notes.append("no identity file and no SSH agent: set [ssh] identity_file")
    offered = "; ".join(tried) if tried else "no keys"
    extra = f" ({'; '.join(notes)})" if notes else ""
    raise AuthFailed(f"{role} {where} accepted none of the keys: {offered}{extra}", host=hop.host)


class RunnerHost:
    """One runner's host: run commands on it over the pool's shared connection."""

    def __init__(self, pool: RunnerHosts, target: SSHTarget):
        self.pool = pool
        self.target = target

    @property
    def runner(self) -> str:
        return self.target.runner

    def connect(self) -> None:
        """Make sure the connection is up (host key checked, logged in); raise if not."""
        self.pool.transport(self.target.chain)

    def _open_session(self) -> paramiko.Channel:
        chain = self.target.chain
        # A pooled connection may have died since its last use without paramiko noticing;
        # opening a session then fails, and one fresh connection is worth a second try.
        for attempt in (1, 2):
            transport = self.pool.transport(chain)
            try:
                return transport.open_session(timeout=self.pool.ssh.connect_timeout)
            except paramiko.ChannelException as e:
                raise RemoteError(
                    f"{self.runner} refused a new session ({one_line(str(e.text), limit=80)};"
                    " its sshd MaxSessions may be reached)",
                    host=self.target.host.host,
                ) from None
            except (paramiko.SSHException, EOFError, OSError) as e:
                self.pool.discard(chain, transport)
                if attempt == 2:
                    raise ConnectFailed(
                        f"the connection to {self.runner} keeps failing: {type(e).__name__}",
                        host=self.target.host.host,
                    ) from None
        raise AssertionError("unreachable")

    def _kill_run(self, token: str) -> None:
        """Signal the processes of a run that sshd did not stop, over a fresh session."""
        try:
            channel = self._open_session()
        except RemoteError:
            return  # the host is gone; nothing more can be done from here
        try:
            channel.exec_command(_kill_script(token))
            channel.status_event.wait(self.pool.ssh.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError):
            pass
        finally:
            channel.close()

    def run(
        self,
        command: str,
        *,
        timeout: float | None,
        on_output: OutputCallback | None = None,
        cancel: threading.Event | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run `command` through the login shell, as `ssh host COMMAND` does.

        `command` is run as given by the login shell, started with RUNNERDOC_RUN=<token> in
        its environment: the caller renders and quotes it. `on_output` gets decoded chunks
        of stdout+stderr as they arrive. When `cancel` is set or `timeout` seconds pass, the
        command is sent SIGTERM and its channel closed. sshd delivers that signal for
        non-root logins only (OpenSSH 7.9+; a root session has no privilege separation,
        which signalling needs), so a command still running a moment later is killed by
        its token over a second session. `env` is sent as SSH environment requests, which
        sshd applies only to names in AcceptEnv.
        """
        if not isinstance(command, str) or not command.strip():
            raise ValueError("command must be a non-empty string")
        if cancel is not None and cancel.is_set():
            # stopped before it began: nothing was sent to the host
            return CommandResult(self.runner, None, "", 0.0, cancelled=True)
        channel = self._open_session()
        # The time limit is the command's own: connecting has connect_timeout.
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        output = _Output(on_output, self.pool.max_output_chars)
        timed_out = cancelled = finished = started_remotely = False
        token = secrets.token_hex(12)
        try:
            channel.set_combine_stderr(True)
            if env:
                channel.update_environment(dict(env))
            try:
                channel.exec_command(_tagged(command, token))
                started_remotely = True
            except paramiko.SSHException as e:
                raise RemoteError(
                    f"{self.runner} refused to run the command: {type(e).__name__}",
                    host=self.target.host.host,
                ) from None

            def stopped() -> bool:
                nonlocal timed_out, cancelled
                if cancel is not None and cancel.is_set():
                    cancelled = True
                elif deadline is not None and time.monotonic() >= deadline:
                    timed_out = True
                return timed_out or cancelled

            while not stopped():
                wait = POLL_SECONDS
                if deadline is not None:
                    wait = max(0.001, min(wait, deadline - time.monotonic()))
                channel.settimeout(wait)
                try:
                    data = channel.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                output.feed(data)
            # stdout closed; the command may still run (it closed its output) until it exits
            while not timed_out and not cancelled and not channel.status_event.wait(POLL_SECONDS):
                stopped()
            output.feed(b"", final=True)
            finished = not (timed_out or cancelled)
        finally:
            # Stopped, or the caller's callback raised: the command must not run on alone.
            if not finished and started_remotely:
                _stop(channel)
                if not channel.status_event.wait(STOP_GRACE_SECONDS):
                    self._kill_run(token)
            channel.close()
        duration = time.monotonic() - started
        exit_status: int | None = None
        if not (timed_out or cancelled):
            status = channel.recv_exit_status()
            if status == -1:
                if not channel.get_transport().is_active():
                    raise ConnectionLost(
                        f"the connection to {self.runner} dropped while the command ran;"
                        " whether it finished is unknown",
                        host=self.target.host.host,
                        output=output.text(),
                    )
            else:
                exit_status = status
        return CommandResult(
            runner=self.runner,
            exit_status=exit_status,
            output=output.text(),
            duration=duration,
            timed_out=timed_out,
            cancelled=cancelled,
            sudo_wants_password=output.sudo_wants_password,
            output_truncated=output.truncated,
        )


def _tagged(command: str, token: str) -> str:
    """`command` run by the login shell with the run's token in its environment from the
    start: /proc/PID/environ shows what a process was started with, not a later export."""
    return f'exec env {RUN_TOKEN_VARIABLE}={token} "${{SHELL:-/bin/sh}}" -c {shlex.quote(command)}'


def _kill_script(token: str, signal_name: str = "TERM") -> str:
    """A shell line that signals every process whose environment holds the run's token."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", token) or not re.fullmatch(r"[A-Z]+", signal_name):
        raise ValueError("a run token is hex and a signal name is upper case")
    # /proc/PID/environ is NUL-separated; tr reads it by redirection, so no program is
    # handed a /proc path (the lab's hosts redirect those). The name and the token are
    # joined at run time: under a ForceCommand every process of this session carries its
    # command line in SSH_ORIGINAL_COMMAND, which must not match, or it stops itself.
    return (
        f'v={RUN_TOKEN_VARIABLE}; t="$v={token}"; '
        "for p in /proc/[0-9]*; do "
        """case "$(tr '\\000' '\\n' 2>/dev/null < "$p/environ")" in """
        f'*"$t"*) kill -{signal_name} "${{p#/proc/}}" 2>/dev/null;; '
        "esac; done; true"
    )


def _stop(channel: paramiko.Channel, signal_name: str = "TERM") -> None:
    """Ask sshd to signal the command's process group (RFC 4254 6.9), then stop listening.

    paramiko has no call for the "signal" channel request, so the message is built here.
    A request for a channel the server already closed would be a protocol error that ends
    the whole connection, so a closed channel gets none.
    """
    if channel.closed:
        return
    try:
        message = paramiko.Message()
        message.add_byte(cMSG_CHANNEL_REQUEST)
        message.add_int(channel.remote_chanid)
        message.add_string("signal")
        message.add_boolean(False)
        message.add_string(signal_name)
        channel.get_transport()._send_user_message(message)
    except (paramiko.SSHException, EOFError, OSError, AttributeError):
        pass  # the connection is gone; closing below is all that is left
