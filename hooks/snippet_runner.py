"""Run snippets in forks of a process that has already imported torch and matplotlib.

Importing them takes about two seconds, most of a snippet's run. The build's fork server
imports them once (``PRELOAD``); every snippet then runs in a fresh fork of that server, as
``python <snippet> <out_dir>`` would run it, so nothing leaks from one snippet to the next.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import os
import runpy
import site
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver
from pathlib import Path

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


def cache_key(root: Path, source: Path) -> str:
    """What a cached result of running ``source`` depends on: its bytes, the pinned
    requirements and the numerics profile."""
    digest = hashlib.sha256(source.read_bytes())
    digest.update((root / "requirements.txt").read_bytes())
    digest.update(repr(numerics()).encode())
    return digest.hexdigest()[:16]


def fix_numerics():
    """Put the selected profile in os.environ, before torch loads: every process started from
    here on (the fork server and its snippets, a lab's kernel) inherits it."""
    os.environ.update(numerics()[1])


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
