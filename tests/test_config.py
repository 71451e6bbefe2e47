"""Settings from file and environment; secrets never shown; GitHub App tokens renewed in time."""

from __future__ import annotations

import argparse
import http.server
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tui.cli import settings_from
from tui.config import AppTokenProvider, ConfigError, GitHubApp, GitHubScope, Secret, load_settings

TOKEN = "ghp_" + "S3cr3tT0k3n" * 6  # tokens can be any length; never assume a format


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_file_then_environment_then_command_line(tmp_path):
    cfg = write(
        tmp_path,
        '[github]\norg = "acme"\napi_url = "https://ghe.example/api/v3"\n'
        '[prometheus]\nurl = "http://127.0.0.1:9090/"\n'
        '[ssh.hosts]\n"runner-01" = "10.0.0.5:2222"\n',
    )
    s = load_settings(cfg, env={})
    assert s.scope == GitHubScope("org", "acme") and s.scope.api_path == "orgs/acme"
    assert s.github_api_url == "https://ghe.example/api/v3"
    assert s.prometheus_url == "http://127.0.0.1:9090"
    assert s.ssh.hosts == {"runner-01": "10.0.0.5:2222"}
    s = load_settings(cfg, env={"GITHUB_API_URL": "http://127.0.0.1:1/", "GITHUB_TOKEN": TOKEN})
    assert s.github_api_url == "http://127.0.0.1:1"
    assert s.token_provider()().reveal() == TOKEN
    s = load_settings(cfg, env={}, repo="acme/app")
    assert s.scope.api_path == "repos/acme/app"
    s = load_settings(cfg, env={"RUNNERDOC_CONFIG": "/nonexistent"}, enterprise="big-corp")
    assert s.scope.api_path == "enterprises/big-corp"


def test_lab_ignores_what_a_github_actions_job_sets(tmp_path, monkeypatch):
    # Inside a workflow job GITHUB_API_URL and GITHUB_TOKEN are GitHub's: --lab must not
    # send the lab's runner names, or its token, anywhere but the lab's simulator.
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "config.toml").write_text(
        '[github]\norg = "acme"\napi_url = "http://127.0.0.1:4010"\ntoken = "lab-token"\n'
        '[prometheus]\nurl = "http://127.0.0.1:4020"\n'
    )
    (lab / "config.toml").chmod(0o600)
    monkeypatch.setenv("RUNNERDOC_LAB_DIR", str(lab))
    monkeypatch.setenv("GITHUB_API_URL", "https://api.github.com")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("RUNNERDOC_PROMETHEUS_URL", "http://prometheus.prod:9090")
    monkeypatch.setenv("RUNNERDOC_CONFIG", str(tmp_path / "prod.toml"))
    s = settings_from(argparse.Namespace(lab=True))
    assert s.github_api_url == "http://127.0.0.1:4010"
    assert s.prometheus_url == "http://127.0.0.1:4020"
    assert s.token_provider()().reveal() == "lab-token"
    # Without --lab the environment still wins, as documented.
    (tmp_path / "prod.toml").write_text('[github]\norg = "acme"\n')
    s = settings_from(argparse.Namespace(lab=False))
    assert s.github_api_url == "https://api.github.com"
    assert s.prometheus_url == "http://prometheus.prod:9090"


def test_config_file_found_through_environment_and_xdg(tmp_path):
    (tmp_path / "runnerdoc").mkdir()
    (tmp_path / "runnerdoc" / "config.toml").write_text('[github]\nrepo = "a/b"\n')
    assert load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)}).scope.name == "a/b"
    other = write(tmp_path, '[github]\norg = "zeta"\n')
    assert load_settings(env={"RUNNERDOC_CONFIG": str(other)}).scope.name == "zeta"
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(env={"RUNNERDOC_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[github]\norg = "acme"\nrepo = "a/b"\n', "more than one of org, repo, enterprise"),
        ('[github]\norg = "bad name!"\n', "is not a valid GitHub name"),
        ("[github\n", "not valid TOML"),
        ('[prometheus]\nurl = "ftp://x"\n', "must be an http:// or https:// URL"),
        ('[ssh]\nport = "twenty-two"\n', "ssh.port and ssh.connect_timeout must be numbers"),
        ("[ssh]\nport = 70000\n", "ssh.port must be between 1 and 65535, not 70000"),
        ("[ssh]\nuser = 7\n", "ssh.user must be a non-empty string"),
        ('read_only = "yes"\n', "read_only must be true or false"),
    ],
)
def test_bad_settings_give_one_clear_line(tmp_path, text, message):
    cfg = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_token_in_a_file_others_can_read_is_refused_without_showing_it(tmp_path):
    cfg = write(tmp_path, f'[github]\norg = "acme"\ntoken = "{TOKEN}"\n', mode=0o644)
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    assert "chmod 600" in str(e.value) and TOKEN not in str(e.value)
    cfg.chmod(0o600)
    s = load_settings(cfg, env={})
    assert s.token_provider()().reveal() == TOKEN
    assert TOKEN not in repr(s) and TOKEN not in str(s)


def test_secret_never_prints():
    s = Secret(TOKEN)
    assert TOKEN not in repr(s) and TOKEN not in str(s) and TOKEN not in f"{s}"
    assert s.reveal() == TOKEN


def test_no_token_anywhere_says_where_to_put_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `gh` on the PATH
    s = load_settings(write(tmp_path, '[github]\norg = "acme"\n'), env={})
    with pytest.raises(ConfigError, match="GITHUB_TOKEN"):
        s.token_provider()()


def test_token_from_gh_cli(tmp_path, monkeypatch):
    gh = tmp_path / "gh"
    gh.write_text(f'#!/bin/sh\n[ "$1 $2" = "auth token" ] && echo {TOKEN}\n')
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    s = load_settings(write(tmp_path, '[github]\norg = "acme"\n'), env={})
    assert s.token_provider()().reveal() == TOKEN


class _AppServer(http.server.BaseHTTPRequestHandler):
    """Answers POST /app/installations/{id}/access_tokens as GitHub does, checking the JWT."""

    public_key: bytes = b""
    issued: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        auth = self.headers.get("Authorization", "")
        try:
            # The test moves the provider's clock forward, so check the signature and
            # the 10-minute lifetime, not wall time.
            claims = jwt.decode(
                auth.removeprefix("Bearer "),
                self.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False},
            )
            assert claims["exp"] - claims["iat"] <= 600
        except Exception:
            self.send_response(401)
            self.end_headers()
            return
        token = f"ghs_installation_{len(self.issued)}"
        self.issued.append(token)
        expires = datetime.now(UTC) + timedelta(hours=1)
        body = json.dumps({"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def test_github_app_token_is_exchanged_cached_and_renewed(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "app.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    _AppServer.public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _AppServer.issued = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _AppServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    now = [datetime.now(UTC).timestamp()]
    provider = AppTokenProvider(
        GitHubApp("12345", "678", pem), f"http://127.0.0.1:{server.server_port}", lambda: now[0]
    )
    try:
        assert provider().reveal() == "ghs_installation_0"
        assert provider().reveal() == "ghs_installation_0"  # cached
        now[0] += 3600 - 200  # inside the renewal window
        assert provider().reveal() == "ghs_installation_1"
    finally:
        server.shutdown()


def test_github_app_with_a_bad_key_says_so(tmp_path):
    pem = tmp_path / "app.pem"
    pem.write_text("not a key")
    provider = AppTokenProvider(GitHubApp("1", "2", pem), "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="is not an RSA key"):
        provider()
