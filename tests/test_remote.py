"""The SSH layer against real OpenSSH sshd servers: one runner host and one jump host.

Both run as the current user on 127.0.0.1. Commands that must outlive a cancel or a
timeout wait for a flag file (the servers share this machine's disk), so no test depends
on how fast anything runs.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sshd_fixture import Sshd, keygen, start_sshd

from tui.config import SSHSettings
from tui.remote import (
    AuthFailed,
    CommandCancelled,
    CommandTimeout,
    ConnectFailed,
    ConnectionLost,
    HostKeyChanged,
    HostKeyUnknown,
    RemoteError,
    RunnerHosts,
    SSHConfigError,
)
from tui.remote.ssh import _kill_script

USER = getpass.getuser()


@dataclasses.dataclass
class Keys:
    client: Path  # authorized on both servers
    stranger: Path  # a valid key that no server accepts
    client_public: str


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("client")
    public = keygen(folder / "id_ed25519")
    keygen(folder / "stranger")
    return Keys(folder / "id_ed25519", folder / "stranger", public)


@pytest.fixture(scope="module")
def runner_sshd(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Sshd]:
    server = start_sshd(
        tmp_path_factory.mktemp("runner-sshd"),
        [keys.client_public],
        extra_config="AcceptEnv RUNNERDOC_*\nAllowTcpForwarding no\n",
        host_key_types=("ed25519", "rsa"),
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def jump_sshd(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Sshd]:
    # DEBUG1 makes sshd log each direct-tcpip forward, the proof that a hop was used.
    server = start_sshd(
        tmp_path_factory.mktemp("jump-sshd"),
        [keys.client_public],
        extra_config="AllowTcpForwarding yes\n",
        log_level="DEBUG1",
    )
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_personal_ssh_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tester's own ~/.ssh and agent must not make a test pass."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture
def known_hosts(tmp_path: Path, runner_sshd: Sshd, jump_sshd: Sshd) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(runner_sshd.known_hosts_line + jump_sshd.known_hosts_line)
    return path


@pytest.fixture
def ssh(keys: Keys, known_hosts: Path, runner_sshd: Sshd) -> SSHSettings:
    return SSHSettings(
        user=USER,
        identity_file=keys.client,
        known_hosts=known_hosts,
        config_file=None,
        connect_timeout=10,
        hosts={"runner-1": f"127.0.0.1:{runner_sshd.port}"},
    )


@pytest.fixture
def pool(ssh: SSHSettings) -> Iterator[RunnerHosts]:
    with RunnerHosts(ssh, known_hosts_files=()) as hosts:
        yield hosts


@pytest.fixture
def flag(tmp_path: Path) -> Iterator[Path]:
    """A file a remote command waits for; created at the end so no command lingers."""
    path = tmp_path / "go"
    yield path
    path.touch()


def eventually(check: Callable[[], bool], seconds: float = 15) -> bool:
    """Whether `check` comes true within `seconds` (for things sshd logs a moment later)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_for(path: Path) -> str:
    return f"while [ ! -e {shlex.quote(str(path))} ]; do sleep 0.05; done"


# -- running commands ------------------------------------------------------------------------


def test_exit_status_and_combined_output(pool: RunnerHosts) -> None:
    result = pool.run("runner-1", "echo out; echo err >&2; exit 3", timeout=30)
    assert result.exit_status == 3
    assert result.output == "out\nerr\n"
    assert not result.ok and not result.timed_out and not result.cancelled
    assert result.problem is None
    ok = pool.run("runner-1", "true", timeout=30)
    assert ok.exit_status == 0 and ok.ok and ok.output == ""


def test_output_streams_while_the_command_runs(pool: RunnerHosts, flag: Path) -> None:
    # The command only ends after the callback saw its first line: without streaming it
    # would wait for the flag until the time limit.
    seen: list[str] = []

    def on_output(chunk: str) -> None:
        seen.append(chunk)
        if "first" in "".join(seen):
            flag.touch()

    result = pool.run(
        "runner-1", f"echo first; {wait_for(flag)}; echo second", timeout=30, on_output=on_output
    )
    assert result.exit_status == 0 and not result.timed_out
    assert "".join(seen) == result.output == "first\nsecond\n"
    assert len(seen) >= 2


def test_timeout_stops_waiting_and_signals_the_command(
    pool: RunnerHosts, flag: Path, runner_sshd: Sshd
) -> None:
    result = pool.run("runner-1", f"echo started; {wait_for(flag)}", timeout=2)
    assert result.timed_out and not result.cancelled
    assert result.exit_status is None
    assert result.output == "started\n"
    assert result.problem is not None and "ran out of time" in result.problem
    with pytest.raises(CommandTimeout, match="runner-1"):
        result.check_finished()
    # the "signal" channel request reached sshd (which honours it for non-root logins)
    assert eventually(lambda: "session_signal_req" in runner_sshd.log_text())
    # the connection is still good for the next command
    assert pool.run("runner-1", "echo next", timeout=30).output == "next\n"


def test_cancel_from_another_thread(pool: RunnerHosts, flag: Path) -> None:
    cancel = threading.Event()

    def on_output(chunk: str) -> None:
        if "started" in chunk:
            threading.Timer(0.2, cancel.set).start()

    result = pool.run(
        "runner-1",
        f"echo started; {wait_for(flag)}",
        timeout=60,
        cancel=cancel,
        on_output=on_output,
    )
    assert result.cancelled and not result.timed_out
    assert result.exit_status is None
    assert result.output == "started\n"
    with pytest.raises(CommandCancelled):
        result.check_finished()


def test_a_cancelled_command_stops_on_the_host_even_for_a_root_login(
    pool: RunnerHosts, flag: Path, tmp_path: Path, runner_sshd: Sshd
) -> None:
    # sshd refuses the "signal" request for root logins (no privilege separation after
    # a root login), so the run's processes are found by their token and killed instead.
    pids = tmp_path / "pids"
    cancel = threading.Event()

    def on_output(chunk: str) -> None:
        if "started" in chunk:
            cancel.set()

    command = (
        f"sleep 300 & echo $! > {shlex.quote(str(pids))}; echo $$ >> {shlex.quote(str(pids))};"
        f" echo started; {wait_for(flag)}"
    )
    result = pool.run("runner-1", command, timeout=60, cancel=cancel, on_output=on_output)
    assert result.cancelled
    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) == 2

    def gone(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        return state == "Z"  # dead, waiting for its parent to collect it

    assert eventually(lambda: all(gone(pid) for pid in started)), started
    if os.geteuid() == 0:
        assert "session signalling requires privilege separation" in runner_sshd.log_text()


def test_the_kill_line_spares_itself_under_a_force_command() -> None:
    # Under sshd's ForceCommand (the lab; audit wrappers) every process of the killing
    # session holds its own command line in SSH_ORIGINAL_COMMAND.
    token = "0123456789abcdef01234567"
    target = subprocess.Popen(
        ["sleep", "300"], env={**os.environ, "RUNNERDOC_RUN": token}, start_new_session=True
    )
    script = _kill_script(token) + "; echo finished"
    try:
        killer = subprocess.run(
            ["bash", "-c", script], env={**os.environ, "SSH_ORIGINAL_COMMAND": script},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert (killer.returncode, killer.stdout) == (0, "finished\n"), killer.stderr
        assert target.wait(timeout=15) == -signal.SIGTERM
    finally:
        target.kill()
        target.wait()


def test_cancel_set_before_the_start_runs_nothing(pool: RunnerHosts, tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    marker = tmp_path / "ran"
    result = pool.run("runner-1", f"touch {shlex.quote(str(marker))}", timeout=30, cancel=cancel)
    assert result.cancelled and result.exit_status is None
    assert pool.run("runner-1", "echo after", timeout=30).output == "after\n"
    assert not marker.exists()


def test_a_failing_output_callback_stops_the_command(pool: RunnerHosts, flag: Path) -> None:
    def on_output(chunk: str) -> None:
        raise RuntimeError("the screen went away")

    with pytest.raises(RuntimeError, match="screen went away"):
        pool.run("runner-1", f"echo hi; {wait_for(flag)}", timeout=60, on_output=on_output)
    assert pool.run("runner-1", "echo still fine", timeout=30).output == "still fine\n"


def test_hostile_command_text_is_passed_verbatim(pool: RunnerHosts, tmp_path: Path) -> None:
    result = pool.run("runner-1", "printf %s 'a;b$(x)'", timeout=30)
    assert result.output == "a;b$(x)"
    tricky = "printf '%s|' \"it's\" 'two\nlines' '{runner}' '%d'"
    assert pool.run("runner-1", tricky, timeout=30).output == "it's|two\nlines|{runner}|%d|"


def test_environment_is_sent_for_names_sshd_accepts(pool: RunnerHosts) -> None:
    result = pool.run(
        "runner-1",
        'printf %s "$RUNNERDOC_STEP"',
        timeout=30,
        env={"RUNNERDOC_STEP": "check-service; $(id)"},
    )
    assert result.output == "check-service; $(id)"


@pytest.mark.parametrize(
    "message",
    [
        "sudo: a password is required",
        "sudo: a terminal is required to read the password; either use the -S option to read"
        " from standard input or configure an askpass helper",
    ],
)
def test_sudo_wanting_a_password_is_flagged(
    pool: RunnerHosts, tmp_path: Path, message: str
) -> None:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    sudo = fake / "sudo"
    sudo.write_text(f"#!/bin/sh\necho {shlex.quote(message)} >&2\nexit 1\n")
    sudo.chmod(0o755)
    command = (
        f"PATH={shlex.quote(str(fake))}:$PATH; export PATH;"
        " sudo -n systemctl restart actions.runner.acme.runner-1.service"
    )
    result = pool.run("runner-1", command, timeout=30)
    assert result.exit_status == 1
    assert result.sudo_wants_password
    assert result.problem == (
        "sudo on runner-1 wants a password: allow the runbook's commands with NOPASSWD for the"
        " on-call user, or run it by hand"
    )
    assert not pool.run("runner-1", "echo sudo is fine", timeout=30).sudo_wants_password


def test_output_is_utf8_with_replacement_even_when_split(pool: RunnerHosts) -> None:
    # é is \303\251: sent in two writes it can arrive in two chunks
    result = pool.run("runner-1", r"printf '\303'; sleep 0.3; printf '\251 \377\n'", timeout=30)
    assert result.output == "é \ufffd\n"


def test_huge_output_keeps_the_end(ssh: SSHSettings) -> None:
    seen: list[str] = []
    with RunnerHosts(ssh, known_hosts_files=(), max_output_chars=1000) as hosts:
        result = hosts.run("runner-1", "seq 1 20000", timeout=60, on_output=seen.append)
    assert result.exit_status == 0 and result.output_truncated
    assert len(result.output) <= 1000 and result.output.endswith("19999\n20000\n")
    assert "".join(seen).startswith("1\n2\n3\n")  # the live view saw all of it


def test_command_killed_by_a_signal_has_no_exit_status(pool: RunnerHosts) -> None:
    result = pool.run("runner-1", "echo bye; kill -9 $$", timeout=30)
    assert result.exit_status is None and not result.timed_out
    assert result.output == "bye\n"
    assert result.problem is not None and "without an exit status" in result.problem


# -- one connection per host -----------------------------------------------------------------


def test_one_connection_is_reused_for_many_commands(pool: RunnerHosts, runner_sshd: Sshd) -> None:
    before = runner_sshd.logins()
    for _ in range(3):
        assert pool.run("runner-1", "echo hi", timeout=30).output == "hi\n"
    chain = pool.target("runner-1").chain
    transport = pool.transport(chain)

    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.append(pool.run("runner-1", f"echo {i}", timeout=30).output)
        )
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["0\n", "1\n", "2\n", "3\n"]
    assert pool.transport(chain) is transport
    assert runner_sshd.logins() - before == 1


def test_reconnects_after_the_server_dropped_the_connection(
    pool: RunnerHosts, runner_sshd: Sshd
) -> None:
    before = runner_sshd.logins()
    assert pool.run("runner-1", "echo one", timeout=30).output == "one\n"
    runner_sshd.drop_connections()
    # no pause: the pool may not have noticed the drop yet and must retry on its own
    assert pool.run("runner-1", "echo two", timeout=30).output == "two\n"
    assert runner_sshd.logins() - before == 2


def test_connection_lost_mid_command_is_an_error_with_the_output_so_far(
    pool: RunnerHosts, runner_sshd: Sshd, flag: Path
) -> None:
    def on_output(chunk: str) -> None:
        if "working" in chunk:
            runner_sshd.drop_connections()

    with pytest.raises(ConnectionLost, match="whether it finished is unknown") as caught:
        pool.run("runner-1", f"echo working; {wait_for(flag)}", timeout=60, on_output=on_output)
    assert caught.value.output == "working\n"
    assert pool.run("runner-1", "echo back", timeout=30).output == "back\n"


# -- host keys -------------------------------------------------------------------------------


def ssh_keygen_fingerprint(server: Sshd, key_type: str = "ed25519") -> str:
    listed = subprocess.run(
        ["ssh-keygen", "-lf", str(server.folder / f"host_{key_type}.pub")],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()[1]


def test_unknown_host_key_is_refused_with_fingerprint_and_how_to_add_it(
    ssh: SSHSettings, known_hosts: Path, runner_sshd: Sshd, jump_sshd: Sshd
) -> None:
    known_hosts.write_text(jump_sshd.known_hosts_line)
    before = known_hosts.read_text()
    with RunnerHosts(ssh, known_hosts_files=()) as hosts:
        with pytest.raises(HostKeyUnknown) as caught:
            hosts.run("runner-1", "echo hi", timeout=30)
        message = str(caught.value)
        port = runner_sshd.port
        assert f"127.0.0.1 port {port}" in message
        assert "ssh-ed25519" in message
        assert ssh_keygen_fingerprint(runner_sshd) in message
        assert caught.value.fingerprint == ssh_keygen_fingerprint(runner_sshd)
        assert f"ssh-keyscan -p {port} 127.0.0.1 >> {known_hosts}" in message
        assert "\n" not in message
        assert known_hosts.read_text() == before  # never added automatically

        # doing what the message says makes it work, without restarting anything
        scan = subprocess.run(
            ["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, text=True
        )
        with known_hosts.open("a") as out:
            out.write(scan.stdout)
        assert hosts.run("runner-1", "echo hi", timeout=30).output == "hi\n"


def test_refused_host_key_means_no_login(
    ssh: SSHSettings, known_hosts: Path, runner_sshd: Sshd
) -> None:
    known_hosts.write_text("")
    before = runner_sshd.logins()
    with RunnerHosts(ssh, known_hosts_files=()) as hosts, pytest.raises(HostKeyUnknown):
        hosts.run("runner-1", "echo hi", timeout=30)
    assert runner_sshd.logins() == before


def test_hashed_known_hosts_entries_work(pool: RunnerHosts, known_hosts: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known_hosts)], check=True)
    assert "127.0.0.1" not in known_hosts.read_text()
    assert pool.run("runner-1", "echo hashed", timeout=30).output == "hashed\n"


def test_changed_host_key_is_refused_loudly(
    ssh: SSHSettings, known_hosts: Path, runner_sshd: Sshd, tmp_path: Path
) -> None:
    impostor = keygen(tmp_path / "old_host_key")
    known_hosts.write_text(runner_sshd.known_hosts_line_for(impostor))
    old = subprocess.run(
        ["ssh-keygen", "-lf", str(tmp_path / "old_host_key.pub")], capture_output=True, text=True
    ).stdout.split()[1]
    with RunnerHosts(ssh, known_hosts_files=()) as hosts, pytest.raises(HostKeyChanged) as caught:
        hosts.run("runner-1", "echo hi", timeout=30)
    message = str(caught.value)
    assert message.startswith("WARNING: HOST KEY CHANGED")
    assert "man-in-the-middle" in message
    assert old in message and ssh_keygen_fingerprint(runner_sshd) in message
    assert f"{known_hosts}:1" in message
    assert (caught.value.known_fingerprint, caught.value.fingerprint) == (
        old,
        ssh_keygen_fingerprint(runner_sshd),
    )


def test_host_known_only_by_its_rsa_key_is_asked_for_that_key(
    ssh: SSHSettings, known_hosts: Path, runner_sshd: Sshd
) -> None:
    # The server has an Ed25519 and an RSA key; only the RSA one is known.
    known_hosts.write_text(runner_sshd.known_hosts_line_for(runner_sshd.host_public_keys[1]))
    with RunnerHosts(ssh, known_hosts_files=()) as hosts:
        assert hosts.run("runner-1", "echo rsa", timeout=30).output == "rsa\n"


def test_user_known_hosts_file_is_read_too(
    ssh: SSHSettings, known_hosts: Path, runner_sshd: Sshd, tmp_path: Path
) -> None:
    known_hosts.write_text("")
    personal = tmp_path / "home" / ".ssh" / "known_hosts"
    personal.parent.mkdir()
    personal.write_text(runner_sshd.known_hosts_line)
    with RunnerHosts(ssh) as hosts:  # default extra files: ~/.ssh/known_hosts and /etc/ssh
        assert hosts.run("runner-1", "echo mine", timeout=30).output == "mine\n"


# -- jump hosts ------------------------------------------------------------------------------


def forwards_to(jump: Sshd, port: int) -> int:
    return jump.log_text().count(f"target 127.0.0.1 port {port}\n")


def test_jump_host_forwards_to_the_runner(
    ssh: SSHSettings, runner_sshd: Sshd, jump_sshd: Sshd
) -> None:
    via = dataclasses.replace(ssh, proxy_jump=f"{USER}@127.0.0.1:{jump_sshd.port}")
    before = forwards_to(jump_sshd, runner_sshd.port)
    with RunnerHosts(via, known_hosts_files=()) as hosts:
        assert hosts.target("runner-1").describe() == (
            f"{USER}@127.0.0.1:{runner_sshd.port} via {USER}@127.0.0.1:{jump_sshd.port}"
        )
        assert hosts.run("runner-1", "echo through", timeout=30).output == "through\n"
        assert hosts.run("runner-1", "echo again", timeout=30).output == "again\n"
    assert forwards_to(jump_sshd, runner_sshd.port) - before == 1  # one forward, reused


def test_two_hops(ssh: SSHSettings, runner_sshd: Sshd, jump_sshd: Sshd) -> None:
    hop = f"{USER}@127.0.0.1:{jump_sshd.port}"
    via = dataclasses.replace(ssh, proxy_jump=f"{hop},{hop}")
    logins, forwards = jump_sshd.logins(), forwards_to(jump_sshd, jump_sshd.port)
    with RunnerHosts(via, known_hosts_files=()) as hosts:
        assert hosts.run("runner-1", "echo far", timeout=30).output == "far\n"
    assert jump_sshd.logins() - logins == 2
    assert forwards_to(jump_sshd, jump_sshd.port) - forwards == 1  # hop 1 -> hop 2


def test_jump_connection_is_shared_by_runners_behind_it(
    ssh: SSHSettings, runner_sshd: Sshd, jump_sshd: Sshd
) -> None:
    via = dataclasses.replace(
        ssh,
        proxy_jump=f"{USER}@127.0.0.1:{jump_sshd.port}",
        hosts={
            "runner-1": f"127.0.0.1:{runner_sshd.port}",
            "runner-2": f"127.0.0.1:{runner_sshd.port}",
            "runner-3": f"localhost:{runner_sshd.port}",
        },
    )
    logins = jump_sshd.logins()
    with RunnerHosts(via, known_hosts_files=()) as hosts:
        assert hosts.run("runner-1", "echo 1", timeout=30).output == "1\n"
        assert hosts.run("runner-2", "echo 2", timeout=30).output == "2\n"
        with pytest.raises(HostKeyUnknown, match="localhost"):
            hosts.run("runner-3", "echo 3", timeout=30)  # another name, another entry
    assert jump_sshd.logins() - logins == 1


def test_reconnects_through_the_jump_host_after_it_dropped(
    ssh: SSHSettings, runner_sshd: Sshd, jump_sshd: Sshd
) -> None:
    via = dataclasses.replace(ssh, proxy_jump=f"{USER}@127.0.0.1:{jump_sshd.port}")
    logins = jump_sshd.logins()
    with RunnerHosts(via, known_hosts_files=()) as hosts:
        assert hosts.run("runner-1", "echo one", timeout=30).output == "one\n"
        jump_sshd.drop_connections()  # the bastion rebooted: the forward died with it
        assert hosts.run("runner-1", "echo two", timeout=30).output == "two\n"
    assert jump_sshd.logins() - logins == 2


def test_jump_host_key_is_checked_too(
    ssh: SSHSettings, known_hosts: Path, runner_sshd: Sshd, jump_sshd: Sshd
) -> None:
    known_hosts.write_text(runner_sshd.known_hosts_line)
    via = dataclasses.replace(ssh, proxy_jump=f"{USER}@127.0.0.1:{jump_sshd.port}")
    with RunnerHosts(via, known_hosts_files=()) as hosts, pytest.raises(HostKeyUnknown) as caught:
        hosts.run("runner-1", "echo hi", timeout=30)
    assert f"jump host 127.0.0.1 port {jump_sshd.port}" in str(caught.value)
    assert caught.value.fingerprint == ssh_keygen_fingerprint(jump_sshd)


def test_runner_behind_a_jump_gets_the_keyscan_hint_for_the_jump_host(
    ssh: SSHSettings, known_hosts: Path, runner_sshd: Sshd, jump_sshd: Sshd
) -> None:
    known_hosts.write_text(jump_sshd.known_hosts_line)
    via = dataclasses.replace(ssh, proxy_jump=f"{USER}@127.0.0.1:{jump_sshd.port}")
    with RunnerHosts(via, known_hosts_files=()) as hosts, pytest.raises(HostKeyUnknown) as caught:
        hosts.run("runner-1", "echo hi", timeout=30)
    assert f"host 127.0.0.1 port {runner_sshd.port}" in str(caught.value)
    assert "on the jump host" in str(caught.value)


def test_jump_host_that_refuses_to_forward(
    ssh: SSHSettings, runner_sshd: Sshd, jump_sshd: Sshd
) -> None:
    # the runner's sshd has AllowTcpForwarding no: use it as the jump to the jump host
    via = dataclasses.replace(
        ssh,
        proxy_jump=f"{USER}@127.0.0.1:{runner_sshd.port}",
        hosts={"runner-1": f"127.0.0.1:{jump_sshd.port}"},
    )
    with RunnerHosts(via, known_hosts_files=()) as hosts, pytest.raises(ConnectFailed) as caught:
        hosts.run("runner-1", "echo hi", timeout=30)
    assert "refused to forward" in str(caught.value)
    assert f"port {runner_sshd.port}" in str(caught.value)


# -- ~/.ssh/config ---------------------------------------------------------------------------


def test_ssh_config_gives_hostname_user_port_identity_and_jump(
    keys: Keys, known_hosts: Path, runner_sshd: Sshd, jump_sshd: Sshd, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host runner-*\n"
        "    HostName 127.0.0.1\n"
        f"    Port {runner_sshd.port}\n"
        f"    User {USER}\n"
        f"    IdentityFile {keys.client}\n"
        "    ProxyJump bastion\n"
        "Host bastion\n"
        "    HostName 127.0.0.1\n"
        f"    Port {jump_sshd.port}\n"
        f"    User {USER}\n"
        f"    IdentityFile {keys.client}\n"
    )
    # nothing in runnerdoc's own settings but the files
    ssh = SSHSettings(known_hosts=known_hosts, config_file=config)
    before = forwards_to(jump_sshd, runner_sshd.port)
    with RunnerHosts(ssh, known_hosts_files=()) as hosts:
        target = hosts.target("runner-9")
        assert target.describe() == (
            f"{USER}@127.0.0.1:{runner_sshd.port} via {USER}@127.0.0.1:{jump_sshd.port}"
        )
        assert hosts.run("runner-9", "echo configured", timeout=30).output == "configured\n"
    assert forwards_to(jump_sshd, runner_sshd.port) - before == 1


def test_explicit_port_wins_over_ssh_config(
    ssh: SSHSettings, runner_sshd: Sshd, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host runner-1 127.0.0.1\n    Port 1\n    User nobody-here\n")
    explicit = dataclasses.replace(ssh, config_file=config)
    with RunnerHosts(explicit, known_hosts_files=()) as hosts:
        assert hosts.run("runner-1", "echo mine", timeout=30).output == "mine\n"


# -- failures and secrets --------------------------------------------------------------------


def key_body_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and "-----" not in line]


def assert_no_secret(error: RemoteError, *secret_lines: str) -> None:
    shown = " ".join([str(error), repr(error), *map(str, error.args)])
    assert "PRIVATE KEY" not in shown
    for line in secret_lines:
        assert line not in shown
        assert line[:24] not in shown


def test_key_the_host_does_not_accept(ssh: SSHSettings, keys: Keys) -> None:
    wrong = dataclasses.replace(ssh, identity_file=keys.stranger)
    with RunnerHosts(wrong, known_hosts_files=()) as hosts, pytest.raises(AuthFailed) as caught:
        hosts.run("runner-1", "echo hi", timeout=30)
    message = str(caught.value)
    assert f"{USER}@127.0.0.1 port" in message and str(keys.stranger) in message
    listed = subprocess.run(
        ["ssh-keygen", "-lf", str(keys.stranger)], capture_output=True, text=True
    ).stdout.split()[1]
    assert listed in message  # the public fingerprint says which key was tried
    assert_no_secret(caught.value, *key_body_lines(keys.stranger))


def test_unreadable_key_file_is_not_quoted(ssh: SSHSettings, keys: Keys, tmp_path: Path) -> None:
    body = key_body_lines(keys.client)
    broken = tmp_path / "broken_key"
    broken.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + "\n".join(body[: len(body) // 2])
        + "\nnot base64 at all: hunter2\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    with (
        RunnerHosts(dataclasses.replace(ssh, identity_file=broken), known_hosts_files=()) as hosts,
        pytest.raises(AuthFailed) as caught,
    ):
        hosts.run("runner-1", "echo hi", timeout=30)
    assert "is not a private key runnerdoc can read" in str(caught.value)
    assert_no_secret(caught.value, *body, "hunter2")


def test_key_with_a_passphrase_points_at_the_agent(ssh: SSHSettings, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    keygen(locked, passphrase="correct horse battery")
    with (
        RunnerHosts(dataclasses.replace(ssh, identity_file=locked), known_hosts_files=()) as hosts,
        pytest.raises(AuthFailed) as caught,
    ):
        hosts.run("runner-1", "echo hi", timeout=30)
    assert "passphrase" in str(caught.value) and "ssh-add" in str(caught.value)
    assert_no_secret(caught.value, *key_body_lines(locked), "correct horse")


def test_missing_identity_file(ssh: SSHSettings, tmp_path: Path) -> None:
    missing = dataclasses.replace(ssh, identity_file=tmp_path / "nope")
    with RunnerHosts(missing, known_hosts_files=()) as hosts, pytest.raises(AuthFailed) as caught:
        hosts.run("runner-1", "echo hi", timeout=30)
    assert f"{tmp_path / 'nope'} does not exist" in str(caught.value)


def test_ssh_agent_keys_are_used(
    ssh: SSHSettings, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            if sock.exists():
                break
            threading.Event().wait(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(keys.client)], env=env, check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        agent_only = dataclasses.replace(ssh, identity_file=None)
        with RunnerHosts(agent_only, known_hosts_files=()) as hosts:
            assert hosts.run("runner-1", "echo agent", timeout=30).output == "agent\n"
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=10)


def test_no_key_at_all(ssh: SSHSettings) -> None:
    keyless = dataclasses.replace(ssh, identity_file=None)
    with RunnerHosts(keyless, known_hosts_files=()) as hosts, pytest.raises(AuthFailed) as caught:
        hosts.run("runner-1", "echo hi", timeout=30)
    assert "set [ssh] identity_file" in str(caught.value)


def test_nothing_listening(ssh: SSHSettings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = dataclasses.replace(ssh, hosts={"runner-1": f"127.0.0.1:{port}"})
    with RunnerHosts(closed, known_hosts_files=()) as hosts, pytest.raises(ConnectFailed) as caught:
        hosts.run("runner-1", "echo hi", timeout=30)
    assert f"127.0.0.1 port {port} refused the connection" in str(caught.value)


def test_connect_timeout_when_the_server_never_speaks(ssh: SSHSettings) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the TCP handshake; no SSH banner ever comes
        port = silent.getsockname()[1]
        mute = dataclasses.replace(ssh, hosts={"runner-1": f"127.0.0.1:{port}"}, connect_timeout=1)
        with (
            RunnerHosts(mute, known_hosts_files=()) as hosts,
            pytest.raises(ConnectFailed) as caught,
        ):
            hosts.run("runner-1", "echo hi", timeout=30)
    assert "did not complete the SSH handshake" in str(caught.value)


def test_unsafe_runner_name_never_reaches_a_shell(pool: RunnerHosts, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(SSHConfigError, match=r"\[ssh.hosts\]"):
        pool.run(f"$(touch {marker})", "echo hi", timeout=30)
    assert not marker.exists()


def test_closed_pool_refuses_new_work(ssh: SSHSettings) -> None:
    hosts = RunnerHosts(ssh, known_hosts_files=())
    assert hosts.run("runner-1", "echo hi", timeout=30).exit_status == 0
    hosts.close()
    with pytest.raises(ConnectFailed, match="closed"):
        hosts.run("runner-1", "echo hi", timeout=30)
