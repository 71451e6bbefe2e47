"""The integration pages show what the program takes: every `runnerdoc` command in them parses,
every workflow is valid YAML, and every config example is accepted by its reader."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from tui.cli import build_parser
from tui.config import load_settings
from tui.pipeline.commands import CHECK_KEYS
from tui.pipeline.config_tables import table_reader
from tui.pipeline.failover import load_failover_config

PAGES = sorted((Path(__file__).resolve().parent.parent / "docs" / "integrations").glob("*.md"))
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[tuple[str, str]]:
    return [
        (page.name, m.group(2))
        for page in PAGES
        for m in FENCE.finditer(page.read_text())
        if m.group(1) == language
    ]


def commands(text: str) -> list[list[str]]:
    """`runnerdoc ...` invocations, with shell and Actions expressions made plain words."""
    text = text.replace("${{ job.status }}", "success")
    text = re.sub(r"\$\{\{[^}]*\}\}", "x", text)
    # Shell variables hold numbers (times, exit statuses) or free text: "1" stands for both.
    text = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_:]*\}?", "1", text)
    text = re.sub(r"\S*/runnerdoc\b", "runnerdoc", text.replace("\\\n", " "))
    found = []
    for line in re.split(r"\n|;|\|\||&&|\bthen\b|\belse\b", text):
        words = shlex.split(line, comments=True) if "runnerdoc" in line else []
        if "runnerdoc" in words:
            found.append(words[words.index("runnerdoc") + 1 :])
    return found


def test_the_pages_exist():
    assert {p.name for p in PAGES} >= {"check.md", "notify.md", "metrics.md", "failover.md"}


def test_every_command_on_the_pages_parses():
    parser = build_parser()
    seen = []
    for name, text in blocks("bash") + blocks("console") + blocks("ini"):
        seen += [(name, argv) for argv in commands(text.replace("$ runnerdoc", "runnerdoc"))]
    for name, text in blocks("yaml"):
        for step in _steps(yaml.safe_load(text)):
            seen += [(name, argv) for argv in commands(step.replace("\n", " "))]
    assert len(seen) >= 15
    for name, argv in seen:
        if argv and argv[0] in ("check", "notify", "metrics", "failover", "query"):
            try:
                parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"{name}: `runnerdoc {' '.join(argv)}` does not parse")


def _steps(data) -> list[str]:
    """Every `run:` script in a workflow (or a fragment of one)."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "run" and isinstance(value, str):
                found.append(value)
            else:
                found += _steps(value)
    elif isinstance(data, list):
        for item in data:
            found += _steps(item)
    return found


def test_workflows_are_valid_yaml_and_failover_shows_the_runs_on_pattern():
    for _name, text in blocks("yaml"):
        yaml.safe_load(text)
    failover = (Path(PAGES[0]).parent / "failover.md").read_text()
    assert """runs-on: ${{ fromJSON(vars.CI_RUNNER || '["self-hosted","linux"]') }}""" in failover
    assert "Only jobs created after the flip move" in failover


def test_config_examples_are_accepted(tmp_path):
    for name, text in blocks("toml"):
        tomllib.loads(text)
        cfg = tmp_path / "config.toml"
        cfg.write_text(text)
        settings = load_settings(cfg, env={})
        if "[check]" in text:
            table_reader(settings, "check", CHECK_KEYS)
        if "[notify]" in text:
            table_reader(
                settings, "notify", ("slack_webhook_file", "runbook_url", "labels", "log_lines")
            )
        if "[failover]" in text:
            config = load_failover_config(settings)
            assert config.pool == "pool-a", name
