"""The strict build: it passes on the real site, stays on its own host, and fails loudly.

All tests here share one build (the ``site`` fixture). The fault-injection builds copy the
project with its caches, so only the file they break runs again.
"""

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import ROOT, SNIPPET_IDS, SNIPPETS, mkdocs_build

SOURCES = [
    "docs",
    "snippets",
    "hooks",
    "overrides",
    "mkdocs.yml",
    "requirements.txt",
    ".cache",
]
LAB = "docs/labs/gradient-flow-lab.py"
CHAPTER = "docs/01-why-gradients-vanish-or-explode/index.md"


def test_strict_build_publishes_figures_snippets_and_notebooks(site):
    for snippet in SNIPPETS:
        svg = site / snippet.parent.name / f"{snippet.stem}.svg"
        assert svg.read_bytes().startswith(b"<?xml"), f"{svg} is not a drawn figure"
        assert (site / snippet.parent.name / snippet.name).read_bytes() == snippet.read_bytes()
    lab = site / "labs/gradient-flow-lab"
    assert '"nbformat": 4' in (lab / "gradient-flow-lab.ipynb").read_text()
    assert 'href="gradient-flow-lab.ipynb" download' in (lab / "index.html").read_text()


@pytest.mark.parametrize("snippet", SNIPPETS, ids=SNIPPET_IDS)
def test_built_figure_is_redrawn_byte_for_byte(snippet, site, run_snippet_once):
    """The build ran `python snippet.py OUT_DIR` as a reader would; run it again here."""
    run = run_snippet_once(str(snippet.relative_to(ROOT)))
    assert run.stdout.strip(), "a snippet prints the numbers its page quotes"
    built = site / snippet.parent.name / f"{snippet.stem}.svg"
    assert built.read_bytes() == run.figure.read_bytes(), "same inputs, different SVG bytes"


OFF_SITE = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//(?!127\.0\.0\.1)""",
    re.I,
)
CSS_OFF_SITE = re.compile(r"""(?:url\(|@import)\s*["']?\s*(?:https?:)?//""", re.I)


def test_pages_load_nothing_from_another_host(site):
    offenders = []
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        # <a href> may point anywhere (the reader chooses to follow it); nothing else may.
        html = re.sub(r"<a\s[^>]*>", "", html)
        html = re.sub(r'<link rel="canonical"[^>]*>', "", html)
        offenders += [f"{page.relative_to(site)}: {m.group(0)}" for m in OFF_SITE.finditer(html)]
    for css in site.rglob("*.css"):
        offenders += [
            f"{css.relative_to(site)}: {m.group(0)}"
            for m in CSS_OFF_SITE.finditer(css.read_text(encoding="utf-8"))
        ]
    assert not offenders, "\n".join(offenders)


class LinkCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("href", "src") and value]


def test_every_link_within_the_site_resolves(site):
    """Also the links in labs, which the strict build does not check (mkdocs-jupyter)."""
    broken = []
    for page in site.rglob("*.html"):
        collector = LinkCollector()
        collector.feed(page.read_text(encoding="utf-8"))
        for url in collector.urls:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or not parts.path:  # another host, or #anchor
                continue
            base = site if url.startswith("/") else page.parent  # /x: from the site's root
            path = base / unquote(parts.path).lstrip("/")
            if url.endswith("/") or path.is_dir():
                path = path / "index.html"
            if not path.resolve().is_file():
                broken.append(f"{page.relative_to(site)}: {url}")
    assert not broken, "\n".join(broken)


def test_math_is_typeset_by_the_local_katex(site):
    chapter = (site / "01-why-gradients-vanish-or-explode/index.html").read_text()
    assert 'src="../assets/katex/katex.min.js"' in chapter
    assert chapter.count('class="arithmatex"') > 20
    assert len(list((site / "assets/katex/fonts").glob("*.woff2"))) == 20


def broken_copy(tmp_path: Path, path: str, edit) -> Path:
    """A copy of the project, caches included, with one file changed by ``edit``."""
    project = tmp_path / "project"
    for name in SOURCES:
        src, dst = ROOT / name, project / name
        if src.is_dir():
            shutil.copytree(src, dst)
        elif src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    target = project / path
    target.write_text(edit(target.read_text(encoding="utf-8")), encoding="utf-8")
    return project


FAULTS = {
    "snippet raises": (
        "snippets/01-why-gradients-vanish-or-explode/scalar_examples.py",
        lambda s: s.replace("def examples(depth=10):\n", "def examples(depth=10):\n    1 / 0\n"),
        [
            "snippets/01-why-gradients-vanish-or-explode/scalar_examples.py failed",
            "ZeroDivisionError",
        ],
    ),
    "snippet kills its process": (
        "snippets/01-why-gradients-vanish-or-explode/scalar_examples.py",
        lambda s: s.replace(
            "def examples(depth=10):\n",
            "def examples(depth=10):\n    __import__('os')._exit(3)\n",
        ),
        [
            "snippets/01-why-gradients-vanish-or-explode/scalar_examples.py failed",
            "exit status 3",
        ],
    ),
    "missing include": (
        CHAPTER,
        lambda s: s + '\n```python\n--8<-- "snippets/no-such-snippet.py"\n```\n',
        ["snippets/no-such-snippet.py"],
    ),
    "broken link": (
        CHAPTER,
        lambda s: s + "\n[a broken link](no-such-page.md)\n",
        ["01-why-gradients-vanish-or-explode/index.md", "no-such-page.md"],
    ),
    "broken anchor": (
        CHAPTER,
        lambda s: s + "\n[a broken anchor](#no-such-heading)\n",
        ["01-why-gradients-vanish-or-explode/index.md", "#no-such-heading"],
    ),
    "notebook cell error": (
        LAB,  # the failing cell comes first, so the build fails fast
        lambda s: s.replace(
            "# %% [markdown]",
            '# %%\nraise ValueError("cell failed on purpose")\n\n# %% [markdown]',
            1,
        ),
        ["gradient-flow-lab.py", "cell failed on purpose"],
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_bad_input_fails_the_build_naming_the_file(fault, site, tmp_path):
    path, edit, expected = FAULTS[fault]
    project = broken_copy(tmp_path, path, edit)
    proc = mkdocs_build(project, tmp_path / "site")
    assert proc.returncode != 0, f"{fault}: the build passed"
    log = proc.stdout + proc.stderr
    for text in expected:
        assert text in log, f"{fault}: the build log does not say {text!r}:\n{log[-3000:]}"


def test_every_figure_has_a_visible_caption_and_enlarges(site):
    """Each chapter figure sits in a <figure> with a <figcaption>, inside a lightbox link."""
    problems = []
    for page in sorted(site.glob("[0-9][0-9]-*/index.html")):
        html = page.read_text(encoding="utf-8")
        for figure in re.findall(r"<figure\b.*?</figure>", html, re.S):
            if "<figcaption" not in figure:
                problems.append(f"{page.parent.name}: a figure without a caption")
        bare = re.sub(r"<figure\b.*?</figure>", "", html, flags=re.S)
        problems += [
            f"{page.parent.name}: {src} is not in a captioned figure"
            for src in re.findall(r'<img[^>]+src="([^"]+\.svg)"', bare)
        ]
        for src in re.findall(r'<img[^>]+src="([^"]+\.svg)"', html):
            if not re.search(rf'<a[^>]+class="glightbox"[^>]*href="{re.escape(src)}"', html):
                problems.append(f"{page.parent.name}: {src} does not enlarge")
    assert not problems, "\n".join(problems)
