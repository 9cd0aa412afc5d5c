"""Keep what a page needs for its first paint off the slow path.

- The lightbox script (mkdocs-glightbox puts it in <head>, where it blocks rendering) moves to
  the end of <body>, just before the plugin's own line that starts it; it is needed only once a
  reader taps a figure.
- A page that shows math preloads KaTeX's two most used fonts. KaTeX's stylesheet declares its
  fonts ``font-display: block``: without the preload the browser finds them only after laying
  out the page, and text with math stays blank until they arrive. (Opened from the files,
  file://, a page's preload is refused as cross-origin and logs an error; the fonts still load
  through the stylesheet.)
"""

from __future__ import annotations

import posixpath
import re

from mkdocs.plugins import event_priority

LIGHTBOX = re.compile(r'<script src="([^"]*glightbox\.min\.js)"></script>')
LIGHTBOX_START = '<script id="init-glightbox">'
PRELOADED_FONTS = ["KaTeX_Main-Regular.woff2", "KaTeX_Math-Italic.woff2"]


@event_priority(-100)  # after mkdocs-glightbox has added its tags
def on_post_page(html: str, page, config) -> str:
    script = LIGHTBOX.search(html)
    if script and LIGHTBOX_START in html:
        html = html.replace(script[0], "", 1)
        html = html.replace(LIGHTBOX_START, script[0] + LIGHTBOX_START, 1)
    if 'class="katex"' in html:
        fonts = posixpath.relpath("assets/katex/fonts", posixpath.dirname(page.url) or ".")
        links = "".join(
            f'<link rel="preload" href="{fonts}/{name}" as="font" type="font/woff2" crossorigin>'
            for name in PRELOADED_FONTS
        )
        html = html.replace("</head>", links + "</head>", 1)
    return html
