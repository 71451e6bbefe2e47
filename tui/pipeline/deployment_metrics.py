"""`runnerdoc metrics push|delete`: a deployment's outcome, duration and time in the
Pushgateway, one group per repository and environment (job="runnerdoc_deployments")."""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge, delete_from_gateway, push_to_gateway

JOB = "runnerdoc_deployments"
LABELS = ("repository", "environment", "version")
# GitHub Actions' job.status values; a cancelled deployment did not deploy either.
OUTCOMES = {"success": 1.0, "failure": 0.0, "cancelled": 0.0}


class PushError(Exception):
    """The Pushgateway did not take the change; the message says why in one line."""


@dataclass(frozen=True)
class Deployment:
    repository: str
    environment: str
    version: str
    outcome: str
    duration_seconds: float
    finished_at: float

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome is one of {', '.join(OUTCOMES)}, not {self.outcome!r}")
        if self.duration_seconds < 0:
            raise ValueError("a deployment cannot take less than no time")
        for name in ("repository", "environment", "version"):
            if not getattr(self, name):
                raise ValueError(f"the deployment's {name} is empty")


def grouping_key(repository: str, environment: str) -> dict[str, str]:
    return {"repository": repository, "environment": environment}


def deployment_registry(d: Deployment) -> CollectorRegistry:
    """The three gauges of one deployment, in a registry of their own."""
    registry = CollectorRegistry()
    values = (
        ("runnerdoc_deployment_success", "1 if the last deployment succeeded, 0 if it failed",
         OUTCOMES[d.outcome]),
        ("runnerdoc_deployment_duration_seconds", "How long the last deployment took",
         d.duration_seconds),
        ("runnerdoc_deployment_timestamp_seconds", "When the last deployment finished (epoch)",
         d.finished_at),
    )  # fmt: skip
    for name, doc, value in values:
        Gauge(name, doc, LABELS, registry=registry).labels(
            d.repository, d.environment, d.version
        ).set(value)
    return registry


def _with_retries(action: Callable[[], None], what: str, attempts: int, sleep) -> None:
    problem = ""
    for attempt in range(attempts):
        try:
            action()
            return
        except urllib.error.HTTPError as e:
            body = e.read(300).decode("utf-8", errors="replace") if e.fp else ""
            problem = f"the Pushgateway answered {e.code} {e.reason}: {' '.join(body.split())}"
            if e.code < 500:
                raise PushError(f"{what}: {problem}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            problem = f"cannot reach the Pushgateway ({type(reason).__name__}: {reason})"
        if attempt + 1 < attempts:
            sleep(min(8.0, 0.5 * 2**attempt))
    raise PushError(f"{what}: {problem} (tried {attempts} times)")


def push_deployment(
    gateway: str,
    d: Deployment,
    *,
    timeout: float = 10.0,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Replace the group's metrics with this deployment's (PUT, so an old version's series
    does not linger beside the new one)."""
    registry = deployment_registry(d)
    _with_retries(
        lambda: push_to_gateway(
            gateway, JOB, registry, grouping_key(d.repository, d.environment), timeout=timeout
        ),
        f"push of {d.repository} {d.environment}",
        attempts,
        sleep,
    )


def delete_deployment(
    gateway: str,
    repository: str,
    environment: str,
    *,
    timeout: float = 10.0,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Remove the group, e.g. when an environment is retired (its alert would go stale)."""
    _with_retries(
        lambda: delete_from_gateway(
            gateway, JOB, grouping_key(repository, environment), timeout=timeout
        ),
        f"delete of {repository} {environment}",
        attempts,
        sleep,
    )
