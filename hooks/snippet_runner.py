"""Run snippets in forks of a process that has already imported torch and matplotlib.

Importing them takes about two seconds, most of a snippet's run. The build's fork server
imports them once (``PRELOAD``); every snippet then runs in a fresh fork of that server, as
``python <snippet> <out_dir>`` would run it, so nothing leaks from one snippet to the next.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import runpy
import site
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver

PRELOAD = ["torch", "numpy", "matplotlib.pyplot"]

# One thread per process: the build runs one snippet per core, and a fixed thread count keeps
# float reductions, hence the figures, identical from run to run and to the tests' runs.
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@contextlib.contextmanager
def single_threaded_env():
    """Set SINGLE_THREAD in os.environ while the fork server starts, which copies it."""
    saved = {key: os.environ.get(key) for key in SINGLE_THREAD}
    os.environ.update(SINGLE_THREAD)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value


def pool(workers: int) -> ProcessPoolExecutor:
    """A pool whose every task runs in a new fork of the preloaded server."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    with single_threaded_env():
        forkserver.ensure_running()
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        max_tasks_per_child=1,
        initializer=site.addsitedir,  # so that the forks can import this module
        initargs=(os.path.dirname(__file__),),
    )


def run(snippet: str, out_dir: str) -> str | None:
    """Run ``snippet`` as ``__main__`` with ``out_dir`` as its argument.

    Return what ``python snippet out_dir`` would print to stderr if it failed, or None.
    """
    sys.argv = [snippet, out_dir]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(snippet, run_name="__main__")
    except SystemExit as exit:  # sys.exit("message") or sys.exit(status)
        if exit.code in (None, 0):
            return None
        return exit.code if isinstance(exit.code, str) else f"exit status {exit.code}"
    except BaseException:
        return traceback.format_exc()
    return None
