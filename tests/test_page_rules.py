"""What a reader sees of a chapter: code that fits the page and no plumbing.

Rules of the chapter template (notebooks/_chapter_template.md), checked on the sources without
executing anything:
- every code line is at most 88 characters, so no code box on the page scrolls sideways
  (`ruff format --line-length 88` on a cell's source fixes most of them);
- `glue(...)` calls, which only hand numbers to the prose, sit in cells that the page removes or
  hides (tags `remove-cell`, `remove-input`, `hide-input`), never in code the reader reads.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from book_script import book


MAX_WIDTH = 88
REMOVED_TAGS = {"remove-cell", "remove-input"}
HIDDEN_TAGS = REMOVED_TAGS | {"hide-input"}
GLUE_CALL = re.compile(r"^\s*glue\(")  # a call at the start of a line, not `def glue(`

CHAPTERS = [p for p in book.toc_files() if p.suffix == ".ipynb"]


def wide_lines(nb) -> list[str]:
    """'cell N: <line>' for every code line longer than MAX_WIDTH that the page can show.

    Cells tagged remove-cell / remove-input never reach the page; hide-input and hide-cell ones
    do, behind a toggle, so they must fit too."""
    return [f"cell {i}: {line}" for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and not REMOVED_TAGS & set(cell.metadata.get("tags", []))
            for line in cell.source.splitlines() if len(line) > MAX_WIDTH]


def visible_glue(nb) -> list[str]:
    """'cell N: <line>' for every glue call in a cell the page shows."""
    return [f"cell {i}: {line.strip()}" for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code"
            and not HIDDEN_TAGS & set(cell.metadata.get("tags", []))
            for line in cell.source.splitlines() if GLUE_CALL.match(line)]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_code_fits_the_page(chapter):
    wide = wide_lines(nbformat.read(chapter, as_version=4))
    assert not wide, f"{len(wide)} code lines over {MAX_WIDTH} characters:\n" + "\n".join(wide)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_glue_on_the_page(chapter):
    glued = visible_glue(nbformat.read(chapter, as_version=4))
    assert not glued, "glue calls in visible cells (move them to a remove-cell cell):\n" + (
        "\n".join(glued))


def test_the_rules_catch_what_they_are_for():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1\n" + "y = '" + "a" * 90 + "'"),
        nbformat.v4.new_code_cell('glue("n", 3, display=False)'),
        nbformat.v4.new_code_cell('glue("m", 4)\n# ' + "b" * 90, metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("def glue(name, value):\n    pass"),
    ])
    assert [w.split(":")[0] for w in wide_lines(nb)] == ["cell 0"]
    assert visible_glue(nb) == ['cell 1: glue("n", 3, display=False)']
