"""MkDocs hooks: build the generated pages from runbooks, signatures and query templates.

Generated content is produced at build time from the same files the program
reads, so the site can never show a step, a signature or a query that differs
from what `runnerdoc` runs. A source that does not load fails the build.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

from tui.runbooks.publish import escalation_list, quick_reference, runbook_index, runbook_page

log = logging.getLogger("mkdocs.plugins.runnerdoc")
ROOT = Path(__file__).resolve().parent.parent
# Material's offline plugin loads this shim from a CDN; the site must work from files
# with no network, so the build serves the copy installed from the npm registry.
SHIM = ROOT / "tools" / "site-assets" / "node_modules" / "iframe-worker" / "shim" / "index.js"
SHIM_URI = "assets/javascripts/iframe-worker-shim.js"
# Generated reference pages rank below runbooks, so a search for a log line lands
# on the runbook that answers it.
REFERENCE_FRONT_MATTER = "---\nsearch:\n  boost: 0.2\n---\n\n"
_state: dict[str, object] = {}

MARKERS = {
    "<!-- runnerdoc:quick-reference -->": lambda: quick_reference(_state["runbooks"]),
    "<!-- runnerdoc:escalation -->": lambda: escalation_list(_state["runbooks"]),
    "<!-- runnerdoc:runbook-index -->": lambda: runbook_index(_state["runbooks"]),
}


def _load() -> None:
    # Imported here: `runnerdoc runbook lint` loads mkdocs.yml (and so this file) only
    # for its Markdown settings, and must not need the query templates for that.
    from tui.queries import TemplateError, load_templates
    from tui.runbooks.parse import load_runbooks
    from tui.runbooks.problems import ContentError
    from tui.runbooks.signatures import load_signatures

    try:
        _state["runbooks"] = load_runbooks()
        _state["signatures"] = load_signatures()
        _state["templates"] = load_templates()
    except ContentError as e:
        raise PluginError("runbooks do not load:\n" + "\n".join(map(str, e.problems))) from e
    except TemplateError as e:
        raise PluginError(f"query templates do not load: {e}") from e


def _signatures_page() -> str:
    sigs = _state["signatures"]
    out = [
        "# Log signatures",
        "",
        "The runner's own messages that `runnerdoc diagnose` recognises, generated from",
        "`docs/runbooks/signatures.yaml`. Each pattern matches the stable core of a line",
        "(Python regular expression); the examples are lines as real logs write them.",
        "",
    ]
    by_book: dict[str, list] = {}
    for s in sigs:
        by_book.setdefault(s.runbook, []).append(s)
    runbooks = _state["runbooks"]
    for book_id in sorted(by_book):
        title = runbooks[book_id].title if book_id in runbooks else book_id
        out.append(f"## [{title}](../runbooks/{book_id}.md)\n")
        for s in by_book[book_id]:
            out.append(f"### {s.title} {{ #{s.id} }}\n")
            out.append(
                f"Matched text: `{s.pattern.pattern}` · where: {s.where} · severity:"
                f" {s.severity} · confidence {s.confidence:.2f} · answered by step"
                f" [`{s.step}`](../runbooks/{s.runbook}.md#{s.step})\n"
            )
            out.append("```text\n" + "\n".join(s.examples) + "\n```\n")
    return "\n".join(out)


def _alerts_page() -> str:
    from tui.monitoring_pages import alerts_markdown

    return alerts_markdown(_state["runbooks"])


def _dashboard_page() -> str:
    from tui.monitoring_pages import dashboard_markdown

    return dashboard_markdown()


def _scenario_results_page() -> str:
    from tui.scenarios.reports import latest_results_markdown

    # RUNNERDOC_SCENARIO_REPORT names another report folder (a CI artefact, a test's sample).
    return latest_results_markdown(root=ROOT, folder=os.environ.get("RUNNERDOC_SCENARIO_REPORT"))


def _queries_page() -> str:
    from tui.queries import reference_markdown

    return reference_markdown(_state["templates"])


@event_priority(-100)  # after the offline plugin has added the CDN address
def on_config(config):
    polyfills = config.extra.get("polyfills", [])
    config.extra["polyfills"] = [SHIM_URI if "iframe-worker" in p else p for p in polyfills]
    return config


def on_post_build(config):
    if SHIM_URI not in config.extra.get("polyfills", []):
        return
    if not SHIM.exists():
        raise PluginError(f"{SHIM} is missing: run ./dev setup (npm ci in tools/site-assets)")
    target = Path(config.site_dir) / SHIM_URI
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHIM, target)


def on_files(files, config):
    _load()
    generated = {
        "reference/queries.md": _queries_page,
        "reference/signatures.md": _signatures_page,
        "reference/alerts.md": _alerts_page,
        "reference/dashboard.md": _dashboard_page,
        "reference/scenario-results.md": _scenario_results_page,
    }
    for uri, make in generated.items():
        files.append(File.generated(config, uri, content=REFERENCE_FRONT_MATTER + make()))
    return files


def on_page_markdown(markdown, page, config, files):
    uri = page.file.src_uri
    if uri.startswith("runbooks/") and uri.endswith(".md") and uri != "runbooks/index.md":
        runbook = _state["runbooks"].get(uri.removeprefix("runbooks/").removesuffix(".md"))
        if runbook is None:
            raise PluginError(f"{uri}: a page in runbooks/ that is not a valid runbook")
        from tui.monitoring_pages import alerts_for_runbook

        markdown = runbook_page(
            markdown, runbook, _state["signatures"], alerts=alerts_for_runbook(runbook.id)
        )
    for marker, make in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
