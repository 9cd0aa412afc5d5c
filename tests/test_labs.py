"""What the labs' Markdown says about their outputs is what their cells compute.

The build runs each lab once (hooks/notebooks.py), under this session's numerics profile, and
caches the executed notebook (the ``labs`` fixture of conftest.py reads it, or runs the lab if
the build has not yet). Its last cell, tagged "test" and hidden from readers, prints as JSON the
numbers the checks need: the lab's own variables and, where the Markdown says a result is or is
not sensitive to rounding, a training run from weights nudged by a rounding-sized amount. Each
check, in tests/test_lab_<name>.py, tests a claim with a margin that holds under every profile
and finds the claim's text in the Markdown. This file checks what every lab shares.
"""

import nbformat
from conftest import ROOT

from notebooks import find_labs

LAB_OUTPUT_WIDTH = 77  # characters of a cell's printed output that show without scrolling


def test_printed_tables_fit_the_page(site):
    """The outputs readers see (the published notebooks) fit the width of the page."""
    too_wide = []
    for path in find_labs(ROOT):
        notebook = nbformat.read(site / "labs" / path.stem / f"{path.stem}.ipynb", 4)
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                lines = output.get("text", "").splitlines()
                too_wide += [f"{path.name}: {ln}" for ln in lines if len(ln) > LAB_OUTPUT_WIDTH]
    assert not too_wide, "\n".join(too_wide)


def test_what_a_cell_prints_is_one_output_per_stream_and_no_cell_records_when_it_ran(site):
    """However the kernel flushed it (every 0.2 s), whenever the lab ran: the notebook readers
    download does not depend on the timing."""
    split, timed = [], []
    for path in find_labs(ROOT):
        notebook = nbformat.read(site / "labs" / path.stem / f"{path.stem}.ipynb", 4)
        for number, cell in enumerate(notebook.cells, 1):
            streams = [o.name for o in cell.get("outputs", []) if o.output_type == "stream"]
            split += [f"{path.name}, cell {number}"] if len(streams) > len(set(streams)) else []
            timed += [f"{path.name}, cell {number}"] if "execution" in cell.metadata else []
    assert not split, split
    assert not timed, timed
