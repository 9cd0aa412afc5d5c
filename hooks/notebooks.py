"""Run every lab once per build, and publish it with its outputs.

Labs are jupytext percent scripts (``docs/labs/<name>.py``) so they diff like code. This hook
executes each in a Jupyter kernel (nbclient; the kernel is forked from the snippets' server:
``lab_kernels.py``), under the build's numerics profile, and caches the executed notebook in
``.cache/labs/<profile>/`` by a hash of the lab and the pinned requirements. It publishes it
twice: as ``labs/<name>.ipynb``, which mkdocs-jupyter renders as the lab's page without running
it again, and as ``labs/<name>/<name>.ipynb`` beside that page, the download, outputs included.
Cells tagged ``test`` (numbers for tests/test_labs.py) run but are left out of both. A failing
cell fails the build, naming the lab and the cell.

``python hooks/notebooks.py`` writes ``notebooks/<name>.ipynb``, the lab without outputs that
"Open in Colab" opens from the repository (a test checks they match the labs).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import re
from pathlib import Path

import jupytext
import nbformat
import snippet_runner  # beside this file
import tinycss2
from filelock import FileLock
from lab_kernels import ForkedKernelManager  # beside this file
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

# The labs' kernels are started from this process: give them the snippets' numerics.
snippet_runner.fix_numerics()

CACHE_DIR = ".cache/labs"
TEST_TAG = "test"
COLAB_DIR = "notebooks"


def find_labs(root: Path) -> list[Path]:
    return sorted((root / "docs/labs").glob("*.py"))


def for_readers(notebook) -> nbformat.NotebookNode:
    """The notebook without the cells tagged for the tests, its cells numbered (jupytext
    draws random cell ids, which would change the file at every conversion) and without the
    times nbclient recorded of each cell's run (which would change it at every run)."""
    notebook = nbformat.from_dict(notebook)
    notebook.cells = [c for c in notebook.cells if TEST_TAG not in c.metadata.get("tags", [])]
    for number, cell in enumerate(notebook.cells, 1):
        cell.id = f"cell-{number}"
        cell.metadata.pop("execution", None)
    return notebook


def cached(root: Path, lab: Path) -> Path:
    """Where the executed notebook of ``lab`` is kept, for this profile and these pins."""
    key = snippet_runner.cache_key(root, lab)
    return root / CACHE_DIR / snippet_runner.numerics()[0] / f"{lab.stem}-{key}.ipynb"


async def execute(root: Path, lab: Path):
    notebook = jupytext.read(lab)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        kernel_manager_class=ForkedKernelManager,
        # one output per stream and cell: the kernel flushes what a cell prints every 0.2 s,
        # which would split it into as many outputs as the machine's speed makes
        coalesce_streams=True,
        resources={"metadata": {"path": lab.parent}},
    )
    try:
        await client.async_execute()
    except CellExecutionError as error:
        raise PluginError(f"{lab.relative_to(root)} failed:\n{error}") from None
    path = cached(root, lab)
    for stale in path.parent.glob(f"{lab.stem}-*.ipynb"):
        stale.unlink()
    nbformat.write(notebook, path)


def executed(root: Path, *labs: Path) -> list[Path]:
    """The executed notebooks of ``labs``, all cells, from the cache or run now: each in its
    own kernel, all at once (a lab computes on one thread).

    A lock per lab, taken in the same order by everyone, makes whichever of build and tests
    asks first run it, and the other wait and read the cache.
    """
    paths = [cached(root, lab) for lab in labs]
    if all(path.exists() for path in paths):
        return paths

    async def run_all(todo):
        await asyncio.gather(*(execute(root, lab) for lab in todo))

    with contextlib.ExitStack() as held:
        for lab, path in sorted(zip(labs, paths)):
            path.parent.mkdir(parents=True, exist_ok=True)
            held.enter_context(FileLock(path.parent / f"{lab.stem}.lock"))
        todo = [lab for lab, path in zip(labs, paths) if not path.exists()]
        if todo:
            asyncio.run(run_all(todo))
    return paths


@event_priority(100)  # before mkdocs-jupyter, which renders the notebooks this adds
def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).parent
    labs = find_labs(root)
    for lab, run in zip(labs, executed(root, *labs)):
        source = files.get_file_from_path(f"labs/{lab.name}")
        if source is not None:
            files.remove(source)  # the script itself is not a page
        notebook = nbformat.writes(for_readers(nbformat.read(run, 4)))
        # mkdocs-jupyter reads the page from a real file under a src_dir (not File.generated)
        pages = root / CACHE_DIR / "pages"
        page = pages / "labs" / f"{lab.stem}.ipynb"
        page.parent.mkdir(parents=True, exist_ok=True)
        if not page.exists() or page.read_text(encoding="utf-8") != notebook:
            page.write_text(notebook, encoding="utf-8")
        uri = f"labs/{lab.stem}.ipynb"
        files.append(File(uri, str(pages), config.site_dir, config.use_directory_urls))
        download = f"labs/{lab.stem}/{lab.stem}.ipynb"
        files.append(File.generated(config, download, content=notebook))
    return files


INLINE_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
# What mkdocs-jupyter's template adds to every notebook for features the labs do not use:
# MathJax's configuration (the math is typeset at build time) and Mermaid diagrams, whose 12 KB
# script would fetch Mermaid from a CDN (this site loads nothing from another host).
UNUSED_EXTRAS = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->"
    r'|<script type="module">(?:(?!</script>).)*?jp-Mermaid.*?</script>'
    r"|<style>(?:(?!</style>).)*?\.jp-Mermaid.*?</style>|<!-- End of mermaid configuration -->",
    re.S,
)


def on_post_page(html: str, page, config) -> str:
    """Lighten a lab page: its figures moved out of the HTML into files beside it, and what
    mkdocs-jupyter adds that the page does not use dropped (``UNUSED_EXTRAS``, ``purge_styles``).

    The notebook holds its figures as base64 PNGs, which the page would inline twice (the image,
    and the link that enlarges it) and which gzip cannot shrink: as files, each is sent once,
    and only when the reader scrolls to it.
    """
    if not page.file.src_uri.startswith("labs/"):
        return html
    folder = (Path(config.site_dir) / page.file.dest_uri).parent  # the page's own URL

    def to_file(match: re.Match) -> str:
        data = base64.b64decode(match[1])
        name = f"figure-{hashlib.sha256(data).hexdigest()[:12]}.png"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        return name

    html = INLINE_PNG.sub(to_file, html)
    html = UNUSED_EXTRAS.sub("", html)
    return purge_styles(html.replace("<img ", '<img loading="lazy" '))


STYLE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.S)
JUPYTER_STYLE = re.compile(r'(<style type="text/css">)(.*?)(</style>)', re.S)  # the notebook's
CLASS_ATTRIBUTE = re.compile(r'class="([^"]*)"')
CLASS_SELECTOR = re.compile(r"\.(-?[_a-zA-Z][-\w]*)")
NEGATION = re.compile(r":not\([^()]*\)")  # the classes it names need not be on the page
ROOT_INSIDE = re.compile(r"(\S\s+|[>+~]\s*):root\b")  # :root is <html>: inside nothing


def selector_list(prelude) -> list[str]:
    """A rule's selectors: its prelude split at the commas outside parentheses."""
    selectors, current = [], []
    for token in prelude:
        if token.type == "literal" and token.value == ",":
            selectors.append(tinycss2.serialize(current))
            current = []
        else:
            current.append(token)
    return [*selectors, tinycss2.serialize(current)]


@functools.lru_cache(maxsize=8)  # every lab page inlines the same few stylesheets
def style_rules(css: str) -> tuple[tuple[tuple[str, ...] | None, str], ...]:
    """A stylesheet's rules as (selectors, body): for an at-rule, (None, the whole rule)."""
    rules = []
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True):
        if rule.type == "error":  # what a browser ignores too
            continue
        if rule.type != "qualified-rule":
            rules.append((None, tinycss2.serialize([rule])))
        else:
            body = "{" + tinycss2.serialize(rule.content) + "}"
            rules.append((tuple(selector_list(rule.prelude)), body))
    return tuple(rules)


def purge_styles(html: str) -> str:
    """Drop the rules of a lab page's inline stylesheets that match nothing on the page.

    mkdocs-jupyter inlines all of JupyterLab's CSS, 570 KB, in every lab page, before the
    content: the browser must parse it before painting anything, and match it at every change
    of style. A selector is kept unless it needs a class that no element of the page has (no
    script adds Jupyter classes; the lightbox's own stylesheet, whose elements its script adds,
    is left alone) or puts :root inside another element; a rule goes with its last selector;
    at-rules are kept whole.
    """
    without_styles = STYLE.sub("", html)
    used = {c for attr in CLASS_ATTRIBUTE.findall(without_styles) for c in attr.split()}

    def matches(selector: str) -> bool:
        if ROOT_INSIDE.search(selector):
            return False
        selector = NEGATION.sub("", selector)
        if re.search(r":(is|where|has|matches|not)\(", selector):
            return True  # a class inside need not exist for the rule to match: keep
        return all(c in used for c in CLASS_SELECTOR.findall(selector))

    def purge(match: re.Match) -> str:
        kept = []
        for selectors, body in style_rules(match[2]):
            if selectors is None:
                kept.append(body)
            elif matching := [s for s in selectors if matches(s)]:
                kept.append(",".join(matching) + body)
        return match[1] + "".join(kept) + match[3]

    return JUPYTER_STYLE.sub(purge, html)


def colab_notebook(lab: Path) -> str:
    """What ``notebooks/<name>.ipynb`` holds: the lab for readers, without outputs."""
    return nbformat.writes(for_readers(jupytext.read(lab)))


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    for lab in find_labs(root):
        target = root / COLAB_DIR / f"{lab.stem}.ipynb"
        target.parent.mkdir(exist_ok=True)
        target.write_text(colab_notebook(lab), encoding="utf-8")
        print(f"wrote {target.relative_to(root)}")
