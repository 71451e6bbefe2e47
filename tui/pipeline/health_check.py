"""`runnerdoc check`: the runner's own health, checked from inside a CI job on it.

Each check stands alone: one that cannot run reports `unknown` and why, never a crash.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from tui.text import one_line

_T = TypeVar("_T")
GIB = 1024**3
# A GitHub runner refuses to start a session when its clock is 5 minutes off.
RUNNER_CLOCK_LIMIT = 300.0
GITHUB_COM_EXTRA_HOSTS = ("codeload.github.com", "pipelines.actions.githubusercontent.com")


class CheckStatus(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"  # the check could not run; says why


# Exit codes of `runnerdoc check`: unknown does not raise it (skip checks that do not apply).
EXIT_CODES = {
    CheckStatus.OK: 0,
    CheckStatus.UNKNOWN: 0,
    CheckStatus.WARNING: 1,
    CheckStatus.CRITICAL: 2,
}


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict on one thing (a folder, a host, the daemon)."""

    check: str
    target: str
    status: CheckStatus
    summary: str
    value: float | str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Thresholds:
    """Where warning and critical start. Free space and memory: below; the rest: above."""

    disk_free_warning: float = 15.0  # percent of the work folder's filesystem free
    disk_free_critical: float = 5.0
    inodes_free_warning: float = 10.0  # percent
    inodes_free_critical: float = 3.0
    memory_available_warning: float = 10.0  # percent of MemTotal
    memory_available_critical: float = 5.0
    clock_offset_warning: float = 30.0  # seconds, either direction
    clock_offset_critical: float = RUNNER_CLOCK_LIMIT
    work_size_warning: float | None = 50.0  # GiB in the work folder
    work_size_critical: float | None = None
    certificate_days_warning: float = 14.0
    runner_min_version: str | None = None

    def problems(self) -> list[str]:
        """What does not make sense, e.g. a critical level above the warning level."""
        out = []
        for name in ("disk_free", "inodes_free", "memory_available"):
            warn, crit = getattr(self, f"{name}_warning"), getattr(self, f"{name}_critical")
            if not (0 <= crit <= 100 and 0 <= warn <= 100):
                out.append(f"{name} thresholds are percentages (0-100)")
            elif crit > warn:
                out.append(f"{name}: critical ({crit:g}%) must not be above warning ({warn:g}%)")
        if not 0 <= self.clock_offset_warning <= self.clock_offset_critical:
            out.append("clock offset: warning must be between 0 and critical")
        ws, wc = self.work_size_warning, self.work_size_critical
        if ws is not None and wc is not None and wc < ws:
            out.append("work size: critical must not be below warning")
        if self.runner_min_version is not None and _version(self.runner_min_version) is None:
            out.append(f"runner minimum version {self.runner_min_version!r} is not like 2.330.0")
        return out


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int = 443

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """`host`, `host:port` or `[v6-address]:port`."""
        m = re.fullmatch(
            r"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::([0-9]{1,5}))?", text.strip()
        )
        if m is None:
            raise ValueError(f"{text!r} is not a host name (host or host:port)")
        port = int(m.group(3) or 443)
        if not 0 < port < 65536:
            raise ValueError(f"{text!r}: the port must be 1-65535")
        return cls(m.group(1) or m.group(2), port)

    def __str__(self) -> str:
        return self.host if self.port == 443 else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class CheckPlan:
    """What to check and against which levels."""

    work_folder: Path
    endpoints: tuple[Endpoint, ...]
    api_url: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    ca_file: Path | None = None
    timeout: float = 5.0
    size_budget: float = 20.0  # seconds to spend adding up the work folder
    runner_root: Path | None = None
    runner_version: str | None = None
    docker_host: str | None = None
    skip: frozenset[str] = frozenset()


CHECK_NAMES = (
    "disk", "inodes", "memory", "docker", "dns", "tls", "clock", "runner-version", "work-size"
)  # fmt: skip


def default_endpoints(api_url: str, server_url: str) -> tuple[Endpoint, ...]:
    """The GitHub hosts a runner talks to, from $GITHUB_API_URL and $GITHUB_SERVER_URL."""
    hosts: list[Endpoint] = []
    for url in (api_url, server_url):
        parts = urlsplit(url)
        if parts.hostname:
            default = 443 if parts.scheme == "https" else 80
            hosts.append(Endpoint(parts.hostname, parts.port or default))
    if any(h.host == "github.com" for h in hosts):
        hosts.extend(Endpoint(h) for h in GITHUB_COM_EXTRA_HOSTS)
    return tuple(dict.fromkeys(hosts))


def work_folder_from_env(env: Mapping[str, str]) -> Path:
    """The runner's work folder: the parent of $RUNNER_WORKSPACE (the runner's `_work`),
    else $GITHUB_WORKSPACE, else here."""
    if env.get("RUNNER_WORKSPACE"):
        return Path(env["RUNNER_WORKSPACE"]).parent
    if env.get("GITHUB_WORKSPACE"):
        return Path(env["GITHUB_WORKSPACE"])
    return Path.cwd()


# ----- the checks -----------------------------------------------------------------------------


def _percent_low(value: float, warning: float, critical: float) -> CheckStatus:
    if value < critical:
        return CheckStatus.CRITICAL
    if value < warning:
        return CheckStatus.WARNING
    return CheckStatus.OK


def _levels(warning: float, critical: float) -> str:
    return f"warning below {warning:g}%, critical below {critical:g}%"


def check_disk(folder: Path, t: Thresholds) -> list[CheckResult]:
    """Free space and free inodes of the filesystem that holds the work folder."""
    target = str(folder)
    try:
        st = os.statvfs(folder)
    except OSError as e:
        why = f"cannot read the filesystem of {target}: {e.strerror}"
        return [
            CheckResult("disk", target, CheckStatus.UNKNOWN, why),
            CheckResult("inodes", target, CheckStatus.UNKNOWN, why),
        ]
    results = []
    if st.f_blocks == 0:
        results.append(CheckResult("disk", target, CheckStatus.UNKNOWN, "filesystem has no size"))
    else:
        free = st.f_bavail * st.f_frsize
        pct = 100.0 * st.f_bavail / st.f_blocks
        status = _percent_low(pct, t.disk_free_warning, t.disk_free_critical)
        summary = (
            f"{pct:.1f}% free ({free / GIB:.1f} GiB of {st.f_blocks * st.f_frsize / GIB:.1f} GiB)"
            f"; {_levels(t.disk_free_warning, t.disk_free_critical)}"
        )
        results.append(CheckResult("disk", target, status, summary, round(pct, 2), "%"))
    if st.f_files == 0:
        results.append(
            CheckResult(
                "inodes", target, CheckStatus.UNKNOWN, "the filesystem does not count inodes"
            )
        )
    else:
        pct = 100.0 * st.f_favail / st.f_files
        status = _percent_low(pct, t.inodes_free_warning, t.inodes_free_critical)
        summary = (
            f"{pct:.1f}% of inodes free ({st.f_favail:,} of {st.f_files:,})"
            f"; {_levels(t.inodes_free_warning, t.inodes_free_critical)}"
        )
        results.append(CheckResult("inodes", target, status, summary, round(pct, 2), "%"))
    return results


def check_memory(t: Thresholds, meminfo: Path = Path("/proc/meminfo")) -> CheckResult:
    """MemAvailable against MemTotal: what the kernel can give a job without swapping."""
    try:
        text = meminfo.read_text(encoding="ascii", errors="replace")
    except OSError as e:
        return CheckResult("memory", str(meminfo), CheckStatus.UNKNOWN, f"{e.strerror}")
    values = {
        m.group(1): int(m.group(2)) * 1024 for m in re.finditer(r"^(\w+):\s+(\d+)\s*kB", text, re.M)
    }
    total, available = values.get("MemTotal"), values.get("MemAvailable")
    if not total or available is None:
        return CheckResult(
            "memory", str(meminfo), CheckStatus.UNKNOWN, "no MemTotal/MemAvailable (kernel < 3.14?)"
        )
    pct = 100.0 * available / total
    status = _percent_low(pct, t.memory_available_warning, t.memory_available_critical)
    summary = (
        f"{pct:.1f}% available ({available / GIB:.1f} GiB of {total / GIB:.1f} GiB)"
        f"; {_levels(t.memory_available_warning, t.memory_available_critical)}"
    )
    return CheckResult("memory", "this host", status, summary, round(pct, 2), "%")


def _docker_socket(docker_host: str | None) -> str | None:
    if docker_host is None:
        return "/var/run/docker.sock"
    if docker_host.startswith("unix://"):
        return docker_host.removeprefix("unix://")
    return None  # tcp:// or ssh://: only the CLI can say


def check_docker(docker_host: str | None, timeout: float) -> CheckResult:
    """`docker info` when the CLI is installed, else a ping on the daemon's socket."""
    cli = shutil.which("docker")
    target = docker_host or "unix:///var/run/docker.sock"
    if cli is not None:
        env = dict(os.environ)
        if docker_host:
            env["DOCKER_HOST"] = docker_host
        try:
            out = subprocess.run(
                [cli, "info", "--format", "{{.ServerVersion}}"],
                capture_output=True, text=True, timeout=max(timeout, 10.0), env=env, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return CheckResult(
                "docker", target, CheckStatus.CRITICAL, "`docker info` hung: the daemon is stuck"
            )
        if out.returncode == 0:
            version = one_line(out.stdout.strip(), limit=40) or "?"
            return CheckResult("docker", target, CheckStatus.OK, f"daemon {version} answers")
        lines = [ln for ln in (out.stderr or out.stdout).splitlines() if ln.strip()]
        why = one_line(lines[-1] if lines else f"exit status {out.returncode}", limit=200)
        return CheckResult("docker", target, CheckStatus.CRITICAL, f"`docker info` failed: {why}")
    path = _docker_socket(docker_host)
    if path is None:
        return CheckResult(
            "docker", target, CheckStatus.UNKNOWN, "no docker CLI to ask a remote daemon"
        )
    if not os.path.exists(path):
        return CheckResult(
            "docker", target, CheckStatus.UNKNOWN, f"no docker CLI and no socket at {path}"
        )
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            chunks: list[bytes] = []
            while sum(map(len, chunks)) < 65536 and (chunk := s.recv(4096)):
                chunks.append(chunk)  # HTTP/1.0: the daemon closes when it is done
            answer = b"".join(chunks).decode("latin-1")
    except PermissionError:
        return CheckResult(
            "docker", target, CheckStatus.CRITICAL,
            f"permission denied on {path}: the runner's user is not in the docker group",
        )  # fmt: skip
    except OSError as e:
        why = e.strerror or type(e).__name__
        return CheckResult("docker", target, CheckStatus.CRITICAL, f"socket {path}: {why}")
    status_line = answer.split("\r\n", 1)[0]
    if " 200 " in f"{status_line} " and answer.rstrip().endswith("OK"):
        return CheckResult("docker", target, CheckStatus.OK, "daemon answers /_ping")
    return CheckResult(
        "docker", target, CheckStatus.CRITICAL,
        f"daemon answered /_ping with {one_line(status_line, limit=80)!r}",
    )  # fmt: skip


def _with_timeout(fn: Callable[[], _T], timeout: float) -> _T:
    # getaddrinfo has no timeout of its own; a thread lets the check give up on it.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(fn).result(timeout=timeout)
    finally:
        pool.shutdown(wait=False)


def check_dns(endpoint: Endpoint, timeout: float) -> CheckResult:
    """Resolve the host name, as the runner does before every connection."""
    host = endpoint.host
    try:
        infos = _with_timeout(
            lambda: socket.getaddrinfo(host, endpoint.port, type=socket.SOCK_STREAM), timeout
        )
    except concurrent.futures.TimeoutError:
        return CheckResult("dns", host, CheckStatus.CRITICAL, f"no answer within {timeout:g} s")
    except socket.gaierror as e:
        why = f"does not resolve: {one_line(str(e.strerror))}"
        return CheckResult("dns", host, CheckStatus.CRITICAL, why)
    except OSError as e:
        return CheckResult("dns", host, CheckStatus.CRITICAL, f"lookup failed: {e}")
    addresses = sorted({str(info[4][0]) for info in infos})
    shown = ", ".join(addresses[:3]) + (" …" if len(addresses) > 3 else "")
    return CheckResult("dns", host, CheckStatus.OK, f"resolves to {shown}")


def check_tls(
    endpoint: Endpoint, ca_file: Path | None, timeout: float, t: Thresholds
) -> CheckResult:
    """A full TLS handshake with certificate and host name verification."""
    target = str(endpoint)
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as e:
        return CheckResult("tls", target, CheckStatus.UNKNOWN, f"cannot load CA file: {e}")
    started = time.monotonic()
    try:
        with (
            socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=endpoint.host) as tls,
        ):
            cert = tls.getpeercert() or {}
            version = tls.version() or "TLS"
    except ssl.SSLCertVerificationError as e:
        why = one_line(e.verify_message or str(e), limit=160)
        return CheckResult(
            "tls", target, CheckStatus.CRITICAL,
            f"certificate not trusted: {why} (a TLS-inspecting proxy? pass --ca-file)",
        )  # fmt: skip
    except ssl.SSLError as e:
        return CheckResult(
            "tls", target, CheckStatus.CRITICAL, f"handshake failed: {one_line(e.reason or str(e))}"
        )
    except TimeoutError:
        return CheckResult("tls", target, CheckStatus.CRITICAL, f"no answer within {timeout:g} s")
    except OSError as e:
        why = e.strerror or type(e).__name__
        return CheckResult("tls", target, CheckStatus.CRITICAL, f"cannot connect: {why}")
    took = time.monotonic() - started
    not_after = cert.get("notAfter")
    if isinstance(not_after, str):
        days = (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400
        if days < t.certificate_days_warning:
            return CheckResult(
                "tls", target, CheckStatus.WARNING,
                f"{version} ok, but the certificate expires in {days:.0f} day(s)",
                round(days, 1), "days",
            )  # fmt: skip
    return CheckResult("tls", target, CheckStatus.OK, f"{version} handshake in {took:.2f} s")


def check_clock(api_url: str, ca_file: Path | None, timeout: float, t: Thresholds) -> CheckResult:
    """This host's clock against the `Date` header of the GitHub API (1 s resolution)."""
    import httpx

    url = api_url.rstrip("/") + "/rate_limit"  # costs no rate limit
    target = urlsplit(api_url).netloc or api_url
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        verify = ssl.create_default_context(cafile=str(ca_file))
    try:
        before = time.time()
        response = httpx.get(url, timeout=timeout, verify=verify, follow_redirects=False)
        after = time.time()
    except httpx.HTTPError as e:
        return CheckResult(
            "clock", target, CheckStatus.UNKNOWN, f"cannot ask the API: {type(e).__name__}"
        )
    date = response.headers.get("date")
    if not date:
        return CheckResult("clock", target, CheckStatus.UNKNOWN, "the API sent no Date header")
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return CheckResult("clock", target, CheckStatus.UNKNOWN, "the API's Date is unreadable")
    # Positive: this host is ahead. The header is whole seconds, so half a second is noise.
    offset = (before + after) / 2 - (server + 0.5)
    size = abs(offset)
    if size >= t.clock_offset_critical:
        status = CheckStatus.CRITICAL
    elif size >= t.clock_offset_warning:
        status = CheckStatus.WARNING
    else:
        status = CheckStatus.OK
    direction = "ahead of" if offset > 0 else "behind"
    summary = (
        f"{size:.1f} s {direction} the API; warning at {t.clock_offset_warning:g} s,"
        f" critical at {t.clock_offset_critical:g} s"
    )
    return CheckResult("clock", target, status, summary, round(offset, 1), "s")


def _version(text: str) -> tuple[int, ...] | None:
    m = re.fullmatch(r"v?(\d+(?:\.\d+){1,3})", text.strip())
    return tuple(int(p) for p in m.group(1).split(".")) if m else None


def find_runner_root(start: Path) -> Path | None:
    """The runner's install folder above the work folder: where `.runner` or bin/ is."""
    for folder in (start, *start.parents):
        if (folder / ".runner").is_file() or (folder / "bin" / "Runner.Listener").exists():
            return folder
    return None


def _version_from_root(root: Path, timeout: float) -> tuple[str | None, str]:
    listener = root / "bin" / "Runner.Listener"
    if listener.exists():
        try:
            out = subprocess.run(
                [str(listener), "--version"],
                capture_output=True, text=True, timeout=max(timeout, 10.0), check=False,
            )  # fmt: skip
            found = out.stdout.strip().splitlines()
            if out.returncode == 0 and found and _version(found[-1]):
                return found[-1].strip(), f"{listener} --version"
        except (OSError, subprocess.TimeoutExpired):
            pass
    logs = sorted((root / "_diag").glob("Runner_*.log"))
    for log in reversed(logs[-3:]):
        try:
            text = log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found = re.findall(r"Current runner version: '([0-9.]+)'", text)
        if found:
            return found[-1], log.name
    return None, ""


def check_runner_version(
    env_version: str | None, runner_root: Path | None, t: Thresholds, timeout: float
) -> CheckResult:
    version, where = (env_version, "$RUNNER_VERSION") if env_version else (None, "")
    if version is None and runner_root is not None:
        version, where = _version_from_root(runner_root, timeout)
    if version is None:
        why = "no $RUNNER_VERSION" + (
            f" and no version found under {runner_root}" if runner_root else
            " and no runner root found above the work folder (pass --runner-root)"
        )  # fmt: skip
        return CheckResult("runner-version", "runner", CheckStatus.UNKNOWN, why)
    parsed = _version(version)
    if parsed is None:
        return CheckResult(
            "runner-version", "runner", CheckStatus.UNKNOWN,
            f"{one_line(version, limit=40)!r} from {where} is not a version",
        )  # fmt: skip
    shown = ".".join(map(str, parsed))
    minimum = t.runner_min_version
    if minimum and parsed < (_version(minimum) or ()):
        return CheckResult(
            "runner-version", "runner", CheckStatus.WARNING,
            f"{shown} (from {where}) is older than the minimum {minimum}", shown,
        )  # fmt: skip
    return CheckResult("runner-version", "runner", CheckStatus.OK, f"{shown} (from {where})", shown)


def check_work_size(folder: Path, t: Thresholds, budget: float) -> CheckResult:
    """What the work folder holds on disk (like `du -s`), within a time budget."""
    target = str(folder)
    if not folder.is_dir():
        return CheckResult("work-size", target, CheckStatus.UNKNOWN, "not a folder")
    deadline = time.monotonic() + budget
    total = 0
    complete = True
    stack = [str(folder)]
    seen: set[tuple[int, int]] = set()
    while stack:
        if time.monotonic() > deadline:
            complete = False
            break
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue  # a job's private folder; count what can be read
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in seen:
                    continue  # hard links count once, as du does
                if st.st_nlink > 1:
                    seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    gib = total / GIB
    warn, crit = t.work_size_warning, t.work_size_critical
    if crit is not None and gib >= crit:
        status = CheckStatus.CRITICAL
    elif warn is not None and gib >= warn:
        status = CheckStatus.WARNING
    elif complete:
        status = CheckStatus.OK
    else:
        return CheckResult(
            "work-size", target, CheckStatus.UNKNOWN,
            f"stopped counting after {budget:g} s at {gib:.1f} GiB", round(gib, 2), "GiB",
        )  # fmt: skip
    levels = []
    if warn is not None:
        levels.append(f"warning at {warn:g} GiB")
    if crit is not None:
        levels.append(f"critical at {crit:g} GiB")
    more = "at least " if not complete else ""
    amount = f"{gib:.2f} GiB" if gib >= 1 else f"{total / 1024**2:.1f} MiB"
    summary = f"{more}{amount}" + (f"; {', '.join(levels)}" if levels else "")
    return CheckResult("work-size", target, status, summary, round(gib, 4), "GiB")


# ----- running them all -----------------------------------------------------------------------


def _guarded(check: str, target: str, fn: Callable[[], Sequence[CheckResult]]):
    try:
        return list(fn())
    except Exception as e:  # one broken check must not hide the others
        why = f"could not run: {type(e).__name__}: {one_line(str(e), limit=160)}"
        return [CheckResult(check, target, CheckStatus.UNKNOWN, why)]


def run_checks(plan: CheckPlan) -> list[CheckResult]:
    """Run every check not skipped, side by side; results come back in a fixed order."""
    t, folder, timeout = plan.thresholds, plan.work_folder, plan.timeout
    # (what it checks, target shown if it breaks, the work); skipped names are left out.
    jobs: list[tuple[frozenset[str], str, Callable[[], Sequence[CheckResult]]]] = [
        (frozenset({"disk", "inodes"}), str(folder), lambda: check_disk(folder, t)),
        (frozenset({"memory"}), "this host", lambda: [check_memory(t)]),
        (frozenset({"docker"}), "docker", lambda: [check_docker(plan.docker_host, timeout)]),
        *((frozenset({"dns", "tls"}), str(e), _network_job(e, plan)) for e in plan.endpoints),
        (
            frozenset({"clock"}),
            plan.api_url,
            lambda: [check_clock(plan.api_url, plan.ca_file, timeout, t)],
        ),
        (
            frozenset({"runner-version"}),
            "runner",
            lambda: [
                check_runner_version(
                    plan.runner_version,
                    plan.runner_root or find_runner_root(folder),
                    t,
                    timeout,
                )
            ],
        ),
        (
            frozenset({"work-size"}),
            str(folder),
            lambda: [check_work_size(folder, t, plan.size_budget)],
        ),
    ]
    wanted = [(sorted(names)[0], target, fn) for names, target, fn in jobs if names - plan.skip]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(_guarded, *job) for job in wanted]
        results = [result for f in futures for result in f.result()]
    return [r for r in results if r.check not in plan.skip]


def _network_job(endpoint: Endpoint, plan: CheckPlan) -> Callable[[], list[CheckResult]]:
    def run() -> list[CheckResult]:
        dns = check_dns(endpoint, plan.timeout)
        if dns.status is CheckStatus.OK:
            tls = check_tls(endpoint, plan.ca_file, plan.timeout, plan.thresholds)
        else:
            why = "not tried: the name does not resolve"
            tls = CheckResult("tls", str(endpoint), CheckStatus.UNKNOWN, why)
        return [dns, tls]

    return run


def overall(results: Sequence[CheckResult]) -> CheckStatus:
    """The worst status; unknown only when nothing else was found."""
    order = (CheckStatus.CRITICAL, CheckStatus.WARNING, CheckStatus.OK, CheckStatus.UNKNOWN)
    for status in order:
        if any(r.status is status for r in results):
            return status
    return CheckStatus.OK
