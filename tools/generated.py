"""The command line the generators share: build a file, write it, or --check it is current.

`python tools/build_rules.py` and `python tools/build_dashboard.py` write what they build;
with --check (CI) they exit 1 when the committed file differs from a fresh build.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def generator_main(
    script: str,
    description: str,
    build: Callable[[str], str],
    error: type[Exception],
    output: Path,
    argv: Sequence[str] | None = None,
) -> int:
    """Parse --base-url/--output/--check, build, and write or compare. Exit 2: bad input."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"where the runbook site is published (default {DEFAULT_BASE_URL})",
    )
    parser.add_argument("--output", type=Path, default=output, help="file to write")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs from a fresh build"
    )
    args = parser.parse_args(argv)
    try:
        text = build(args.base_url)
    except error as exc:
        print(f"{script}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python tools/{script}.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0
