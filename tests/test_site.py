"""The published site: strict build, generated pages, search and printing in real Chromium."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from tui.queries import load_templates
from tui.runbooks.parse import load_runbooks
from tui.runbooks.signatures import load_signatures


def test_site_builds_strict_with_every_runbook_and_reference_page(built_site):
    for rid in load_runbooks():
        page = (built_site / "runbooks" / f"{rid}.html").read_text()
        assert "Related log signatures" in page
    queries = (built_site / "reference" / "queries.html").read_text()
    for tid in load_templates():
        assert f'id="{tid}"' in queries, tid
    signatures = (built_site / "reference" / "signatures.html").read_text()
    for sig in load_signatures():
        assert f'id="{sig.id}"' in signatures, sig.id
    assert (built_site / "print_page.html").exists()


def test_each_runbook_page_shows_its_signatures_and_step_badges(built_site):
    by_book: dict[str, list] = {}
    for sig in load_signatures():
        by_book.setdefault(sig.runbook, []).append(sig)
    for rid, runbook in load_runbooks().items():
        page = (built_site / "runbooks" / f"{rid}.html").read_text()
        tail = page.split('id="related-log-signatures"', 1)[1]
        for sig in by_book.get(rid, []):
            assert f'id="sig-{sig.id}"' in tail, (rid, sig.id)
        for step in runbook.steps:
            assert f'id="{step.name}"' in page, (rid, step.name)
        assert page.count('class="rd-kind ') == len(runbook.steps)


def test_every_step_renders_as_highlighted_code(built_site):
    for rid, runbook in load_runbooks().items():
        page = (built_site / "runbooks" / f"{rid}.html").read_text()
        assert page.count('<div class="highlight"') >= len(runbook.steps), rid


def search(page, text: str) -> None:
    """Type into the site's search once its index has loaded, as a person would."""
    page.locator("label.md-search__icon, .md-search__input").first.click()
    meta = page.locator(".md-search-result__meta")
    meta.wait_for(state="attached", timeout=15000)
    page.wait_for_function(
        "() => !/Initializing/i.test(document.querySelector('.md-search-result__meta')"
        ".textContent)",
        timeout=15000,
    )
    # Typed key by key: Material runs the query on keyboard input, and fill() alone
    # does not always reach it.
    page.locator(".md-search__input").first.press_sequentially(text, delay=20)


@pytest.mark.browser
def test_search_for_a_log_line_leads_to_the_runbook(browser, site_url):
    page = browser.new_page()
    page.goto(site_url + "index.html")
    search(page, "No space left on device")
    first = page.locator(".md-search-result__item a").first
    first.wait_for(timeout=15000)
    href = first.get_attribute("href") or ""
    assert "runbooks/degraded-resources.html" in href, href
    first.click()
    page.wait_for_load_state()
    assert "Degraded" in page.title() or "degraded" in page.url
    page.close()


@pytest.mark.browser
def test_search_works_from_files_without_a_server(browser, built_site):
    page = browser.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None
        ),
    )
    page.goto((built_site / "index.html").as_uri())
    search(page, "Session Conflict")
    first = page.locator(".md-search-result__item a").first
    first.wait_for(timeout=15000)
    assert "registration-clock" in (first.get_attribute("href") or "")
    assert outside == []
    page.close()


@pytest.mark.browser
def test_quick_reference_prints_on_at_most_two_a4_pages(browser, site_url):
    page = browser.new_page()
    page.goto(site_url + "quick-reference.html")
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", prefer_css_page_size=True, print_background=False)
    pages = PdfReader(io.BytesIO(pdf)).pages
    text = "\n".join(p.extract_text() for p in pages)
    page.close()
    Path("/tmp/runnerdoc-quick-reference.pdf").write_bytes(pdf)
    assert 1 <= len(pages) <= 2, f"quick reference prints on {len(pages)} pages"
    for runbook in load_runbooks().values():
        assert runbook.title in text, runbook.title
    assert "Escalation" in text


@pytest.mark.browser
def test_light_and_dark_palettes_and_code_copy(browser, site_url):
    page = browser.new_page()
    page.goto(site_url + "runbooks/runner-offline.html")
    assert page.locator("[data-md-color-scheme]").first.get_attribute("data-md-color-scheme") in (
        "default",
        "slate",
    )
    page.locator("label[for='__palette_1']").first.click()
    assert page.locator("body").get_attribute("data-md-color-scheme") == "slate"
    page.locator("pre").first.hover()
    assert page.locator("button.md-code__button, button.md-clipboard").count() >= 3
    page.close()


def test_quick_reference_commands_come_from_the_runbooks(built_site):
    page = (built_site / "quick-reference.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)
    for runbook in load_runbooks().values():
        fix = runbook.step(runbook.quick_reference["fix"])
        first_word = fix.command.split()[0]
        assert first_word in text


def test_every_alert_runbook_url_resolves_to_a_built_page(built_site):
    from urllib.parse import urlsplit

    from tui.monitoring_pages import alerts_for_runbook, load_alert_rules

    rules = load_alert_rules()
    assert rules
    for rule in rules:
        path = urlsplit(rule.runbook_url).path.lstrip("/")
        page = built_site / path
        assert page.is_file(), f"{rule.name}: {rule.runbook_url} is not a page of the site"
        html = page.read_text()
        assert "Alerts that link here" in html and f">{rule.name}<" in html, rule.name
    alerts_page = (built_site / "reference" / "alerts.html").read_text()
    for rule in rules:
        assert f'id="{rule.name.lower()}"' in alerts_page
    for rid in load_runbooks():
        for rule in alerts_for_runbook(rid):
            assert rule.runbook == rid
    assert (built_site / "reference" / "dashboard.html").is_file()


@pytest.mark.browser
def test_scenario_results_page_is_built_from_the_latest_report(browser, site_url):
    # conftest builds the site from scenario_samples' report: one pass, one fail, one skip.
    page = browser.new_page()
    page.goto(site_url + "index.html")
    page.get_by_role("link", name="Scenario results").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("reference/scenario-results.html"), page.url
    assert page.locator("h1").first.inner_text().startswith("Scenario results")
    text = page.locator("article").inner_text()
    assert "1 scenario(s) failed: fault-clock-skew" in text
    rows = page.locator("article table").first.locator("tbody tr")
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
    assert [c[:2] for c in cells] == [
        ["fault-disk-full", "pass"],
        ["fault-clock-skew", "FAIL"],
        ["automatic-failover", "skipped"],
    ], cells
    # What a step saw is shown as text: no control characters, no markup from it.
    assert "\x1b" not in text and "\x07" not in text
    assert "</failure>]]>" in text
    assert "pool-a-001 <img src=x onerror=alert(1)> | one cell" in text
    assert page.locator("article img").count() == 0
    page.close()
