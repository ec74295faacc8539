"""A training chapter's page is its stored full run, and never a run of other code.

A training chapter (its parameters cell sets ``preset``) stores the outputs of its full-setting
execution, with ``metadata.bertbook.full_run`` saying where and when it ran (written by
``python scripts/book.py store --full``). The checks here read the stored notebooks only: no
chapter is executed.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from book_script import book
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output


def is_training_chapter(chapter) -> bool:
    """Whether the chapter has a small and a full setting: its parameters cell sets ``preset``."""
    first = next(c for c in nbformat.read(chapter, as_version=4).cells if c.cell_type == "code")
    return re.search(r"^preset\s*=", first.source, re.MULTILINE) is not None


TRAINING = [c for c in book.toc_chapters() if is_training_chapter(c)]
STORED = [c for c in TRAINING if book.full_run(c)]
START, END = "2026-12-03T03:45:10.123456+00:00", "2026-12-03T04:01:52.654321+00:00"
HARDWARE = {"device": "cpu", "torch": "2.13.0+cpu", "python": "3.11.7", "cpu": "x86_64",
            "cpu_threads": 2, "cpu_count": 2}


@pytest.mark.parametrize("chapter", TRAINING, ids=lambda p: p.stem)
def test_the_page_is_the_current_full_run(chapter: Path):
    if book.full_run(chapter) is None:
        pytest.skip(f"{chapter.stem} has no stored full run: its page shows the small ci run; "
                    f"store one with `python scripts/book.py store --full {chapter.stem}`")
    problems = book.full_run_problems(chapter)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", STORED, ids=lambda p: p.stem)
def test_no_ci_run_is_stored_as_the_full_run(chapter: Path):
    nb = nbformat.read(chapter, as_version=4)
    record = book.full_run(nb)
    assert record["parameters"]["preset"] == "full", record["parameters"]
    injected = [i for i, c in enumerate(nb.cells)
                if book.INJECTED_TAG in c.metadata.get("tags", [])]
    assert not injected, f"papermill's parameters cell is stored in cells {injected}"
    # The outputs are those stored with the record (a later `store` of the ci run would
    # change them and this hash).
    assert record["outputs_sha256"] == book.outputs_sha256(nb)


@pytest.mark.parametrize("chapter", STORED, ids=lambda p: p.stem)
def test_staleness_check_on_a_copy_of_a_stored_chapter(chapter: Path, tmp_path):
    copy = tmp_path / chapter.name
    shutil.copy2(chapter, copy)
    nb = nbformat.read(copy, as_version=4)
    markdown = next(c for c in nb.cells[2:] if c.cell_type == "markdown")
    markdown.source += "\n\nA sentence added to the prose."
    nbformat.write(nb, copy)
    assert book.full_run_problems(copy) == [], "a markdown edit must keep the run current"
    code = [c for c in nb.cells if c.cell_type == "code"][-1]
    code.source += "\n# an edited line"
    nbformat.write(nb, copy)
    problems = book.full_run_problems(copy)
    assert len(problems) == 1 and "code cells changed since its stored full run" in problems[0]
    assert f"store --full notebooks/{chapter.stem}.ipynb" in problems[0]


# --------------------------------------------------------------------------------------------
# store --full, on a tiny synthetic chapter and a papermill-like run of it


def _chapter() -> nbformat.NotebookNode:
    params = new_code_cell('preset = "ci"  # "full": the real run\nrecord_as = ""',
                           metadata={"tags": ["parameters"]})
    return new_notebook(cells=[
        new_markdown_cell("# 9. A chapter\n\nIt trains."), params,
        new_code_cell("steps = {'ci': 3, 'full': 3000}[preset]\nprint(steps)",
                      metadata={"tags": ["nbval-check-output"]}),
        new_markdown_cell("It trained."), new_code_cell("print('loss', 1 / steps)")])


def _run_of(chapter, preset="full", steps=3000, start=START) -> nbformat.NotebookNode:
    """What papermill writes for ``chapter`` run with ``-p preset <preset>``."""
    ran = nbformat.from_dict(json.loads(json.dumps(chapter)))
    injected = new_code_cell(f'preset = "{preset}"\nrecord_as = "{preset}"',
                             metadata={"tags": [book.INJECTED_TAG]})
    ran.cells.insert(2, injected)
    ran.cells[3].outputs = [new_output("stream", name="stdout", text=f"{steps}\n")]
    ran.cells[5].outputs = [new_output("stream", name="stdout", text=f"loss {1 / steps}\n")]
    ran.metadata["papermill"] = {"parameters": {"preset": preset, "record_as": preset},
                                 "start_time": start, "end_time": END, "duration": 1002.5,
                                 "exception": None}
    return ran


def _write(tmp_path, chapter, ran, record_date="2026-12-03"):
    nbformat.write(chapter, tmp_path / "09_chapter.ipynb")
    nbformat.write(ran, tmp_path / "run.ipynb")
    (tmp_path / "results").mkdir(exist_ok=True)
    record = {"date": record_date, "seconds": 990.0, "hardware": HARDWARE}
    (tmp_path / "results" / "09_chapter--full.json").write_text(json.dumps(record))
    return tmp_path / "09_chapter.ipynb", tmp_path / "run.ipynb"


def test_store_full_run_adopts_a_papermill_run(tmp_path):
    path, run = _write(tmp_path, _chapter(), _run_of(_chapter()))
    book.store_full_run(path, run)
    nb = nbformat.read(path, as_version=4)
    assert [c.cell_type for c in nb.cells] == ["markdown", "markdown", "code", "code",
                                               "markdown", "code"], "banner after the title"
    banner = nb.cells[1]
    assert banner.metadata.tags == [book.BANNER_TAG]
    assert f":class: note {book.BANNER_TAG}" in banner.source
    assert ("This page shows the full run, executed with `preset = \"full\"` on 2 CPU cores "
            "(x86_64, no GPU), torch 2.13.0+cpu, in 17 minutes on 2026-12-03") in banner.source
    assert nb.cells[3].outputs[0].text == "3000\n"  # the full run's outputs, in the source
    assert nb.cells[2].source.startswith('preset = "ci"'), "the defaults stay the small setting"
    record = book.full_run(nb)
    assert record["hardware"] == HARDWARE  # from the record the run wrote, not this machine
    assert record["date"] == "2026-12-03" and record["seconds"] == 1002.5
    assert record["parameters"] == {"preset": "full", "record_as": "full"}
    assert record["commit"].endswith("-dirty")  # this file is in no commit
    assert record["command"] == f"python scripts/book.py store --full {path}"
    assert book.full_run_problems(path) == []
    book.store_full_run(path, run)  # storing again replaces the banner, never adds one
    nb = nbformat.read(path, as_version=4)
    assert sum(book.BANNER_TAG in c.metadata.get("tags", []) for c in nb.cells) == 1
    assert book.full_run_problems(path) == []


def test_staleness_check_fails_on_code_edits_and_passes_on_prose_edits(tmp_path):
    path, run = _write(tmp_path, _chapter(), _run_of(_chapter()))
    book.store_full_run(path, run)
    nb = nbformat.read(path, as_version=4)
    nb.cells[4].source = "It trained, and this sentence is new."
    nb.cells[3].metadata["tags"] = []  # tags are no code either
    nbformat.write(nb, path)
    assert book.full_run_problems(path) == []
    nb.cells[5].source = "print('loss', 2 / steps)"
    nbformat.write(nb, path)
    problems = book.full_run_problems(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith("09_chapter: its code cells changed since its stored full run")
    assert "python scripts/book.py store --full notebooks/09_chapter.ipynb" in problems[0]


def test_staleness_check_sees_outputs_that_are_not_the_full_runs(tmp_path):
    path, run = _write(tmp_path, _chapter(), _run_of(_chapter()))
    book.store_full_run(path, run)
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].outputs = [new_output("stream", name="stdout", text="3\n")]  # a ci output
    nbformat.write(nb, path)
    assert "stored outputs are not those of its full run" in "\n".join(
        book.full_run_problems(path))
    with pytest.raises(ValueError, match="use `store --full"):
        book.store_outputs(path)  # refused before executing anything


def test_store_full_run_refuses_a_ci_run_and_a_run_of_other_code(tmp_path):
    path, run = _write(tmp_path, _chapter(), _run_of(_chapter(), preset="ci", steps=3))
    with pytest.raises(ValueError, match="not a successful full-setting run"):
        book.store_full_run(path, run)
    edited = _chapter()
    edited.cells[4].source = "print('loss', 2 / steps)"
    path, run = _write(tmp_path, edited, _run_of(_chapter()))
    with pytest.raises(ValueError, match=r"is not a run of .*09_chapter.ipynb's code \(cell 4"):
        book.store_full_run(path, run)
    assert book.full_run(path) is None, "a refused run must leave the chapter as it was"


def test_store_full_run_executes_the_full_setting(tmp_path):
    chapter = tmp_path / "09_tiny.ipynb"
    nb = new_notebook(cells=[
        new_markdown_cell("# 9. Tiny"),
        new_code_cell('preset = "ci"\nrecord_as = ""', metadata={"tags": ["parameters"]}),
        new_code_cell("print(preset, record_as)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, chapter)
    book.store_full_run(chapter, log=lambda message: None)
    nb = nbformat.read(chapter, as_version=4)
    assert nb.cells[3].outputs[0].text == "full full\n"
    assert len(nb.cells) == 4, "the banner is added, papermill's cell is not"
    record = book.full_run(nb)
    assert record["parameters"] == book.FULL_PARAMETERS and record["seconds"] > 0
    assert record["commit"].endswith("-dirty")  # a notebook outside the repository
    assert book.full_run_problems(chapter) == []


def test_banner_describes_this_machine_when_the_record_is_of_another_run(tmp_path, monkeypatch):
    path, run = _write(tmp_path, _chapter(), _run_of(_chapter()), record_date="2026-11-23")
    from bertbook import notebook

    monkeypatch.setattr(notebook, "describe_hardware", lambda device: {**HARDWARE, "cpu": "here"})
    book.store_full_run(path, run)
    assert book.full_run(path)["hardware"]["cpu"] == "here"


def test_banner_names_a_gpu_or_the_cpu_cores():
    record = {"hardware": {**HARDWARE, "device": "cuda", "gpu": "NVIDIA H200"}, "seconds": 61.0,
              "date": "2026-12-03", "commit": "abc1234", "parameters": {"preset": "full"}}
    assert "on one NVIDIA H200 GPU, torch 2.13.0+cpu, in 61 s on 2026-12-03 (commit abc1234)" \
        in book.banner_text(record)
    record["hardware"] = {**HARDWARE, "cpu_model": "AMD EPYC", "cpu_count": 16, "cpu_threads": 16}
    assert "on 16 CPU cores (AMD EPYC, x86_64, no GPU)" in book.banner_text(record)
    record["hardware"]["cpu_threads"] = 2
    assert "on 2 threads of a 16-core CPU (AMD EPYC" in book.banner_text(record)
    record["hardware"] = {**HARDWARE, "cpu_count": 2, "cpu_threads": 1}
    assert "on 1 thread of a 2-core CPU (x86_64, no GPU)" in book.banner_text(record)


def test_banner_problems_reads_the_built_pages(tmp_path):
    chapter = tmp_path / "notebooks" / "09_chapter.ipynb"
    chapter.parent.mkdir()
    nb = _chapter()
    nb.metadata["bertbook"] = {"full_run": {"code_sha256": "0"}}
    nbformat.write(nb, chapter)
    page = tmp_path / "html" / "notebooks" / "09_chapter.html"
    page.parent.mkdir(parents=True)
    page.write_text('<div class="admonition note">no banner</div>')
    problems = book.banner_problems(tmp_path / "html", [chapter], root=tmp_path)
    assert len(problems) == 1 and "does not show the banner" in problems[0]
    page.write_text(f'<div class="admonition note {book.BANNER_TAG}"><p>ran</p></div>')
    assert book.banner_problems(tmp_path / "html", [chapter], root=tmp_path) == []


def test_describe_hardware_names_the_cpu_model():
    from bertbook.notebook import describe_hardware

    hardware = describe_hardware("cpu")
    assert isinstance(hardware["cpu_model"], str)
    if Path("/proc/cpuinfo").is_file() and "model name" in Path("/proc/cpuinfo").read_text():
        assert hardware["cpu_model"], "Linux reports a model name, which the record must keep"
