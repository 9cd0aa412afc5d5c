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

# The same floats on every x86-64 machine with AVX2, run after run. One thread per process: the
# build runs one snippet per core, and a fixed thread count fixes the order of float reductions.
# Fixed kernels: ATen, MKL and oneDNN otherwise pick code paths by CPU (AVX2, AVX-512, AMD or
# Intel), and a training run that rounds differently ends at a different loss in the third digit.
FIXED_NUMERICS = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2,STRICT",  # MKL's conditional numerical reproducibility
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}


def fix_numerics():
    """Put FIXED_NUMERICS in os.environ, before torch loads: every process started from here
    on (the fork server and its snippets, a snippet run alone, a lab's kernel) inherits it."""
    os.environ.update(FIXED_NUMERICS)


def pool(workers: int) -> ProcessPoolExecutor:
    """A pool whose every task runs in a new fork of the preloaded server."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
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
