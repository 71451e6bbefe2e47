"""Developer sessions. `./dev test` runs lint, tests and docs in the project's .venv.

Run a session on its own with `nox -s NAME` (its own virtualenv) or, as `./dev` does,
`nox --no-venv -s NAME` inside the already provisioned .venv.
"""

from __future__ import annotations

import nox
from nox.virtualenv import PassthroughEnv

nox.options.sessions = ["lint", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session, *extras: str) -> None:
    # Under --no-venv the environment was provisioned by ./dev already.
    if not isinstance(session.virtualenv, PassthroughEnv):
        session.install("-e", f".[{','.join(extras)}]")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check, and lint every runbook."""
    _install(session, "dev")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("runnerdoc", "runbook", "lint")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole pytest suite. pytest's exit 5 (no tests ran) fails the session."""
    _install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site strictly into site/."""
    _install(session, "docs")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def serve(session: nox.Session) -> None:
    """Serve the site with live reload on 127.0.0.1:8000."""
    _install(session, "docs")
    session.run("mkdocs", "serve", "--dev-addr", "127.0.0.1:8000")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark in benchmarks/, each printing its figures (never asserted in tests)."""
    _install(session, "test")
    import glob

    for script in sorted(glob.glob("benchmarks/bench_*.py")):
        session.log(f"--- {script}")
        session.run("python", script)
