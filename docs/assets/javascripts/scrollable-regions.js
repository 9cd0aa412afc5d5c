// A block that scrolls sideways (a wide code line, table or formula on a phone) must be
// reachable by keyboard, so that its hidden part can be scrolled into view (WCAG 2.1.1).
// Make each such block focusable, where it overflows at the current width. (The theme does so
// for a code block only once the block comes into view: see content.lazy in mkdocs.yml.)
const SCROLLABLE =
  "pre, pre > code, .md-typeset__scrollwrap, .katex-display, " +
  ".highlight-ipynb, .jp-OutputArea-output";

function markScrollableRegions(root) {
  // Blocks in a closed fold wait until it opens: measuring one would make the browser lay out
  // the whole fold. Every width is read before any tabindex is set: a write between two reads
  // would make the second one lay the page out again, once per block.
  const overflowing = [...root.querySelectorAll(SCROLLABLE)].filter(
    (region) =>
      !region.hasAttribute("tabindex") &&
      !region.closest("details:not([open])") &&
      region.scrollWidth > region.clientWidth + 1 &&
      ["auto", "scroll"].includes(getComputedStyle(region).overflowX),
  );
  for (const region of overflowing) region.tabIndex = 0;
}

// After the next frame: by then the browser has laid the page out for painting, so reading
// the widths costs nothing, where before it would force that whole layout inside this script.
function afterLayout(root) {
  requestAnimationFrame(() => setTimeout(() => markScrollableRegions(root)));
}

document$.subscribe(() => afterLayout(document)); // every page, instant navigation included
window.addEventListener("resize", () => afterLayout(document));
// "toggle" does not bubble: listen while it travels down to the fold that opened
document.addEventListener(
  "toggle", (event) => event.target.open && afterLayout(event.target), true,
);
