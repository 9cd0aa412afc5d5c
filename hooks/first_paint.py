"""Keep what a page needs for its first paint off the slow path.

- The lightbox script (mkdocs-glightbox puts it in <head>, where it blocks rendering) moves to
  the end of <body>, just before the plugin's own line that starts it; it is needed only once a
  reader taps a figure.
- A page that shows math preloads KaTeX's two most used fonts. KaTeX's stylesheet declares its
  fonts ``font-display: block``: without the preload the browser finds them only after laying
  out the page, and text with math stays blank until they arrive. (Opened from the files,
  file://, a page's preload is refused as cross-origin and logs an error; the fonts still load
  through the stylesheet.)
- The head ends with what the theme's script would otherwise change as it starts, when the page
  below has been parsed and each change restyles all of it: the classes it gives the page ("js",
  and "js-focus-visible" from its focus polyfill: the theme's stylesheet has rules on whether
  any element has a class attribute), and the head's links made absolute (its instant
  navigation does that to every relative link, and a stylesheet's link, rewritten, restyles the
  page). With scripts off, the page keeps its "no-js" class.
- Code blocks and a lab's printed outputs are left out of the search index, which every page
  downloads and the theme's search worker indexes at every full page load: they were 55 % of
  it, and what they show, the prose around them names (the index: 1.4 MB, 0.64 MB without them).
"""

from __future__ import annotations

import posixpath
import re

from mkdocs.plugins import event_priority

LIGHTBOX = re.compile(r'<script src="([^"]*glightbox\.min\.js)"></script>')
LIGHTBOX_START = '<script id="init-glightbox">'
PAGE_AS_THE_THEME_LEAVES_IT = (
    '<script>document.documentElement.className = "js js-focus-visible";'
    ' for (const link of document.head.querySelectorAll("link[href]"))'
    " link.href = link.href</script>"
)
FONT_PRELOAD = '<link rel="preload" href="{}" as="font" type="font/woff2" crossorigin>'
PRELOADED_FONTS = ["KaTeX_Main-Regular.woff2", "KaTeX_Math-Italic.woff2"]
CODE_OR_OUTPUT = re.compile(
    r'<div (?=class="[^"]*\b(?:highlight|highlight-ipynb|jp-OutputArea-output)\b)'
)


@event_priority(-100)  # after mkdocs-glightbox has added its tags
def on_post_page(html: str, page, config) -> str:
    script = LIGHTBOX.search(html)
    if script and LIGHTBOX_START in html:
        html = html.replace(script[0], "", 1)
        html = html.replace(LIGHTBOX_START, script[0] + LIGHTBOX_START, 1)
    head_end = PAGE_AS_THE_THEME_LEAVES_IT
    if 'class="katex"' in html:
        fonts = posixpath.relpath("assets/katex/fonts", posixpath.dirname(page.url) or ".")
        head_end = (
            "".join(FONT_PRELOAD.format(f"{fonts}/{name}") for name in PRELOADED_FONTS) + head_end
        )
    return html.replace("</head>", head_end + "</head>", 1)


def on_page_content(html: str, page, config, files) -> str:
    return CODE_OR_OUTPUT.sub("<div data-search-exclude ", html)
