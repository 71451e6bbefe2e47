"""Which runbooks apply to one runner, until diagnosis names a cause: a pure function.

A runbook applies when one of its `source: github` detection rules names the runner's
state, or when a firing alert on the runner points to it (its runbook_url, else the
runbook whose front matter lists the alert's name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tui.model import Alert, RunnerState
from tui.runbooks.publish import SEVERITY_ORDER
from tui.runbooks.runbook import Runbook


@dataclass(frozen=True)
class ApplicableRunbook:
    """A runbook that applies, with the reasons in the on-call's words."""

    runbook: Runbook
    reasons: tuple[str, ...]


def applicable_runbooks(
    state: RunnerState,
    alerts: Iterable[Alert],
    runbooks: Mapping[str, Runbook],
) -> list[ApplicableRunbook]:
    """Runbooks for a runner in `state` with these firing `alerts`, most severe first."""
    reasons: dict[str, list[str]] = {}
    for runbook in runbooks.values():
        for rule in runbook.detection:
            if rule.source == "github" and rule.state == state.value:
                reasons.setdefault(runbook.id, []).append(f"runner is {state.value}")
                break
    for alert in alerts:
        named = alert.runbook_id
        if named not in runbooks:
            # An alert without a usable link still names its runbook through front matter.
            named = next((r.id for r in runbooks.values() if alert.name in r.alerts), None)
        if named is None:
            continue
        why = f"alert {alert.name} is firing"
        if why not in reasons.setdefault(named, []):
            reasons[named].append(why)
    found = [ApplicableRunbook(runbooks[rid], tuple(why)) for rid, why in reasons.items()]
    # Alerts first within a severity: a firing alert is stronger evidence than a state.
    return sorted(
        found,
        key=lambda a: (
            SEVERITY_ORDER.get(a.runbook.severity, 9),
            not any(w.startswith("alert") for w in a.reasons),
            a.runbook.title,
        ),
    )
