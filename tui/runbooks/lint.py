"""`runnerdoc runbook lint`: everything that can be wrong with a runbook, as file:line lines.

Beyond what the parser checks on one page, lint checks the references between
pages, signatures and query templates, and renders every command block with the
site's own Markdown configuration, because a block that the site shows as a
paragraph passes `mkdocs build --strict` unnoticed.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

from tui.runbooks.parse import RUNBOOKS_DIR, _markdown, read_runbook, runbook_files
from tui.runbooks.problems import Problem, display_path
from tui.runbooks.runbook import Runbook
from tui.runbooks.signatures import SIGNATURES_FILE, read_signatures

MKDOCS_YML = Path(__file__).resolve().parents[2] / "mkdocs.yml"


class SiteMarkdownUnavailable(RuntimeError):
    """The site's Markdown extensions are not installed (runnerdoc[docs])."""


@lru_cache(maxsize=4)
def site_renderer(config_file: Path = MKDOCS_YML) -> Callable[[str], str]:
    """A function rendering Markdown exactly as the site does, from mkdocs.yml."""
    try:
        import markdown
        from mkdocs.config import load_config
    except ImportError as e:  # pragma: no cover - depends on the install
        raise SiteMarkdownUnavailable(
            f"the site's Markdown packages are missing ({e.name}); install runnerdoc[docs]"
        ) from e
    import logging

    # load_config logs plugin chatter at INFO; lint output is for problems only.
    logging.getLogger("mkdocs").setLevel(logging.WARNING)
    config = load_config(config_file=str(config_file))
    extensions = config["markdown_extensions"]
    configs = config["mdx_configs"]

    def render(text: str) -> str:
        return markdown.Markdown(extensions=extensions, extension_configs=configs).convert(text)

    return render


def check_rendering(path: Path, text: str, render: Callable[[str], str]) -> list[Problem]:
    """Every step block must come out of the site's Markdown as a code block."""
    problems: list[Problem] = []
    lines = text.splitlines()
    for token in _markdown().parse(text):
        if token.type != "fence" or not token.map or "{" not in token.info:
            continue
        block = textwrap.dedent("\n".join(lines[token.map[0] : token.map[1]])) + "\n"
        out = render(block)
        first = token.content.strip().splitlines()[0] if token.content.strip() else ""
        words = re.findall(r"[A-Za-z0-9_./-]{3,}", first)
        text_out = html.unescape(re.sub(r"<[^>]+>", "", out))
        code_ok = "<pre" in out and "<code" in out
        if not code_ok or (words and words[0] not in text_out):
            problems.append(
                Problem(
                    display_path(path),
                    token.map[0] + 1,
                    "the site does not render this block as code (check the fence and its"
                    " braced attributes)",
                )
            )
    return problems


def _query_problems(runbook: Runbook, shown: str) -> list[Problem]:
    """Detection rules must name existing query templates with acceptable parameters."""
    problems: list[Problem] = []
    rules = [r for r in runbook.detection if r.source == "metric"]
    if not rules:
        return problems
    try:
        from tui.queries import ParameterError, TemplateError, load_templates

        templates = load_templates()
    except ImportError:  # pragma: no cover - the queries module ships with the package
        return [Problem(shown, rules[0].line, "query templates cannot be loaded")]
    except TemplateError as e:
        return [Problem(shown, rules[0].line, f"query templates do not load: {e}")]
    for rule in rules:
        if rule.query is None:
            continue
        template = templates.get(rule.query)
        if template is None:
            problems.append(
                Problem(
                    shown,
                    rule.line,
                    f"detection rule names query {rule.query!r}, which is not in queries/",
                )
            )
            continue
        if template.language != "promql":
            problems.append(
                Problem(
                    shown,
                    rule.line,
                    f"detection rule query {rule.query!r} is "
                    f"{template.language}; metric rules need promql",
                )
            )
            continue
        try:
            template.render(rule.params)
        except ParameterError as e:
            problems.append(Problem(shown, rule.line, f"detection rule: {e}"))
    return problems


def lint(
    paths: Iterable[Path] | None = None,
    *,
    signatures_file: Path | None = None,
    runbooks_dir: Path | None = None,
    render: Callable[[str], str] | None = None,
) -> list[Problem]:
    """All problems in the given runbook pages (all of them when none are given).

    Signatures are checked against every runbook in the folder; when specific
    pages are linted, only signature problems that concern them are reported.
    """
    runbooks_dir = RUNBOOKS_DIR if runbooks_dir is None else Path(runbooks_dir)
    everything = paths is None
    # index.md is a section's landing page; skipping it lets `lint docs/runbooks/*.md` work.
    targets = (
        runbook_files(runbooks_dir)
        if paths is None
        else [Path(p) for p in paths if Path(p).name != "index.md"]
    )
    problems: list[Problem] = []
    if render is None:
        try:
            render = site_renderer()
        except SiteMarkdownUnavailable as e:
            problems.append(Problem(display_path(MKDOCS_YML), 1, str(e)))

    known: dict[str, Runbook] = {}
    for path in runbook_files(runbooks_dir):
        runbook, found = read_runbook(path)
        if runbook is not None:
            known[runbook.id] = runbook

    for path in targets:
        if not path.exists():
            problems.append(Problem(display_path(path), 1, "no such runbook file"))
            continue
        if path.suffix != ".md":
            problems.append(Problem(display_path(path), 1, "a runbook is a .md file"))
            continue
        runbook, found = read_runbook(path)
        problems.extend(found)
        if runbook is not None:
            problems.extend(_query_problems(runbook, display_path(path)))
            known.setdefault(runbook.id, runbook)
        if render is not None:
            problems.extend(check_rendering(path, path.read_text(encoding="utf-8"), render))

    sig_path = SIGNATURES_FILE if signatures_file is None else Path(signatures_file)
    signatures, sig_problems = read_signatures(sig_path)
    shown = display_path(sig_path)
    target_ids = {p.stem for p in targets}
    if everything:
        problems.extend(sig_problems)
    for sig in signatures:
        if not everything and sig.runbook not in target_ids:
            continue
        book = known.get(sig.runbook)
        if book is None:
            problems.append(
                Problem(
                    shown, sig.line, f"signature {sig.id}: runbook {sig.runbook!r} does not exist"
                )
            )
        elif not book.has_step(sig.step):
            problems.append(
                Problem(
                    shown,
                    sig.line,
                    f"signature {sig.id}: runbook {sig.runbook} has no step {sig.step!r}",
                )
            )
    return sorted(set(problems))
