// A block that scrolls sideways (a wide code line, table or formula on a phone) must be
// reachable by keyboard, so that its hidden part can be scrolled into view (WCAG 2.1.1).
// Make each such block focusable, where it overflows at the current width.
const SCROLLABLE =
  "pre, .md-typeset__scrollwrap, .katex-display, .highlight-ipynb, .jp-OutputArea-output";

function markScrollableRegions() {
  // Every width is read before any tabindex is set: a write between two reads would make the
  // second one lay the page out again, once per block.
  const overflowing = [...document.querySelectorAll(SCROLLABLE)].filter(
    (region) =>
      !region.hasAttribute("tabindex") &&
      region.scrollWidth > region.clientWidth + 1 &&
      // only now the style: computing it for a block in a closed fold costs a style pass
      ["auto", "scroll"].includes(getComputedStyle(region).overflowX),
  );
  for (const region of overflowing) region.tabIndex = 0;
}

// After the next frame: by then the browser has laid the page out for painting, so reading
// the widths costs nothing, where before it would force that whole layout inside this script.
function afterLayout() {
  requestAnimationFrame(() => setTimeout(markScrollableRegions));
}

document$.subscribe(afterLayout); // every page, instant navigation included
window.addEventListener("resize", afterLayout);
