"""How fast the gradient-flow explorer answers a change (``make bench``).

The built site is served on localhost and opened in Chromium (Playwright, with the system's
browser if there is one). Ten control changes are made, each once to let the page compile its
code, then each again after switching normalization; the time of each is from the change to the
frame that paints it. The median of the second round must stay under ``UPDATE_MS``, the figure
the explorer page states. A time differs from run to run and machine to machine, so this is a
benchmark that tools/bench.py checks, not a test.

Run: python tools/explorer_speed.py SITE_DIR
"""

from __future__ import annotations

import statistics
import sys

import chromium  # beside this file

UPDATE_MS = 100  # median time from a control's change to the frame that shows it
CHANGES = [  # (control, value), each a different network
    ("gfe-act", "tanh"),
    ("gfe-init", "xavier"),
    ("gfe-act", "relu"),
    ("gfe-init", "he"),
    ("gfe-norm", "batchnorm"),
    ("gfe-act", "gelu"),
    ("gfe-norm", "layernorm"),
    ("gfe-init", "orthogonal"),
    ("gfe-act", "leakyrelu"),
    ("gfe-norm", "none"),
]
MEASURE = """async (changes) => {
    const root = document.getElementById("gradient-explorer"), times = [];
    const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
    await frame();
    for (const [id, value] of changes) {
        const shown = new Promise(r => root.addEventListener("gfe:rendered", r, {once: true}));
        const t0 = performance.now();
        const control = document.getElementById(id);
        control.value = value;
        control.dispatchEvent(new Event("change", {bubbles: true}));
        await shown;
        await frame();  // the frame that paints it
        times.push(performance.now() - t0);
    }
    return times;
}"""


def measure(site_dir: str) -> tuple[list[float], list[float]]:
    """Milliseconds per change: the first round (code still compiling), and the second."""
    from playwright.sync_api import sync_playwright

    with chromium.serve(site_dir) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium.find(), args=chromium.ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.goto(f"{url}explorer/")
        tab.wait_for_selector("#gfe-plot svg")
        first = tab.evaluate(MEASURE, CHANGES)
        tab.select_option("#gfe-norm", "batchnorm")
        tab.wait_for_function("location.search.includes('norm=bn')")
        again = tab.evaluate(MEASURE, CHANGES)
        browser.close()
    return first, again


def main(site_dir: str) -> float:
    first, again = measure(site_dir)
    print(
        f"explorer, change to painted frame (ms): first {[round(t) for t in first]}, "
        f"again {[round(t) for t in again]}, median {statistics.median(again):.0f}"
    )
    return statistics.median(again)


if __name__ == "__main__":
    main(sys.argv[1])
