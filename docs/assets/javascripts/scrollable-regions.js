// A block that scrolls sideways (a wide code line, table or formula on a phone) must be
// reachable by keyboard, so that its hidden part can be scrolled into view (WCAG 2.1.1).
// Make each such block focusable, where it overflows at the current width.
const SCROLLABLE =
  "pre, .md-typeset__scrollwrap, .katex-display, .highlight-ipynb, .jp-OutputArea-output";

function markScrollableRegions() {
  for (const region of document.querySelectorAll(SCROLLABLE)) {
    const overflows = region.scrollWidth > region.clientWidth + 1;
    const scrolls = ["auto", "scroll"].includes(getComputedStyle(region).overflowX);
    if (overflows && scrolls && !region.hasAttribute("tabindex")) region.tabIndex = 0;
  }
}

document$.subscribe(markScrollableRegions); // every page, instant navigation included
window.addEventListener("resize", markScrollableRegions);
