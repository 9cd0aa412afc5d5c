"""Snippets, hooks, tests and tools are formatted and lint-clean (ruff, pyproject.toml)."""

import subprocess
import sys

from conftest import ROOT

PATHS = ["snippets", "hooks", "tests", "tools"]


def ruff(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ruff", *args, *PATHS]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


def test_ruff_check():
    proc = ruff("check", "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format():
    proc = ruff("format", "--check", "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
