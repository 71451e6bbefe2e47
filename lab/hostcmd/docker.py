"""The docker CLI on a lab host, talking to the host's simulated daemon.

It refuses like the real CLI: "Cannot connect to the Docker daemon" while docker.service is
down, "permission denied" on the socket for an account outside the docker group.
"""

from __future__ import annotations

import time
from typing import Any

from lab.host import resources
from lab.host.runner_service import docker_works
from lab.hostcmd.session import Session, err, out

VERSION = "27.3.1"
DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?"
)


def _denied(endpoint: str) -> str:
    return (
        "permission denied while trying to connect to the Docker daemon socket at "
        f'unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.47/{endpoint}": '
        "dial unix /var/run/docker.sock: connect: permission denied"
    )


def _ago(ts: float) -> str:
    seconds = max(0, time.time() - ts)
    for size, word in ((86400 * 7, "week"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {word}{'s' if n != 1 else ''} ago"
    return "Less than a second ago"


def _client_info() -> None:
    out("Client: Docker Engine - Community")
    out(f" Version:    {VERSION}")
    out(" Context:    default")
    out(" Debug Mode: false")
    out(" Plugins:")
    out("  buildx: Docker Buildx (Docker Inc.)")
    out("    Version:  v0.17.1")
    out("    Path:     /usr/libexec/docker/cli-plugins/docker-buildx")
    out()


def cmd_docker(session: Session, args: list[str]) -> int:
    words = [a for a in args if not a.startswith("-")]
    verb = words[0] if words else ""
    if verb in ("", "help") or args in (["--help"], ["-h"]):
        out("Usage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers")
        return 0
    if args in (["--version"], ["-v"]):
        out(f"Docker version {VERSION}, build ce12230")
        return 0
    endpoint = {
        "info": "info",
        "ps": "containers/json",
        "images": "images/json",
        "system": "system/df",
        "version": "version",
    }.get(verb, verb)
    state = session.host.read()
    allowed = session.is_root(state) or session.in_group(state, "docker")
    if verb == "info":
        _client_info()
        out("Server:")
    if not allowed:
        message = _denied(endpoint)
        err(f"ERROR: {message}" if verb == "info" else message)
        if verb == "info":
            err("errors pretty printing info")
        return 1
    if not docker_works(state):
        err(f"ERROR: {DOWN}" if verb == "info" else DOWN)
        if verb == "info":
            err("errors pretty printing info")
        return 1
    if verb == "info":
        return _info(state)
    if verb == "version":
        out(
            f"Client: Docker Engine - Community\n Version:           {VERSION}\n\n"
            f"Server: Docker Engine - Community\n Engine:\n  Version:          {VERSION}"
        )
        return 0
    if verb == "ps":
        return _ps(state, args)
    if verb == "images":
        return _images(state)
    if verb == "system" and len(words) > 1 and words[1] == "df":
        return _system_df(state)
    if verb == "system" and len(words) > 1 and words[1] == "prune":
        return _prune(session, args, everything=True)
    if verb in ("container", "image", "builder") and len(words) > 1 and words[1] == "prune":
        return _prune(session, args, only=verb)
    if verb == "run":
        image = next((w for w in words[1:]), "")
        if image.startswith("hello-world"):
            out(
                "\nHello from Docker!\nThis message shows that your installation appears to be "
                "working correctly.\n"
            )
            return 0
        err(
            f"docker: Error response from daemon: pull access denied for {image}, repository does"
            " not exist or may require 'docker login' (this lab host runs no containers)."
        )
        return 125
    err(f"docker: '{verb}' is not a docker command on this lab host.\nSee 'docker --help'")
    return 1


def _info(state: dict[str, Any]) -> int:
    docker = state["docker"]
    running = sum(1 for c in docker["containers"] if c["running"])
    out(f" Containers: {len(docker['containers'])}")
    out(f"  Running: {running}")
    out("  Paused: 0")
    out(f"  Stopped: {len(docker['containers']) - running}")
    out(f" Images: {len(docker['images'])}")
    out(f" Server Version: {VERSION}")
    out(" Storage Driver: overlay2")
    out("  Backing Filesystem: extfs")
    out(" Logging Driver: journald")
    out(" Cgroup Driver: systemd")
    out(" Cgroup Version: 2")
    out(" Kernel Version: 6.1.0-28-cloud-amd64")
    out(" Operating System: Debian GNU/Linux 12 (bookworm)")
    out(" OSType: linux")
    out(" Architecture: x86_64")
    out(" CPUs: 4")
    out(f" Total Memory: {state['memory']['total'] / 1024**3:.2f}GiB")
    out(f" Name: {state['name']}")
    out(" Docker Root Dir: /var/lib/docker")
    out(" Live Restore Enabled: false")
    return 0


def _ps(state: dict[str, Any], args: list[str]) -> int:
    show_all = any(a in ("-a", "--all") or a == "-aq" or a == "-qa" for a in args)
    quiet = any(a in ("-q", "--quiet", "-aq", "-qa") for a in args)
    rows = [c for c in state["docker"]["containers"] if show_all or c["running"]]
    if quiet:
        for c in rows:
            out(c["id"])
        return 0
    out(
        f"{'CONTAINER ID':<15}{'IMAGE':<20}{'COMMAND':<25}{'CREATED':<15}{'STATUS':<25}"
        f"{'PORTS':<10}NAMES"
    )
    for c in rows:
        out(
            f"{c['id']:<15}{c['image']:<20}{c['command']:<25}{_ago(c['created']):<15}"
            f"{c['status']:<25}{'':<10}{c['name']}"
        )
    return 0


def _images(state: dict[str, Any]) -> int:
    out(f"{'REPOSITORY':<12}{'TAG':<14}{'IMAGE ID':<15}{'CREATED':<15}SIZE")
    for i in state["docker"]["images"]:
        out(
            f"{i['repository']:<12}{i['tag']:<14}{i['id'][7:19]:<15}{_ago(i['created']):<15}"
            f"{resources.docker_size(i['size'])}"
        )
    return 0


def _system_df(state: dict[str, Any]) -> int:
    docker = state["docker"]
    b = resources.docker_bytes(state)
    images_active = sum(1 for i in docker["images"] if i.get("in_use"))
    running = [c for c in docker["containers"] if c["running"]]
    image_reclaim = sum(i["size"] for i in docker["images"] if not i.get("in_use"))
    container_reclaim = sum(c["size"] for c in docker["containers"] if not c["running"])
    volume_reclaim = sum(v["size"] for v in docker["volumes"] if not v.get("in_use"))

    def pct(part: int, whole: int) -> str:
        return f"{resources.docker_size(part)} ({part * 100 // whole if whole else 0}%)"

    cache = docker["build_cache"]
    rows = [
        ("TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"),
        (
            "Images",
            str(len(docker["images"])),
            str(images_active),
            resources.docker_size(b["images"]),
            pct(image_reclaim, b["images"]),
        ),
        (
            "Containers",
            str(len(docker["containers"])),
            str(len(running)),
            resources.docker_size(b["containers"]),
            pct(container_reclaim, b["containers"]),
        ),
        (
            "Local Volumes",
            str(len(docker["volumes"])),
            "0",
            resources.docker_size(b["volumes"]),
            pct(volume_reclaim, b["volumes"]),
        ),
        (
            "Build Cache",
            str(cache["count"]),
            "0",
            resources.docker_size(cache["size"]),
            resources.docker_size(cache["size"]),
        ),
    ]
    for row in rows:
        out(f"{row[0]:<16}{row[1]:<10}{row[2]:<10}{row[3]:<10}{row[4]}")
    return 0


def _prune(session: Session, args: list[str], *, everything: bool = False, only: str = "") -> int:
    force = any(a in ("-f", "--force") for a in args)
    if not force:
        out(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by "
            "at least one container\n  - all dangling images\n  - unused build cache\n\n"
            "Are you sure you want to continue? [y/N] "
        )
        return 1
    reclaimed = 0
    with session.host.locked() as state:
        docker = state["docker"]
        if everything or only == "container":
            gone = [c for c in docker["containers"] if not c["running"]]
            docker["containers"] = [c for c in docker["containers"] if c["running"]]
            if gone:
                out("Deleted Containers:")
                for c in gone:
                    out(c["id"] + "0" * 52)
                out()
            reclaimed += sum(c["size"] for c in gone)
        if everything or only == "builder":
            cache = docker["build_cache"]
            # --filter until=24h keeps what is newer; the lab's cache is days old.
            if cache["size"] and time.time() - cache["created"] > 86400:
                out("Deleted build cache objects:")
                for n in range(min(3, cache["count"])):
                    out(f"{n:x}qz8j1k5n2{n}t7vxa3y6b4mcw")
                out()
                reclaimed += cache["size"]
                docker["build_cache"] = {"count": 0, "size": 0, "created": time.time()}
        if only == "image" or "--all" in args or "-a" in args:
            unused = (
                [i for i in docker["images"] if not i.get("in_use")]
                if ("--all" in args or "-a" in args)
                else []
            )
            docker["images"] = [i for i in docker["images"] if i not in unused]
            reclaimed += sum(i["size"] for i in unused)
    out(f"Total reclaimed space: {resources.docker_size(reclaimed) if reclaimed else '0B'}")
    return 0
