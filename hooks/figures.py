"""Draw every figure at build time from the snippet shown beside it.

Each snippet ``snippets/<chapter>/<name>.py`` is run as ``python <snippet> <out_dir>`` would run
it, in its own process (a fork of one that has imported torch and matplotlib already: see
``snippet_runner.py``), and must write ``<out_dir>/<name>.svg``. The SVG is cached under
``.cache/figures`` by a hash of the snippet and the pinned requirements, so an unchanged snippet
is not run again and ``mkdocs serve`` re-runs only the snippet you edited. Figure and snippet are
published beside the chapter page ``docs/<chapter>/index.md``: the page links ``<name>.svg`` and
``<name>.py`` relatively. ``FIGURES=off`` publishes placeholders instead (for the benchmark).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import snippet_runner  # beside this file: mkdocs puts a hook's folder on sys.path to load it
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

snippet_runner.fix_numerics()  # every snippet this build runs inherits them

CACHE_DIR = ".cache/figures"
PLACEHOLDER = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'


def run_snippet(snippet: Path, out_dir: Path) -> subprocess.CompletedProcess:
    """Run one snippet as a reader does: a fresh interpreter, with the build's numerics."""
    return subprocess.run(
        [sys.executable, str(snippet), str(out_dir)], capture_output=True, text=True
    )


def find_snippets(root: Path) -> list[Path]:
    return sorted((root / "snippets").glob("*/*.py"))


def cached_figure(root: Path, snippet: Path) -> Path:
    key = snippet_runner.cache_key(root, snippet)
    return root / CACHE_DIR / snippet.parent.name / f"{snippet.stem}-{key}.svg"


def draw(root: Path, snippets: dict[Path, Path]) -> list[str]:
    """Run each snippet and move its SVG to its figure path; return the error messages."""
    with snippet_runner.pool(os.cpu_count()) as pool, tempfile.TemporaryDirectory() as tmp:
        runs: dict[Path, tuple[Path, Future]] = {}
        for i, snippet in enumerate(snippets):
            out_dir = Path(tmp) / str(i)
            out_dir.mkdir()
            runs[snippet] = out_dir, pool.submit(snippet_runner.run, str(snippet), str(out_dir))
        return [
            error
            for snippet, (out_dir, run) in runs.items()
            if (error := publish(root, snippet, out_dir, run, snippets[snippet]))
        ]


def publish(root: Path, snippet: Path, out_dir: Path, run: Future, figure: Path) -> str | None:
    name = snippet.relative_to(root)
    try:
        error = run.result()
    except BrokenProcessPool:  # a process died and took the pool down: rerun alone to see whose
        proc = run_snippet(snippet, out_dir)
        error = proc.returncode and (proc.stderr or f"died with exit status {proc.returncode}")
    if error:
        return f"{name} failed:\n{error.strip()}"
    svg = out_dir / f"{snippet.stem}.svg"
    if not svg.exists():
        return f"{name} exited 0 but wrote no {svg.name}"
    figure.parent.mkdir(parents=True, exist_ok=True)
    for stale in figure.parent.glob(f"{snippet.stem}-*.svg"):
        stale.unlink()
    shutil.move(svg, figure)
    return None


def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).parent
    snippets = find_snippets(root)
    figures = {snippet: cached_figure(root, snippet) for snippet in snippets}
    skip = os.environ.get("FIGURES") == "off"

    todo = {s: fig for s, fig in figures.items() if not fig.exists()} if not skip else {}
    if todo and (errors := draw(root, todo)):
        raise PluginError("\n\n".join(errors))

    for snippet, figure in figures.items():
        chapter = snippet.parent.name
        svg_uri = f"{chapter}/{snippet.stem}.svg"
        if skip:
            files.append(File.generated(config, svg_uri, content=PLACEHOLDER))
        else:
            files.append(File.generated(config, svg_uri, abs_src_path=str(figure)))
        files.append(File.generated(config, f"{chapter}/{snippet.name}", abs_src_path=str(snippet)))
    return files
