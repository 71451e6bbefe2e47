"""What a runbook is once parsed: `Runbook`, its `Step`s and declared `Parameter`s.

Plain data, no I/O: the parser builds these, the engine, the site and the TUI read them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

STEP_KINDS = ("diagnose", "remediate", "verify", "rollback")
TARGETS = ("runner", "local")
SEVERITIES = ("critical", "warning", "info")
PARAMETER_TYPES = ("string", "path", "integer", "url", "secret")
SECTIONS = (
    "Meaning",
    "Impact",
    "Diagnosis",
    "Mitigation",
    "Verification",
    "Escalation",
    "Related log signatures",
)
# Which section a step of each kind must live in.
SECTION_OF_KIND = {
    "diagnose": "Diagnosis",
    "remediate": "Mitigation",
    "rollback": "Mitigation",
    "verify": "Verification",
}
# Parameters runnerdoc fills from the runner being fixed and the configuration.
CONTEXT_PARAMETERS = ("runner", "github_url", "github_api_url", "github_scope")

# `{name}` is a placeholder; `{{` and `}}` are literal braces; `${name}` is shell.
PLACEHOLDER = re.compile(r"\{\{|\}\}|(?<!\$)\{([a-z][a-z0-9_]*)\}")


class ParameterError(ValueError):
    """A parameter value that a runbook does not accept; the message is one line."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    pattern: str | None
    default: str | None
    description: str
    line: int

    def validate(self, value: str) -> str:
        """Return the value if the declaration accepts it, else raise ParameterError."""
        if not isinstance(value, str):
            value = str(value)
        if "\x00" in value:
            raise ParameterError(f"parameter {self.name}: value contains a NUL byte")
        if self.type == "integer" and not re.fullmatch(r"-?[0-9]+", value):
            raise ParameterError(f"parameter {self.name}: {value!r} is not an integer")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            shown = "<secret>" if self.type == "secret" else repr(value)
            raise ParameterError(
                f"parameter {self.name}: {shown} does not match pattern {self.pattern}"
            )
        return value


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    kind: str
    command: str
    language: str
    section: str
    prose: str
    line: int  # the step's heading
    fence_line: int
    target: str = "runner"
    confirm: bool = False
    destructive: bool = False
    timeout: int = 60
    expect_exit: tuple[int, ...] = (0,)
    expect_output: str | None = None
    expect_no_output: str | None = None
    on_fail: str = "next"
    on_pass: str = "next"
    rollback: str | None = None
    capture: str | None = None

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Parameter names used by the command, in order of first use."""
        seen: dict[str, None] = {}
        for m in PLACEHOLDER.finditer(self.command):
            if m.group(1):
                seen.setdefault(m.group(1), None)
        return tuple(seen)

    @property
    def changes_things(self) -> bool:
        return self.kind in ("remediate", "rollback")

    def render(self, values: Mapping[str, str]) -> str:
        """The command with each placeholder replaced by its value, shell-quoted.

        Values must already be validated (`Runbook.resolve`); quoting here is what
        keeps `;`, `$()`, quotes or newlines in a value from ever running as code.
        """

        def substitute(m: re.Match[str]) -> str:
            token = m.group(0)
            if token == "{{":
                return "{"
            if token == "}}":
                return "}"
            name = m.group(1)
            if name not in values:
                raise ParameterError(f"step {self.name}: no value for parameter {name}")
            value = values[name]
            # A value starting with "-" stays one word but could read as an option
            # to the program; runbooks put such values after "--" or in a path.
            return shlex.quote(value)

        return PLACEHOLDER.sub(substitute, self.command)


@dataclass(frozen=True)
class DetectionRule:
    source: str  # github | metric
    line: int
    state: str | None = None
    query: str | None = None
    op: str | None = None
    threshold: float | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def holds(self, value: float) -> bool:
        """Whether a metric value is over the rule's threshold (for `source: metric`)."""
        assert self.op is not None and self.threshold is not None
        return {
            "<": value < self.threshold,
            "<=": value <= self.threshold,
            ">": value > self.threshold,
            ">=": value >= self.threshold,
            "==": value == self.threshold,
            "!=": value != self.threshold,
        }[self.op]


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    severity: str
    team: str
    summary: str
    symptom: str
    time_to_remediate: str
    alerts: tuple[str, ...]
    detection: tuple[DetectionRule, ...]
    parameters: Mapping[str, Parameter]
    quick_reference: Mapping[str, str]
    escalation: str
    steps: tuple[Step, ...]
    sections: Mapping[str, str]  # section name -> its Markdown
    body: str  # the page without front matter
    path: Path

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"runbook {self.id} has no step {name!r}")

    def has_step(self, name: str) -> bool:
        return any(s.name == name for s in self.steps)

    def resolve(self, given: Mapping[str, str]) -> dict[str, str]:
        """Validate given values against the declarations, filling defaults.

        Unknown names are refused rather than ignored: a typo in `--param` must not
        silently fall back to a default on a production host.
        """
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise ParameterError(
                f"runbook {self.id}: unknown parameter {unknown[0]}"
                f" (declared: {', '.join(sorted(self.parameters)) or 'none'})"
            )
        values: dict[str, str] = {}
        for name, p in self.parameters.items():
            if name in given:
                values[name] = p.validate(given[name])
            elif p.default is not None:
                values[name] = p.validate(p.default)
        return values

    def missing(
        self, values: Mapping[str, str], steps: tuple[Step, ...] | None = None
    ) -> list[str]:
        """Parameters the given steps need that have no value and no capturing step."""
        steps = self.steps if steps is None else steps
        captured = {s.capture for s in self.steps if s.capture}
        need: dict[str, None] = {}
        for s in steps:
            for name in s.placeholders:
                if name not in values and name not in captured:
                    need.setdefault(name, None)
        return list(need)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(n for n, p in self.parameters.items() if p.type == "secret")
