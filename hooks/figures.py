"""Draw every figure at build time from the snippet shown beside it.

Each snippet ``snippets/<chapter>/<name>.py`` is run as ``python <snippet> <out_dir>`` would run
it, in its own process (a fork of one that has imported torch and matplotlib already: see
``snippet_runner.py``), and must write ``<out_dir>/<name>.svg``. The SVG and the numbers main()
returned are cached under ``.cache/snippets`` by a hash of the snippet, the pinned requirements
and the numerics profile, so an unchanged snippet is not run again, ``mkdocs serve`` re-runs only
the snippet you edited, and the tests read the numbers of the run that drew the figure. Figure
and snippet are published beside the chapter page ``docs/<chapter>/index.md``: the page links
``<name>.svg`` and ``<name>.py`` relatively. ``FIGURES=off`` publishes placeholders instead (for
the benchmark). A module that a chapter's snippets import (``snippet_runner.MODULES``) is
published the same way, but draws no figure.
"""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
import sys
import tempfile
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import snippet_runner  # beside this file: mkdocs puts a hook's folder on sys.path to load it
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from snippet_runner import find_modules, find_snippets

snippet_runner.fix_numerics()  # every snippet this build runs inherits them

PLACEHOLDER = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'
IMAGE = re.compile(r'<img\b([^>]*?) src="([^":]+\.svg)"')
SVG_SIZE = re.compile(rb'<svg\b[^>]*? width="([\d.]+)pt" height="([\d.]+)pt"')


def run_snippet(snippet: Path, out_dir: Path) -> subprocess.CompletedProcess:
    """Run one snippet as a reader does: a fresh interpreter, with the build's numerics."""
    return subprocess.run(
        [sys.executable, str(snippet), str(out_dir)], capture_output=True, text=True
    )


def draw(root: Path, snippets: list[Path]) -> list[str]:
    """Run each snippet into the cache, one per core; return the error messages."""
    with snippet_runner.pool(os.cpu_count()) as pool:
        runs = {s: pool.submit(snippet_runner.run_cached, root, s) for s in snippets}
        return [error for snippet, run in runs.items() if (error := outcome(root, snippet, run))]


def outcome(root: Path, snippet: Path, run: Future) -> str | None:
    try:
        return run.result()
    except BrokenProcessPool:  # a process died and took the pool down: rerun alone to see whose
        with tempfile.TemporaryDirectory() as out_dir:
            proc = run_snippet(snippet, Path(out_dir))
        error = proc.returncode and (proc.stderr or f"died with exit status {proc.returncode}")
        return error and f"{snippet.relative_to(root)} failed:\n{error.strip()}"


def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).parent
    snippets = find_snippets(root)
    figures = {snippet: snippet_runner.cached(root, snippet)[0] for snippet in snippets}
    skip = os.environ.get("FIGURES") == "off"

    todo = [s for s, figure in figures.items() if not figure.exists()] if not skip else []
    if todo and (errors := draw(root, todo)):
        raise PluginError("\n\n".join(errors))

    for snippet, figure in figures.items():
        svg_uri = f"{snippet.parent.name}/{snippet.stem}.svg"
        if skip:
            files.append(File.generated(config, svg_uri, content=PLACEHOLDER))
        else:
            files.append(File.generated(config, svg_uri, abs_src_path=str(figure)))
    for source in snippets + find_modules(root):
        uri = f"{source.parent.name}/{source.name}"
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files


def on_page_content(html: str, page, config, files: Files) -> str:
    """A figure loads only as the reader nears it, with its place kept meanwhile.

    Loaded eagerly, a chapter's figures held back its first paint by about a second in
    Chromium, wherever on the page they were. Its width and height (in CSS pixels, from the
    SVG's points) give the browser the figure's proportions before it has it, so the text below
    does not jump when it arrives.
    """

    def lazy(match: re.Match) -> str:
        file = files.get_file_from_path(
            posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), match[2]))
        )
        size = file and file.abs_src_path and SVG_SIZE.search(Path(file.abs_src_path).read_bytes())
        if not size:
            return match[0]
        width, height = (round(float(points) * 4 / 3) for points in size.groups())
        return f'<img loading="lazy" width="{width}" height="{height}"{match[1]} src="{match[2]}"'

    return IMAGE.sub(lazy, html)
