"""Host key checking against OpenSSH known_hosts files: unknown and changed keys are refused.

Reads hashed (`|1|salt|hash`) and plain names, `[host]:port` entries, `*`/`?` patterns with
`!` negation, and `@revoked` markers, and remembers file and line for the messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from tui.remote.errors import HostKeyChanged, HostKeyRevoked, HostKeyUnknown

# Host key algorithms to ask the server for, by the key type a known_hosts line names.
_ALGORITHMS_FOR_TYPE = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint: `SHA256:` and unpadded base64 of the key blob."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH files a host under: `host`, or `[host]:port` off port 22."""
    return host.lower() if port == 22 else f"[{host.lower()}]:{port}"


@dataclass(frozen=True)
class KnownKey:
    key: paramiko.PKey
    file: Path
    line: int
    revoked: bool = False

    @property
    def key_type(self) -> str:
        return self.key.get_name()


def _hashed_match(pattern: str, name: str) -> bool:
    # |1|base64(salt)|base64(HMAC-SHA1(salt, name))
    try:
        _, magic, salt_b64, digest_b64 = pattern.split("|")
        if magic != "1":
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(digest_b64)
    except ValueError:
        return False
    actual = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(actual, expected)


def _wildcard(pattern: str) -> re.Pattern[str]:
    # Only * and ? are special: `[host]:port` brackets are literal.
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _names_match(field: str, name: str) -> bool:
    """OpenSSH's rule: some pattern matches and no negated pattern does."""
    matched = False
    for pattern in field.split(","):
        negated = pattern.startswith("!")
        pattern = pattern[1:] if negated else pattern
        if pattern.startswith("|"):
            hit = _hashed_match(pattern, name)
        else:
            hit = _wildcard(pattern.lower()).fullmatch(name) is not None
        if hit and negated:
            return False
        matched = matched or hit
    return matched


class KnownHosts:
    """The keys that a set of known_hosts files vouch for; missing files are skipped."""

    def __init__(self, files: Iterable[Path]):
        self.files = [Path(f) for f in files]
        self._lines: list[tuple[str, KnownKey]] = []
        for file in self.files:
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for number, raw in enumerate(text.splitlines(), 1):
                parsed = self._parse(raw, file, number)
                if parsed is not None:
                    self._lines.append(parsed)

    @staticmethod
    def _parse(raw: str, file: Path, number: int) -> tuple[str, KnownKey] | None:
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            return None
        marker = None
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
        # @cert-authority lines vouch for certificates, which this layer does not accept.
        if len(fields) < 3 or marker not in (None, "@revoked"):
            return None
        names, key_type, blob = fields[:3]
        try:
            key = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
        except Exception:  # an unreadable or unsupported line is skipped, as ssh does
            return None
        return names, KnownKey(key, file, number, revoked=marker == "@revoked")

    def keys_for(self, name: str) -> list[KnownKey]:
        return [known for names, known in self._lines if _names_match(names, name.lower())]

    def preferred_algorithms(self, name: str, offered: Iterable[str]) -> list[str]:
        """Host key algorithms with the ones known for `name` first, as OpenSSH orders them.

        Without this a host known by its RSA key may present its Ed25519 key, which
        would look like an unknown host.
        """
        known: list[str] = []
        for entry in self.keys_for(name):
            if not entry.revoked:
                for algorithm in _ALGORITHMS_FOR_TYPE.get(entry.key_type, (entry.key_type,)):
                    if algorithm not in known:
                        known.append(algorithm)
        offered = list(offered)
        first = [a for a in known if a in offered]
        return first + [a for a in offered if a not in first]

    def check(
        self,
        server_key: paramiko.PKey,
        *,
        host: str,
        port: int,
        add_to: Path,
        role: str = "host",
        via_jump: bool = False,
    ) -> None:
        """Return if known_hosts vouches for `server_key`; raise a HostKeyError if not."""
        name = known_hosts_name(host, port)
        entries = self.keys_for(name)
        offered_type = server_key.get_name()
        offered_fp = fingerprint(server_key)
        blob = server_key.asbytes()
        where = f"{role} {host} port {port}"
        details = {"host": host, "port": port, "key_type": offered_type, "fingerprint": offered_fp}
        for entry in entries:
            if entry.revoked and entry.key.asbytes() == blob:
                raise HostKeyRevoked(
                    f"{where} offered {offered_type} key {offered_fp}, which {entry.file}:"
                    f"{entry.line} marks @revoked; refusing to connect",
                    **details,
                )
        trusted = [e for e in entries if not e.revoked]
        if any(e.key.asbytes() == blob for e in trusted):
            return
        if not trusted:
            scan = f"ssh-keyscan -p {port} {shlex.quote(host)} >> {shlex.quote(str(add_to))}"
            if via_jump:
                scan += " (run it where the host is reachable, e.g. on the jump host)"
            raise HostKeyUnknown(
                f"{where} is not in known_hosts: it offers {offered_type} key {offered_fp}."
                f" Refusing to connect. Check that fingerprint with the host's owner, then add"
                f" it: {scan}",
                **details,
            )
        same_type = [e for e in trusted if e.key_type == offered_type]
        known = (same_type or trusted)[0]
        known_fp = fingerprint(known.key)
        remove = f"ssh-keygen -R {shlex.quote(name)} -f {shlex.quote(str(known.file))}"
        raise HostKeyChanged(
            f"WARNING: HOST KEY CHANGED for {where}: {known.file}:{known.line} holds"
            f" {known.key_type} key {known_fp} but the host now offers {offered_type} key"
            f" {offered_fp}. Someone may be intercepting this connection"
            f" (man-in-the-middle), or the host was rebuilt. Refusing to connect; confirm the"
            f" new key with the host's owner before replacing the entry ({remove}).",
            **details,
            known_key_type=known.key_type,
            known_fingerprint=known_fp,
            known_hosts_file=str(known.file),
            known_hosts_line=known.line,
        )
