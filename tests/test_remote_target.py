"""Where a runner is reached and which host keys vouch for it, without a server.

Settings vs ~/.ssh/config precedence, ProxyJump syntax, unsafe runner names, and the
known_hosts reader (hashed, `[host]:port`, patterns, @revoked) checked against OpenSSH's
own ssh-keygen.
"""

from __future__ import annotations

import base64
import getpass
import subprocess
from pathlib import Path

import paramiko
import pytest
from sshd_fixture import keygen

from tui.config import SSHSettings
from tui.remote import (
    HostKeyChanged,
    HostKeyRevoked,
    HostKeyUnknown,
    KnownHosts,
    SSHConfigError,
    fingerprint,
    known_hosts_name,
    parse_jumps,
    resolve,
)
from tui.remote.target import load_ssh_config, split_host_port


def settings(tmp_path: Path, **values: object) -> SSHSettings:
    values.setdefault("known_hosts", tmp_path / "known_hosts")
    values.setdefault("config_file", None)
    return SSHSettings(**values)  # type: ignore[arg-type]


def ssh_config(tmp_path: Path, text: str) -> paramiko.SSHConfig:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    config = load_ssh_config(path)
    assert config is not None
    return config


@pytest.fixture(autouse=True)
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


# -- where a runner is reached ---------------------------------------------------------------


def test_runner_name_is_the_host_when_not_mapped(tmp_path: Path) -> None:
    target = resolve("gpu-runner-07", settings(tmp_path), None)
    assert (target.host.host, target.host.port, target.host.user) == ("gpu-runner-07", 22, "runner")
    assert target.jumps == ()
    assert target.describe() == "runner@gpu-runner-07:22"


def test_hosts_map_gives_host_and_port(tmp_path: Path) -> None:
    ssh = settings(tmp_path, hosts={"r1": "10.0.0.5:2222", "r2": "[fd00::5]:2200", "r3": "fd00::6"})
    assert (resolve("r1", ssh, None).host.host, resolve("r1", ssh, None).host.port) == (
        "10.0.0.5",
        2222,
    )
    assert (resolve("r2", ssh, None).host.host, resolve("r2", ssh, None).host.port) == (
        "fd00::5",
        2200,
    )
    assert resolve("r2", ssh, None).describe() == "runner@[fd00::5]:2200"
    assert (resolve("r3", ssh, None).host.host, resolve("r3", ssh, None).host.port) == (
        "fd00::6",
        22,
    )


def test_ssh_config_supplies_what_settings_leave_unset(tmp_path: Path) -> None:
    config = ssh_config(
        tmp_path,
        "Host web1\n  HostName 10.0.0.5\n  Port 2200\n  User deploy\n"
        "  IdentityFile ~/.ssh/web1_key\n  ProxyJump ops@bastion:2222,b2\n"
        "Host bastion\n  HostName 192.0.2.10\n"
        "Host b2\n  HostName 192.0.2.20\n  User hop\n  Port 2022\n",
    )
    target = resolve("web1", settings(tmp_path), config)
    home = Path.home()
    assert target.host.host == "10.0.0.5"
    assert target.host.port == 2200
    assert target.host.user == "deploy"
    assert target.host.identity_files == (home / ".ssh/web1_key",)
    assert [str(j) for j in target.jumps] == ["ops@192.0.2.10:2222", "hop@192.0.2.20:2022"]
    assert target.describe() == "deploy@10.0.0.5:2200 via ops@192.0.2.10:2222,hop@192.0.2.20:2022"


def test_explicit_settings_win_over_ssh_config(tmp_path: Path) -> None:
    config = ssh_config(
        tmp_path,
        "Host web1\n  HostName 10.0.0.5\n  Port 2200\n  User deploy\n"
        "  IdentityFile ~/.ssh/web1_key\n  ProxyJump ops@bastion:2222\n",
    )
    key = tmp_path / "oncall_key"
    ssh = settings(
        tmp_path, user="oncall", port=2022, identity_file=key, proxy_jump="jump.example.com"
    )
    target = resolve("web1", ssh, config)
    assert target.host.host == "10.0.0.5"  # HostName is not a setting: the config still maps it
    assert (target.host.port, target.host.user) == (2022, "oncall")
    assert target.host.identity_files[0] == key  # tried first, the config's key after it
    assert [str(j) for j in target.jumps] == ["oncall@jump.example.com:22"]
    # a port in [ssh.hosts] is the most specific of all
    mapped = settings(tmp_path, port=2022, hosts={"r": "web1:2300"})
    assert resolve("r", mapped, config).host.port == 2300


def test_a_setting_equal_to_the_default_still_wins_over_ssh_config(tmp_path: Path) -> None:
    # `user = "runner"` and `port = 22` written in the config file are choices, not "unset".
    config = ssh_config(tmp_path, "Host web1\n  Port 2200\n  User deploy\n")
    target = resolve("web1", settings(tmp_path, user="runner", port=22), config)
    assert (target.host.user, target.host.port) == ("runner", 22)
    unset = resolve("web1", settings(tmp_path), config)
    assert (unset.host.user, unset.host.port) == ("deploy", 2200)
    # A bastion with no user anywhere is logged in to as the local user, as OpenSSH does.
    jump = resolve("web1", settings(tmp_path, proxy_jump="bastion"), config).jumps[0]
    assert jump.user == getpass.getuser()


def test_proxy_jump_none_in_config_means_direct(tmp_path: Path) -> None:
    config = ssh_config(tmp_path, "Host inside\n  ProxyJump none\nHost *\n  ProxyJump bastion\n")
    assert resolve("inside", settings(tmp_path), config).jumps == ()
    assert [j.host for j in resolve("other", settings(tmp_path), config).jumps] == ["bastion"]


def test_proxy_command_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    config = ssh_config(tmp_path, f"Host web1\n  ProxyCommand touch {marker}\n")
    with pytest.raises(SSHConfigError, match=r"ProxyCommand.*ProxyJump"):
        resolve("web1", settings(tmp_path), config)
    assert not marker.exists()


def test_default_identities_only_when_none_is_configured(tmp_path: Path, empty_home: Path) -> None:
    (empty_home / ".ssh").mkdir()
    (empty_home / ".ssh/id_ed25519").write_text("x")
    assert resolve("h", settings(tmp_path), None).host.identity_files == (
        empty_home / ".ssh/id_ed25519",
    )
    key = tmp_path / "k"
    assert resolve("h", settings(tmp_path, identity_file=key), None).host.identity_files == (key,)


@pytest.mark.parametrize(
    "name",
    ["$(touch /tmp/pwned)", "host;reboot", "-oProxyCommand=sh", "runner 01", "a`id`", "", "h\n"],
)
def test_runner_names_that_are_not_host_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SSHConfigError, match=r"\[ssh.hosts\]") as caught:
        resolve(name, settings(tmp_path), None)
    assert "\n" not in str(caught.value)


def test_hostname_from_config_is_checked_too(tmp_path: Path) -> None:
    config = ssh_config(tmp_path, "Host web1\n  HostName bad;name\n")
    with pytest.raises(SSHConfigError, match="not a host name"):
        resolve("web1", settings(tmp_path), config)


def test_jump_spec_syntax() -> None:
    assert parse_jumps("ops@bastion:2222,b2", "x") == [("ops", "bastion", 2222), (None, "b2", None)]
    assert parse_jumps("ssh://ops@[fd00::1]:22", "x") == [("ops", "fd00::1", 22)]
    assert parse_jumps("none", "x") == []
    for bad in ("a,,b", "ops@host:99999", "ops@host:port", "bad user@host", "h;x"):
        with pytest.raises(SSHConfigError):
            parse_jumps(bad, "[ssh] proxy_jump")


def test_split_host_port_rejects_garbage() -> None:
    assert split_host_port("10.0.0.5", "x") == ("10.0.0.5", None)
    assert split_host_port("[::1]", "x") == ("::1", None)
    for bad in ("[::1", "host:0", "[::1]:x"):
        with pytest.raises(SSHConfigError):
            split_host_port(bad, "x")


def test_unreadable_ssh_config_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cfg"
    path.write_text("Host a\n  ProxyCommand\n")  # a keyword without a value
    with pytest.raises(SSHConfigError, match="ssh config"):
        load_ssh_config(path)
    assert load_ssh_config(tmp_path / "missing") is None


# -- known_hosts -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, paramiko.PKey]]:
    """Two ed25519 keys and one RSA key: (public line, key object) each."""
    folder = tmp_path_factory.mktemp("hostkeys")
    out = {}
    for name, kind in (("a", "ed25519"), ("b", "ed25519"), ("rsa", "rsa")):
        line = keygen(folder / name, kind)
        key_type, blob = line.split()[:2]
        out[name] = (
            f"{key_type} {blob}",
            paramiko.PKey.from_type_string(key_type, base64.b64decode(blob)),
        )
        out[name + "_path"] = (str(folder / name) + ".pub", out[name][1])
    return out


def test_fingerprint_matches_ssh_keygen(host_keys: dict) -> None:
    for name in ("a", "rsa"):
        path, key = host_keys[name + "_path"]
        listed = subprocess.run(["ssh-keygen", "-lf", path], capture_output=True, text=True)
        assert listed.stdout.split()[1] == fingerprint(key)
        assert fingerprint(key).startswith("SHA256:") and not fingerprint(key).endswith("=")


def test_known_hosts_name_follows_openssh() -> None:
    assert known_hosts_name("Web1.Example.com", 22) == "web1.example.com"
    assert known_hosts_name("10.0.0.5", 2222) == "[10.0.0.5]:2222"


def test_plain_hashed_and_bracketed_entries_match(tmp_path: Path, host_keys: dict) -> None:
    line_a, key_a = host_keys["a"]
    line_b, key_b = host_keys["b"]
    path = tmp_path / "known_hosts"
    path.write_text(f"web1.example.com,10.0.0.5 {line_a}\n[127.0.0.1]:2222 {line_b}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(path)], check=True, capture_output=True)
    assert "web1.example.com" not in path.read_text()  # really hashed now
    known = KnownHosts([path, tmp_path / "does-not-exist"])
    known.check(key_a, host="web1.example.com", port=22, add_to=path)
    known.check(key_a, host="10.0.0.5", port=22, add_to=path)
    known.check(key_b, host="127.0.0.1", port=2222, add_to=path)
    with pytest.raises(HostKeyUnknown):
        known.check(key_b, host="127.0.0.1", port=22, add_to=path)  # port 22 is another entry


def test_patterns_and_negation(tmp_path: Path, host_keys: dict) -> None:
    line_a, key_a = host_keys["a"]
    path = tmp_path / "known_hosts"
    path.write_text(f"# fleet key\n*.runners.example.com,!evil.runners.example.com {line_a}\n")
    known = KnownHosts([path])
    known.check(key_a, host="r1.runners.example.com", port=22, add_to=path)
    with pytest.raises(HostKeyUnknown):
        known.check(key_a, host="evil.runners.example.com", port=22, add_to=path)
    # brackets are literal, not a character class
    path.write_text(f"[10.0.0.5]:2222 {line_a}\n")
    with pytest.raises(HostKeyUnknown):
        KnownHosts([path]).check(key_a, host="1", port=22, add_to=path)


def test_changed_key_names_file_line_and_both_fingerprints(tmp_path: Path, host_keys: dict) -> None:
    line_a, key_a = host_keys["a"]
    _, key_b = host_keys["b"]
    path = tmp_path / "known_hosts"
    path.write_text(f"other {line_a}\n[10.0.0.5]:2222 {line_a}\n")
    with pytest.raises(HostKeyChanged) as caught:
        KnownHosts([path]).check(key_b, host="10.0.0.5", port=2222, add_to=path)
    message = str(caught.value)
    assert "HOST KEY CHANGED" in message and "man-in-the-middle" in message
    assert fingerprint(key_a) in message and fingerprint(key_b) in message
    assert f"{path}:2" in message
    assert caught.value.known_hosts_line == 2


def test_revoked_key_is_refused_even_if_also_listed(tmp_path: Path, host_keys: dict) -> None:
    line_a, key_a = host_keys["a"]
    path = tmp_path / "known_hosts"
    path.write_text(f"web1 {line_a}\n@revoked * {line_a}\n@cert-authority * {line_a}\n")
    with pytest.raises(HostKeyRevoked, match="@revoked"):
        KnownHosts([path]).check(key_a, host="web1", port=22, add_to=path)


def test_garbage_lines_are_skipped(tmp_path: Path, host_keys: dict) -> None:
    line_a, key_a = host_keys["a"]
    path = tmp_path / "known_hosts"
    path.write_text(
        f"web1 ssh-ed25519 not-base64!!\nweb1 ssh-unknown AAAA\nweb1\n@revoked\n\n\tweb1 {line_a}\n"
    )
    KnownHosts([path]).check(key_a, host="web1", port=22, add_to=path)


def test_known_key_types_are_asked_for_first(tmp_path: Path, host_keys: dict) -> None:
    line_rsa, _ = host_keys["rsa"]
    path = tmp_path / "known_hosts"
    path.write_text(f"web1 {line_rsa}\n")
    offered = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
    ordered = KnownHosts([path]).preferred_algorithms("web1", offered)
    assert ordered[:3] == ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
    assert sorted(ordered) == sorted(offered)
    assert KnownHosts([path]).preferred_algorithms("unknown", offered) == offered
