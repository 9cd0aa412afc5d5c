"""Run snippets in forks of a process that has already imported torch and matplotlib.

Importing them takes about two seconds, most of a snippet's run. The build's fork server
imports them once (``PRELOAD``); every snippet then runs in a fresh fork of that server, as
``python <snippet> <out_dir>`` would run it, so nothing leaks from one snippet to the next.
The labs' kernels (``lab_kernels.py``) and the tests' command-line checks (``command``) start
as forks of the same server.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import os
import pickle
import runpy
import shutil
import site
import subprocess
import sys
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver
from pathlib import Path

from filelock import FileLock

CACHE_DIR = ".cache/snippets"
# Modules that snippets import from their own folder: published beside the page, not run.
MODULES = {"gradient_monitor.py"}

# torch._dynamo is what the first torch.optim optimizer a snippet creates would import.
PRELOAD = ["torch", "torch.optim", "torch._dynamo", "numpy", "matplotlib.pyplot"]

# Numerics profiles: the environment every snippet, lab kernel and test of a run inherits.
# The build's use one thread: it runs one snippet per core, and a fixed thread count fixes the
# order of float reductions, so one machine draws the same figures build after build. Beyond
# that, no setting makes floats machine-independent (ATen, MKL and oneDNN choose kernels and
# block sizes by CPU, and MKL's reproducible branches are defined for Intel processors only),
# so the pages state only what survives a change of kernels, and the tests check it under
# profiles that compute with different kernels on every x86-64 machine:
#   native    the kernels the libraries pick for this CPU, as a reader's run gets them;
#   portable  ATen's scalar kernels, MKL's compatible branch and oneDNN limited to SSE4.1;
#   reader    nothing set, as a reader's shell runs a snippet (slow under pytest-xdist: -n 1).
# NUMERICS=<profile> selects one (default: native).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
PROFILES = {
    "native": ONE_THREAD,
    "portable": {
        **ONE_THREAD,
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
    },
    "reader": {},  # nothing set: as many threads as cores, as a snippet run from a shell
}


def numerics() -> tuple[str, dict[str, str]]:
    """The profile NUMERICS names (default: native), as (name, environment)."""
    name = os.environ.get("NUMERICS", "native")
    if name not in PROFILES:
        sys.exit(f"error: NUMERICS={name!r} is not one of {', '.join(PROFILES)}")
    return name, PROFILES[name]


def find_snippets(root: Path) -> list[Path]:
    files = (root / "snippets").glob("*/*.py")
    return sorted(p for p in files if p.name not in MODULES)


def find_modules(root: Path) -> list[Path]:
    files = (root / "snippets").glob("*/*.py")
    return sorted(p for p in files if p.name in MODULES)


def cache_key(root: Path, source: Path) -> str:
    """What a cached result of running ``source`` depends on: its bytes, those of the modules
    it may import (a snippet: those beside it; a lab: all of them), the pinned requirements
    and the numerics profile."""
    digest = hashlib.sha256(source.read_bytes())
    is_snippet = source.parent.parent == root / "snippets"
    for module in find_modules(root):
        if module.parent == source.parent or not is_snippet:
            digest.update(module.read_bytes())
    digest.update((root / "requirements.txt").read_bytes())
    digest.update(repr(numerics()).encode())
    return digest.hexdigest()[:16]


def fix_numerics():
    """Put the selected profile in os.environ, before torch loads: every process started from
    here on (the fork server and its snippets, a lab's kernel) inherits it."""
    os.environ.update(numerics()[1])


def server() -> multiprocessing.context.ForkServerContext:
    """The context whose processes are forks of the preloaded server (started on first use)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()
    return context


def pool(workers: int) -> ProcessPoolExecutor:
    """A pool whose every task runs in a new fork of the preloaded server."""
    return ProcessPoolExecutor(
        workers,
        mp_context=server(),
        max_tasks_per_child=1,
        initializer=site.addsitedir,  # so that the forks can import this module
        initargs=(os.path.dirname(__file__),),
    )


def run(snippet: str, out_dir: str) -> tuple[str | None, bytes]:
    """Run ``snippet`` as ``python snippet out_dir`` runs it: its command line, then its
    ``main(out_dir)`` (what its ``if __name__ == "__main__"`` block does).

    Return what that command would print to stderr if it failed (or None), and the run's record:
    the numbers main() returned and what it printed (``out_dir`` written as OUT_DIR), pickled
    (plain bytes cross from a pool's process intact; tensors would not, once it has exited).
    """
    sys.argv = [snippet, out_dir]
    sys.path.insert(0, os.path.dirname(os.path.abspath(snippet)))  # as `python snippet` does
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        try:
            module = runpy.run_path(snippet, run_name="snippet")
            results = module["main"](module["command_line"]())
        except SystemExit as exit:  # sys.exit("message") or sys.exit(status)
            if exit.code not in (None, 0):
                code = exit.code
                return (code if isinstance(code, str) else f"exit status {code}"), b""
            results = None
        except BaseException:
            return traceback.format_exc(), b""
    printed = stdout.getvalue().replace(out_dir, "OUT_DIR")
    return None, pickle.dumps({"results": results, "stdout": printed})


def command(snippet: str, args: list[str], cwd: str) -> subprocess.CompletedProcess:
    """Run ``python snippet *args`` in ``cwd``, as the interpreter would run it: what it
    printed and its exit status (the message of ``sys.exit("message")`` on stderr, status 1)."""
    os.chdir(cwd)
    sys.argv = [snippet, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(snippet)))
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            runpy.run_path(snippet, run_name="__main__")
            status = 0
        except SystemExit as exit:
            status = exit.code or 0
            if not isinstance(status, int):
                print(status, file=sys.stderr)
                status = 1
        except BaseException:
            traceback.print_exc()
            status = 1
    return subprocess.CompletedProcess(sys.argv, status, stdout.getvalue(), stderr.getvalue())


def record(path: Path) -> dict:
    """A cached run's record: {"results": what main() returned, "stdout": what it printed}."""
    return pickle.loads(path.read_bytes())


def cached(root: Path, snippet: Path) -> tuple[Path, Path]:
    """Where the figure and the record (returned numbers, printed text) of ``snippet`` are
    kept, for this profile and these pins."""
    stem = root / CACHE_DIR / snippet.parent.name / f"{snippet.stem}-{cache_key(root, snippet)}"
    return stem.with_suffix(".svg"), stem.with_suffix(".pickle")


def run_cached(root: Path, snippet: Path) -> str | None:
    """Run ``snippet`` unless its figure and record are cached, and cache them; return an
    error message or None.

    The build and the tests both call this, each in a fresh fork (``pool``). A lock per snippet
    makes whichever asks first run it and the other wait and read the cache: every snippet
    runs once per change, whoever needs its results.
    """
    figure, record_path = cached(root, snippet)
    figure.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(figure.parent / f"{snippet.stem}.lock"):
        if figure.exists() and record_path.exists():
            return None
        with tempfile.TemporaryDirectory() as out_dir:
            error, record_bytes = run(str(snippet), out_dir)
            drawn = Path(out_dir) / f"{snippet.stem}.svg"
            if error is None and not drawn.exists():
                error = f"exited 0 but wrote no {drawn.name}"
            if error:
                return f"{snippet.relative_to(root)} failed:\n{error.strip()}"
            for stale in figure.parent.glob(f"{snippet.stem}-*"):
                stale.unlink()
            record_path.write_bytes(record_bytes)
            shutil.move(drawn, figure)  # last: a figure without its record is not cached
    return None
