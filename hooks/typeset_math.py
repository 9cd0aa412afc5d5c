"""Typeset every formula at build time with the site's own KaTeX, so pages load no math script.

Markdown pages: pymdownx.arithmatex (generic mode) marks math as ``<span class="arithmatex">
\\(...\\)</span>`` and ``<div class="arithmatex">\\[...\\]</div>``. Labs: mkdocs-jupyter leaves
``$...$`` and ``$$...$$`` in the Markdown cells' HTML. Both become KaTeX's HTML, rendered by
``docs/assets/katex/katex.min.js`` in an embedded V8 (mini-racer); the page needs only KaTeX's
stylesheet and fonts. A formula KaTeX rejects fails the build, naming the page. Rendered
formulas are cached in ``.cache/math.json`` (keyed by KaTeX's file and the formula); each
build keeps only the formulas it used.
"""

from __future__ import annotations

import atexit
import hashlib
import html
import json
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from py_mini_racer import MiniRacer

CACHE = ".cache/math.json"
ARITHMATEX = re.compile(
    r'<(span|div) class="arithmatex">\s*(\\\(|\\\[)(.*?)(\\\)|\\\])\s*</\1>', re.S
)
# Math in a lab's Markdown cell: $$...$$ or $...$, not inside <code> or <pre>.
LAB_MARKDOWN = re.compile(r'(<div class="[^"]*jp-RenderedMarkdown[^"]*"[^>]*>)(.*?)(</div>)', re.S)
DOLLARS = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)(.+?)(?<!\s)\$", re.S)
CODE = re.compile(r"(<(code|pre)\b.*?</\2>)", re.S)

katex: MiniRacer | None = None
cache: dict[str, str] = {}
used: set[str] = set()  # the keys this build typeset
cache_file: Path | None = None
katex_digest = ""


def on_config(config):
    global katex, cache, cache_file, katex_digest
    root = Path(config.config_file_path).parent
    script = (root / config.docs_dir / "assets/katex/katex.min.js").read_bytes()
    katex_digest = hashlib.sha256(script).hexdigest()[:16]
    if katex is None:
        katex = MiniRacer()
        # Closed while its threads still run: left to the interpreter's final garbage
        # collection, its destructor can wait forever for them (seen after a failed build).
        atexit.register(katex.close)
        katex.eval(script.decode("utf-8"))
    cache_file = root / CACHE
    if not cache and cache_file.exists():
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    used.clear()
    return config


def typeset(tex: str, display: bool, page) -> str:
    key = f"{katex_digest}:{int(display)}:{tex}"
    used.add(key)
    if key not in cache:
        try:
            cache[key] = katex.call(
                "katex.renderToString", tex, {"displayMode": display, "throwOnError": True}
            )
        except Exception as error:  # KaTeX's ParseError arrives as a JS exception
            raise PluginError(f"{page.file.src_uri}: KaTeX cannot typeset {tex!r}: {error}")
    return cache[key]


def typeset_labs_markdown(block: str, page) -> str:
    """$...$ and $$...$$ in a lab's Markdown cell, outside code."""
    parts = CODE.split(block)
    out = []
    for i, part in enumerate(parts):
        if i % 3 == 0:  # text between code elements (split keeps both groups)
            part = DOLLARS.sub(
                lambda m: typeset(html.unescape(m[1] or m[2]), m[1] is not None, page), part
            )
        if i % 3 != 2:
            out.append(part)
    return "".join(out)


@event_priority(50)  # before hooks/notebooks.py keeps the lab CSS the page's classes use
def on_post_page(output: str, page, config) -> str:
    """The page's math, typeset once the search index has taken the text: it indexes the TeX,
    as with math typeset in the browser, not KaTeX's HTML and MathML of it (three copies of
    each formula, and most of the search plugin's parsing time)."""
    output = ARITHMATEX.sub(lambda m: typeset(html.unescape(m[3]), m[2] == "\\[", page), output)
    if page.file.src_uri.endswith(".ipynb"):
        output = LAB_MARKDOWN.sub(lambda m: m[1] + typeset_labs_markdown(m[2], page) + m[3], output)
    return output


TOC_MATH = re.compile(r"\\\((.*?)\\\)", re.S)  # a heading's math, as the table of contents has it


def on_page_context(context, page, config, nav):
    """Headings' math in the table of contents, which arithmatex leaves as raw \\(...\\)."""

    def visit(items):
        for item in items:
            item.title = TOC_MATH.sub(
                lambda m: typeset(html.unescape(m[1]), False, page), item.title
            )
            visit(item.children)

    visit(page.toc)
    return context


def on_post_build(config):
    global cache
    cache = {key: cache[key] for key in used}  # formulas no page uses any more are dropped
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")
