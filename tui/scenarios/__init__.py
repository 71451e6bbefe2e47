"""Failure scenarios (story INFRA-474): break a runner on purpose, watch runnerdoc notice,
fix it with the runbook, and time every step. Definitions, the runner and the reports."""
