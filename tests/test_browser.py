"""The built site in a real browser (Chromium, driven by Playwright): figures readable on a
phone and on a desktop.

A figure's text is drawn as paths, at the sizes matplotlib wrote into the SVG. The browser
gives the width at which each figure is shown; the SVG gives every glyph's size in its own
units; together they give the size in CSS pixels the reader sees. Without a Chromium or Chrome
on the machine (nor Playwright's own, from `python -m playwright install chromium`) these
tests are skipped, unless REQUIRE_BROWSER is set, as CI sets it.
"""

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import chromium  # tools/, shared with the explorer's benchmark
import pytest
from conftest import ROOT, SNIPPETS

from notebooks import find_labs

pytestmark = pytest.mark.browser  # make test-browser (CI runs it), not make test

# Smallest text a reader should have to read, in CSS pixels, by viewport width.
MIN_TEXT_PX = {390: 9.0, 1280: 11.0}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:  # the system's browser, else Playwright's own
            launched = playwright.chromium.launch(
                executable_path=chromium.find(), args=chromium.ARGS
            )
        except Error as error:
            if os.environ.get("REQUIRE_BROWSER"):
                pytest.fail(f"no browser: none of {chromium.BROWSERS}, nor Playwright's: {error}")
            pytest.skip("no Chromium or Chrome found (set CHROMIUM to its path)")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served(site):
    """The built site on http://127.0.0.1:<port>/, as `mkdocs serve` would show it."""
    with chromium.serve(site) as url:
        yield url


SVG = "{http://www.w3.org/2000/svg}"


def smallest_glyph(svg: Path) -> tuple[float, float]:
    """(width of the viewBox, smallest glyph size), both in the SVG's own units.

    matplotlib draws a text as a group scaled by size/100; a glyph of mathtext (a super- or
    subscript) is scaled once more inside it.
    """
    root = ET.parse(svg).getroot()
    view_width = float(root.get("viewBox").split()[2])
    sizes = []
    for text in root.iter(f"{SVG}g"):
        if not (text.get("id") or "").startswith("text_"):
            continue
        for group in text.iter(f"{SVG}g"):
            if "scale(" not in (transform := group.get("transform") or ""):
                continue
            outer = 100 * float(transform.split("scale(")[1].split()[0].rstrip(")"))
            inner = [
                float(use.get("transform").split("scale(")[1].rstrip(")").split()[0])
                for use in group.iter(f"{SVG}use")
                if "scale(" in (use.get("transform") or "")
            ]
            sizes.append(outer * min([1.0, *inner]))
    return view_width, min(sizes)


def pages_with_figures() -> list[str]:
    """The folders of the snippets: each has a page that shows their figures."""
    return sorted({s.parent.name for s in SNIPPETS})


@pytest.mark.parametrize("width", MIN_TEXT_PX)
def test_figure_text_is_readable(width, site, served, browser):
    page = browser.new_page(viewport={"width": width, "height": 900})
    too_small, shown = [], 0
    for chapter in pages_with_figures():
        page.goto(served + chapter + "/")
        # figures in folds are measured as a reader who opens the fold sees them (only those
        # folds: opening all of them lays out every code listing, for nothing)
        page.eval_on_selector_all(
            "article img[src$='.svg']",
            """imgs => imgs.forEach(img => {
                for (let d = img.closest('details'); d; d = d.parentElement.closest('details'))
                    d.open = true;
            })""",
        )
        figures = page.eval_on_selector_all(
            "article img[src$='.svg']",
            "imgs => imgs.map(i => [i.getAttribute('src'), i.getBoundingClientRect().width])",
        )
        for src, rendered in figures:
            name = src.rsplit("/", 1)[-1]
            view_width, glyph = smallest_glyph(site / chapter / name)
            px = glyph * rendered / view_width
            shown += rendered > 0
            if px < MIN_TEXT_PX[width]:
                too_small.append(f"{chapter}/{name}: smallest text {px:.1f} px")
    page.close()
    assert shown >= len(SNIPPETS)
    assert not too_small, f"at {width} px wide, under {MIN_TEXT_PX[width]} px:\n" + "\n".join(
        too_small
    )


def test_math_is_typeset_without_javascript(site, served, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    for path in ["01-why-gradients-vanish-or-explode/", "labs/initialization-lab/"]:
        page.goto(served + path)
        assert page.locator(".katex").count() > 5, path
        text = page.inner_text("article")
        assert "\\(" not in text and "$$" not in text, f"{path}: raw TeX on the page"
    context.close()


def test_lab_outputs_scroll_on_a_phone_instead_of_wrapping(served, browser):
    """A printed table wrapped at 390 px would break its rows in the middle of a number."""
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    for lab in find_labs(ROOT):
        page.goto(f"{served}labs/{lab.stem}/")
        wrapping = page.eval_on_selector_all(
            ".jp-OutputArea-output pre",
            "pres => pres.filter(p => getComputedStyle(p).whiteSpace !== 'pre').length",
        )
        assert wrapping == 0, f"{lab.stem}: {wrapping} outputs wrap their lines"
    context.close()


def test_wide_blocks_in_a_fold_become_focusable_when_it_opens(served, browser):
    """scrollable-regions.js measures a fold's blocks only once the reader opens it: measuring
    them at load made the browser lay out every closed fold, one at a time."""
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto(served + "03-weight-initialization/", wait_until="load")
    page.wait_for_timeout(300)  # the script waits for a frame
    wide = ":is(pre > code, .katex-display, .md-typeset__scrollwrap)"
    in_folds = "details:not([open]) " + wide
    assert page.locator(in_folds).count() > 5
    assert page.locator(in_folds + "[tabindex]").count() == 0
    page.eval_on_selector_all("details:not([open])", "folds => folds.forEach(f => f.open = true)")
    all_focusable = """selector => {
        const wide = [...document.querySelectorAll(".md-content details " + selector)]
          .filter(e => e.scrollWidth > e.clientWidth + 1);
        return wide.length > 3 && wide.filter(e => e.tabIndex !== 0).length === 0;
    }"""
    page.wait_for_function(all_focusable, arg=wide, timeout=5000)
    context.close()


def test_every_code_block_gets_its_copy_button_once_in_view(served, browser):
    """The theme sets code blocks up lazily (feature content.lazy), each as it comes into view."""
    page = browser.new_page(viewport={"width": 390, "height": 800})
    page.goto(served + "03-weight-initialization/", wait_until="load")
    page.eval_on_selector_all("details", "folds => folds.forEach(f => f.open = true)")
    blocks = page.locator(".md-content pre").all()
    for block in blocks:
        block.scroll_into_view_if_needed()
        block.locator(".md-code__button").wait_for(timeout=2000)
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_theme_script_finds_the_page_as_it_would_leave_it(scheme, served, browser):
    """The page's classes, palette and head links are as the theme's script would leave them
    before the page is styled (the palette from the system's preference on a first visit): the
    script then changes none of them, where each change it made restyled the whole page."""
    context = browser.new_context(color_scheme=scheme)
    state = """[document.documentElement.className, {...document.body.dataset},
                [...document.head.querySelectorAll("link[href]")]
                  .map(link => link.getAttribute("href"))]"""
    context.route("**/bundle.*.js", lambda route: route.abort())
    page = context.new_page()
    page.goto(served + "01-why-gradients-vanish-or-explode/")
    before = page.evaluate(state)
    context.unroute("**/bundle.*.js")
    page.reload()
    page.wait_for_function('window.document$ && !("mdColorSwitching" in document.body.dataset)')
    after = page.evaluate(state)
    context.close()
    assert before[1]["mdColorScheme"] == {"light": "default", "dark": "slate"}[scheme]
    assert before == after


def navigate_instantly(context, served: str) -> None:
    """Let the theme's instant navigation work on this server. It navigates instantly only to
    pages its sitemap.xml lists, matched by protocol and host but not port: the sitemap's
    addresses (site_url, http://127.0.0.1:8000/ in a test build) are rewritten to this
    server's, as they match on the deployed site."""

    def sitemap(route):
        xml = route.fetch().text()
        home = re.search(r"<loc>(.*?)</loc>", xml)[1]  # the first entry: site_url itself
        route.fulfill(body=xml.replace(home, served), content_type="application/xml")

    context.route("**/sitemap.xml", sitemap)


def test_palette_toggle_switches_stores_and_survives_instant_navigation(served, browser):
    """The palette toggle (overrides/partials/javascripts/palette.html) by click and by Enter,
    the choice kept by a reload, and the toggle still working once the theme has navigated
    instantly to another page."""
    context = browser.new_context(color_scheme="light")
    navigate_instantly(context, served)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    toggle = "form.md-header__option label:not([hidden])"
    palette = """[document.body.dataset.mdColorScheme,
                  document.querySelector("meta[name=color-scheme]").content]"""
    page.goto(served + "01-why-gradients-vanish-or-explode/", wait_until="networkidle")
    assert page.evaluate(palette) == ["default", "light"]
    page.click(toggle)
    assert page.evaluate(palette) == ["slate", "dark"]
    page.wait_for_function('!("mdColorSwitching" in document.body.dataset)')  # transitions back
    page.reload()
    assert page.evaluate(palette) == ["slate", "dark"]
    page.focus("form.md-header__option input:checked")
    page.keyboard.press("Enter")
    assert page.evaluate(palette) == ["default", "light"]
    page.wait_for_load_state("networkidle")  # the sitemap, which instant navigation needs
    page.evaluate("window.notReloaded = true")
    page.click("a.md-footer__link--next")
    page.wait_for_url("**/02-activation-functions-and-saturation/")
    assert page.evaluate("window.notReloaded") is True, "a full reload, not instant navigation"
    page.click(toggle)
    assert page.evaluate(palette) == ["slate", "dark"]
    context.close()
    assert not errors, errors


def test_pages_request_nothing_from_another_host(served, browser):
    """Every request a page makes while loading and running its scripts stays on the site's
    host (the theme, for one, would ask api.github.com for the repository's stars)."""
    context = browser.new_context()
    off_site = []
    context.on("request", lambda r: r.url.startswith(served) or off_site.append(r.url))
    page = context.new_page()
    for path in ["", "01-why-gradients-vanish-or-explode/", "labs/initialization-lab/"]:
        page.goto(served + path, wait_until="networkidle")
    context.close()
    assert not off_site, off_site


AXE = Path(__file__).with_name("vendor") / "axe.min.js"  # axe-core 4.14.1 (MPL 2.0), from npm


@pytest.mark.a11y  # about 30 s each: run by `make test-a11y`, which CI runs, not by `make test`
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1280])
def test_every_page_passes_axe(scheme, width, site, served, browser):
    """axe-core's WCAG 2 A and AA rules, on every page, in both palettes, on a phone (where
    wide code, tables and formulas scroll sideways) and on a desktop."""
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    found = []
    for html in sorted(site.rglob("index.html")):
        path = str(html.parent.relative_to(site)).removeprefix(".")
        page.goto(served + (path + "/" if path else ""))
        page.add_script_tag(path=AXE)
        violations = page.evaluate(
            """async () => (await axe.run(document, {runOnly: ["wcag2a", "wcag2aa"]}))
                .violations.map(v => `${v.id}: ${v.nodes.map(n => n.target).join(", ")}`)"""
        )
        found += [f"{path or 'home'}: {v[:300]}" for v in violations]
    context.close()
    assert not found, "\n".join(found)
