"""Name lookups and network tools on a lab host: getent hosts, dig, curl and openssl s_client.

A lab host resolves names through systemd-resolved's stub on 127.0.0.53: while that unit
is down (the network-down fault), every name lookup fails as it does on a real host, and
curl, dig and openssl print the real errors. With DNS working, curl is the real curl
(it reaches the lab's GitHub simulator on 127.0.0.1) and openssl s_client presents the
lab's stand-in certificate for GitHub, which the real `openssl x509` then reads.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from lab.host.runner_service import dns_works
from lab.hostcmd.paths import real_program, run_real
from lab.hostcmd.session import Session, err, out

KNOWN = {
    "github.com": "140.82.121.4",
    "api.github.com": "140.82.121.6",
    "codeload.github.com": "140.82.121.10",
    "objects.githubusercontent.com": "185.199.108.133",
    "pipelines.actions.githubusercontent.com": "13.107.42.16",
    "broker.actions.githubusercontent.com": "20.42.73.30",
    "www.githubstatus.com": "185.199.110.153",
    "ntp.ubuntu.com": "185.125.190.56",
}
_CURL_VALUE_OPTIONS = {
    "-o",
    "--output",
    "-H",
    "--header",
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-urlencode",
    "-X",
    "--request",
    "-u",
    "--user",
    "-A",
    "--user-agent",
    "-e",
    "--referer",
    "-m",
    "--max-time",
    "--connect-timeout",
    "-w",
    "--write-out",
    "-x",
    "--proxy",
    "--cacert",
    "--cert",
    "--key",
    "-F",
    "--form",
    "-b",
    "--cookie",
    "-c",
    "--cookie-jar",
    "-T",
    "--upload-file",
    "--retry",
    "--retry-delay",
    "--resolve",
    "-r",
    "--range",
    "-K",
    "--config",
    "-D",
    "--dump-header",
    "--url",
    "-E",
}


def resolve(state: dict, name: str) -> str | None:
    """The address a host name resolves to on this host now, or None when it does not."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if name in ("localhost", "localhost.localdomain"):
        return "::1"
    if name == state["name"]:
        return "127.0.1.1"
    if not dns_works(state):
        return None
    if name.endswith(".localhost"):
        return "127.0.0.1"  # the lab's stand-ins for GitHub's hosts
    if name in KNOWN:
        return KNOWN[name]
    digest = hashlib.sha256(name.encode()).digest()
    return f"203.0.113.{digest[0] % 250 + 2}"


# ----- curl ------------------------------------------------------------------------------------


def _curl_urls(args: list[str]) -> list[str]:
    urls: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--url" and i + 1 < len(args):
            urls.append(args[i + 1])
            i += 2
            continue
        if a in _CURL_VALUE_OPTIONS:
            i += 2
            continue
        if not a.startswith("-"):
            urls.append(a)
        i += 1
    return urls


def cmd_curl(session: Session, args: list[str]) -> int:
    state = session.host.read()
    for url in _curl_urls(args):
        target = url if "://" in url else f"http://{url}"
        host = urlsplit(target).hostname or ""
        if host and resolve(state, host) is None:
            silent = any(
                a in ("-s", "--silent")
                or (a.startswith("-") and not a.startswith("--") and "s" in a)
                for a in args
            )
            show_error = any(
                a in ("-S", "--show-error")
                or (a.startswith("-") and not a.startswith("--") and "S" in a)
                for a in args
            )
            verbose = any(
                a in ("-v", "--verbose")
                or (a.startswith("-") and not a.startswith("--") and "v" in a)
                for a in args
            )
            if verbose:
                err(f"* Could not resolve host: {host}")
                err("* Closing connection")
            if not silent or show_error:
                err(f"curl: (6) Could not resolve host: {host}")
            return 6
    return run_real("curl", args, session)


# ----- dig -------------------------------------------------------------------------------------


def cmd_dig(session: Session, args: list[str]) -> int:
    state = session.host.read()
    names = [
        a
        for a in args
        if not a.startswith(("+", "-", "@"))
        and a.upper() not in ("A", "AAAA", "IN", "CNAME", "MX", "TXT", "NS")
    ]
    name = names[0] if names else "."
    qtype = next((a.upper() for a in args if a.upper() in ("A", "AAAA", "CNAME", "MX", "TXT")), "A")
    short = "+short" in args
    shown_args = " ".join(args)
    version = "9.18.33-1~deb12u2-Debian"
    now = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(session.host.now(state)))
    if not dns_works(state):
        out(";; communications error to 127.0.0.53#53: connection refused")
        if not short:
            out()
            out(f"; <<>> DiG {version} <<>> {shown_args}")
            out(";; global options: +cmd")
        out(";; no servers could be reached")
        out()
        return 9
    address = resolve(state, name)
    if short:
        out(address or "")
        return 0
    rng = random.Random(name)  # noqa: S311 -- a stable query id
    fq = name.rstrip(".") + "."
    out()
    out(f"; <<>> DiG {version} <<>> {shown_args}")
    out(";; global options: +cmd")
    out(";; Got answer:")
    out(f";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: {rng.randint(1, 65535)}")
    out(";; flags: qr rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1")
    out()
    out(";; OPT PSEUDOSECTION:")
    out("; EDNS: version: 0, flags:; udp: 65494")
    out(";; QUESTION SECTION:")
    out(f";{fq}\t\t\tIN\t{qtype}")
    out()
    out(";; ANSWER SECTION:")
    out(f"{fq}\t\t60\tIN\tA\t{address}")
    out()
    out(f";; Query time: {rng.randint(3, 40)} msec")
    out(";; SERVER: 127.0.0.53#53(127.0.0.53) (UDP)")
    out(f";; WHEN: {now}")
    out(f";; MSG SIZE  rcvd: {len(fq) + 47}")
    out()
    return 0


# ----- openssl ---------------------------------------------------------------------------------


def _lab_dir(session: Session) -> Path:
    env = os.environ.get("RUNNERDOC_LAB_DIR")
    return Path(env) if env else session.host.folder.parent.parent


def cmd_openssl(session: Session, args: list[str]) -> int:
    if not args or args[0] != "s_client":
        os.execv(real_program("openssl"), ["openssl", *args])  # noqa: S606 -- the real tool
    state = session.host.read()
    target = ""
    for n, a in enumerate(args):
        if a == "-connect" and n + 1 < len(args):
            target = args[n + 1]
    host, _, port = target.rpartition(":") if ":" in target else (target, "", "443")
    if resolve(state, host) is None:
        tag = "40F7A2C1E17F0000"
        err(
            f"{tag}:error:10000067:BIO routines:BIO_lookup_ex:system lib:"
            "../crypto/bio/bio_addr.c:738:"
        )
        err(
            f"{tag}:error:8000006E:system library:BIO_connect:Name or service not known:"
            "../crypto/bio/bio_addr.c:742:"
        )
        err("connect:errno=2")
        return 1
    pem_file = _lab_dir(session) / "tls" / "github.pem"
    try:
        pem = pem_file.read_text()
    except FileNotFoundError:
        err(f"connect:errno=111 (no certificate for {host} in this lab)")
        return 1
    out("CONNECTED(00000003)")
    out("---")
    out("Certificate chain")
    out(f" 0 s:CN = {host}")
    out("   i:C = GB, O = Sectigo Limited, CN = Sectigo ECC Domain Validation Secure Server CA")
    out("---")
    out("Server certificate")
    sys.stdout.write(pem if pem.endswith("\n") else pem + "\n")
    out(f"subject=CN = {host}")
    out("issuer=C = GB, O = Sectigo Limited, CN = Sectigo ECC Domain Validation Secure Server CA")
    out("---")
    out("SSL handshake has read 3402 bytes and written 392 bytes")
    out("Verification: OK")
    out("---")
    out("New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256")
    out("DONE")
    del port
    return 0


def write_github_certificate(folder: Path) -> Path:
    """The lab's stand-in for github.com's certificate, issued under Sectigo's name."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    issuer = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "GB"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sectigo Limited"),
            x509.NameAttribute(
                NameOID.COMMON_NAME, "Sectigo ECC Domain Validation Secure Server CA"
            ),
        ]
    )
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "github.com")]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=60))
        .not_valid_after(now + dt.timedelta(days=305))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("github.com"), x509.DNSName("www.github.com")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    path = folder / "github.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path
