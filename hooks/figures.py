"""Draw every figure at build time from the snippet shown beside it.

Each snippet ``snippets/<chapter>/<name>.py`` is run as ``python <snippet> <out_dir>``, in its
own process, and must write ``<out_dir>/<name>.svg``. The SVG is cached under ``.cache/figures``
by a hash of the snippet and the pinned requirements, so an unchanged snippet is not run again
and ``mkdocs serve`` re-runs only the snippet you edited. Figure and snippet are published
beside the chapter page ``docs/<chapter>/index.md``: the page links ``<name>.svg`` and
``<name>.py`` relatively. ``FIGURES=off`` publishes placeholders instead (for the benchmark).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

CACHE_DIR = ".cache/figures"
PLACEHOLDER = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'


def run_snippet(snippet: Path, out_dir: Path) -> subprocess.CompletedProcess:
    """Run one snippet exactly as the build does: a fresh interpreter, one thread."""
    # One thread per process: the build runs one snippet per core, and a fixed thread count
    # keeps float reductions, hence the figures, identical from run to run.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(snippet), str(out_dir)],
        capture_output=True,
        text=True,
        env=env,
    )


def find_snippets(root: Path) -> list[Path]:
    return sorted((root / "snippets").glob("*/*.py"))


def cached_figure(root: Path, snippet: Path) -> Path:
    digest = hashlib.sha256(snippet.read_bytes())
    digest.update((root / "requirements.txt").read_bytes())
    chapter = snippet.parent.name
    return root / CACHE_DIR / chapter / f"{snippet.stem}-{digest.hexdigest()[:16]}.svg"


def draw(root: Path, snippet: Path, figure: Path) -> str | None:
    """Run ``snippet`` and move its SVG to ``figure``; return an error message on failure."""
    figure.parent.mkdir(parents=True, exist_ok=True)
    name = snippet.relative_to(root)
    with tempfile.TemporaryDirectory(dir=figure.parent) as tmp:
        proc = run_snippet(snippet, Path(tmp))
        if proc.returncode != 0:
            return f"{name} failed (exit {proc.returncode}):\n{proc.stderr.strip()}"
        svg = Path(tmp) / f"{snippet.stem}.svg"
        if not svg.exists():
            return f"{name} exited 0 but wrote no {svg.name}"
        for stale in figure.parent.glob(f"{snippet.stem}-*.svg"):
            stale.unlink()
        os.replace(svg, figure)
    return None


def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).parent
    snippets = find_snippets(root)
    figures = {snippet: cached_figure(root, snippet) for snippet in snippets}
    skip = os.environ.get("FIGURES") == "off"

    todo = [s for s, fig in figures.items() if not fig.exists()] if not skip else []
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        errors = [e for e in pool.map(lambda s: draw(root, s, figures[s]), todo) if e]
    if errors:
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
