"""Subcommands of the pipeline integrations, added to `runnerdoc`'s parser."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add check, notify, metrics and failover; `common` carries --config/--lab/scope."""
