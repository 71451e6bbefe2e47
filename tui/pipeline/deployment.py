"""A deployment run as a CI job sees it (flags, with GitHub Actions' variables as defaults), and
the markers that tie an incident issue to its pipeline and each notification to its run."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from tui.config import ConfigError

_REPO = re.compile(r"[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}")
FAILURE_LABEL = "deployment-failure"
LABEL_LIMIT = 50  # GitHub's longest label name


@dataclass(frozen=True)
class DeploymentRun:
    """Which pipeline failed or recovered, and where its run is."""

    repository: str
    environment: str
    workflow: str
    run_id: str
    run_attempt: str = "1"
    server_url: str = "https://github.com"
    job: str | None = None
    step: str | None = None
    sha: str | None = None
    ref: str | None = None
    actor: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "server_url", self.server_url.rstrip("/"))
        if not _REPO.fullmatch(self.repository):
            raise ConfigError(
                f"repository {self.repository!r} is not OWNER/NAME (--repository or "
                "$GITHUB_REPOSITORY)"
            )
        if not self.environment.strip():
            raise ConfigError("say which environment was deployed to: --environment NAME")
        if not self.workflow.strip():
            raise ConfigError("the workflow is unknown: --workflow NAME or $GITHUB_WORKFLOW")
        if not self.run_id.isdigit():
            raise ConfigError("the run id must be a number (--run-id or $GITHUB_RUN_ID)")
        if not self.run_attempt.isdigit():
            raise ConfigError("the run attempt must be a number (--run-attempt)")

    @classmethod
    def from_flags(cls, flags: Mapping[str, str | None], env: Mapping[str, str]) -> DeploymentRun:
        """Flags first, else the variables GitHub Actions sets in every job."""

        def pick(flag: str, var: str | None, default: str | None = None) -> str | None:
            value = flags.get(flag)
            if value:
                return value
            return (env.get(var) if var else None) or default

        return cls(
            repository=pick("repository", "GITHUB_REPOSITORY") or "",
            environment=pick("environment", None) or "",
            workflow=pick("workflow", "GITHUB_WORKFLOW") or "",
            run_id=pick("run_id", "GITHUB_RUN_ID") or "",
            run_attempt=pick("run_attempt", "GITHUB_RUN_ATTEMPT", "1") or "1",
            server_url=str(pick("server_url", "GITHUB_SERVER_URL", "https://github.com")),
            job=pick("job", "GITHUB_JOB"),
            step=pick("step", None),
            sha=pick("sha", "GITHUB_SHA"),
            ref=pick("ref", "GITHUB_REF_NAME"),
            actor=pick("actor", "GITHUB_ACTOR"),
        )

    @property
    def run_url(self) -> str:
        url = f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
        return url if self.run_attempt == "1" else f"{url}/attempts/{self.run_attempt}"

    @property
    def incident_key(self) -> str:
        """The same for every run of this pipeline: repository + workflow + environment."""
        text = "\n".join((self.repository.lower(), self.workflow, self.environment))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def incident_marker(self) -> str:
        return f"<!-- runnerdoc:incident {self.incident_key} -->"

    def run_marker(self, kind: str) -> str:
        """Marks one notification of one run attempt, so a re-run of it adds nothing."""
        return f"<!-- runnerdoc:run {self.run_id}.{self.run_attempt} {kind} -->"

    @property
    def environment_label(self) -> str:
        return f"env:{self.environment}"[:LABEL_LIMIT]

    @property
    def short_sha(self) -> str | None:
        return self.sha[:10] if self.sha else None
