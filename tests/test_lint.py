"""Snippets, hooks, tests and tools are formatted and lint-clean (ruff, pyproject.toml); lab
code fits the page; the CI workflow is actionlint-clean."""

import subprocess
import sys
from pathlib import Path

import jupytext
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


# A lab's code cell shows 77 characters on the page before it scrolls sideways (measured in
# Chromium: 614 pixels at 7.95 a character).
LAB_CODE_WIDTH = 77


def test_lab_code_fits_the_page():
    too_wide = [
        f"{lab.name}: {line}"
        for lab in sorted((ROOT / "docs/labs").glob("*.py"))
        for cell in jupytext.read(lab).cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if len(line) > LAB_CODE_WIDTH
    ]
    assert not too_wide, "\n".join(too_wide)


def test_workflows_are_actionlint_clean():
    actionlint = Path(sys.executable).with_name("actionlint")  # installed beside pytest
    proc = subprocess.run([actionlint], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
