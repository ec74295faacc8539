"""Every chapter in _toc.yml runs, keeps its checked outputs, and the book builds from those runs.

One papermill execution per chapter (scripts/book.py, reused while fresh) serves the chapter
tests here and the book build at the end of this file, which pytest runs last in the module.
The checked cells are nbval's (tag ``nbval-check-output`` or comment ``# NBVAL_CHECK_OUTPUT``)
and nbval compares them, with the sanitising patterns of tests/nbval_sanitize.cfg.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbval.plugin import (IPyNbCell, coalesce_streams, find_comment_markers, find_metadata_tags,
                          get_sanitize_patterns, nocolors)

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bertbook_book_script", ROOT / "scripts" / "book.py")
book = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = book
_spec.loader.exec_module(book)

CHAPTERS = book.toc_chapters()
SANITIZE_FILE = ROOT / "tests" / "nbval_sanitize.cfg"  # the one place for sanitising patterns
PARAMETERS_TAG = "parameters"
CHECK_TAG = "nbval-check-output"  # nbval's tag; same meaning as the comment NBVAL_CHECK_OUTPUT
# Tags that look like the check tag but that nbval does not honour: a cell carrying one would
# silently go unchecked, so lint() reports it.
NEAR_MISS_TAGS = {"nbval-check", "nbval_check", "nbval-check-outputs", "nbval_check_output",
                  "NBVAL_CHECK_OUTPUT", "nbval-checked"}
# Output fields nbval's comparison leaves out: its own defaults (IPyNbFile.skip_compare) and,
# as this book has always done, HTML (the text/plain beside it is compared) and SVG images.
SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name",
                "execution_count", "application/vnd.jupyter.widget-view+json",
                "image/png", "image/jpeg", "image/svg+xml", "text/html")
GLUE_PREFIX = "application/papermill.record/"  # myst-nb glue: values of the run's own setting


@dataclass(frozen=True)
class Mismatch:
    """One checked cell whose fresh outputs differ from the outputs stored in the source."""

    cell_index: int  # index in the source notebook's cells, counting from 0
    diff: str  # nbval's account of the difference
    source: str = ""  # the cell's code

    def __str__(self) -> str:
        return f"cell {self.cell_index}:\n{_indent(self.source)}\n{_indent(self.diff, '  | ')}"


def lint(source_nb) -> list[str]:
    """Problems with a chapter's source notebook, as sentences; empty when it follows the rules.

    The first code cell must be tagged ``parameters``; no cell may store an error output; no
    cell may carry a misspelt check tag (it would silently go unchecked); papermill's
    injected-parameters cell is never stored (it would override the parameters in every run);
    a full-run banner only stands in a chapter with a stored full run (tests/test_full_runs.py
    checks that run).
    """
    nb = book._read(source_nb)
    problems = []
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if not code:
        problems.append("has no code cell")
    elif PARAMETERS_TAG not in code[0][1].metadata.get("tags", []):
        problems.append(f"first code cell (cell {code[0][0]}) is not tagged {PARAMETERS_TAG!r}")
    else:
        problems += _parameter_problems(*code[0])
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i} stores an error output ({out.get('ename')}: "
                                f"{out.get('evalue')}); re-run it or clear its outputs")
        for tag in sorted(set(cell.metadata.get("tags", [])) & NEAR_MISS_TAGS):
            problems.append(f"cell {i} has tag {tag!r}, which nothing honours; use {CHECK_TAG!r}")
        if cell.cell_type == "code" and is_checked(cell) and not cell.get("outputs"):
            problems.append(f"cell {i} is checked ({CHECK_TAG}) but stores no outputs to compare")
        tags = cell.metadata.get("tags", [])
        if book.INJECTED_TAG in tags:
            problems.append(f"cell {i} is papermill's {book.INJECTED_TAG!r} cell: stored, it "
                            "overrides the parameters cell in every run; delete it")
        if book.BANNER_TAG in tags and not book.full_run(nb):
            problems.append(f"cell {i} is a {book.BANNER_TAG!r} cell, but no full run is stored "
                            "(metadata.bertbook.full_run): delete it or `store --full`")
    return problems


def _parameter_problems(index: int, cell) -> list[str]:
    """Every name the parameters cell assigns must be one papermill can read and override."""
    from papermill.translators import PythonTranslator

    try:
        body = ast.parse(cell.source).body
    except SyntaxError as exc:
        return [f"parameters cell (cell {index}) is not plain Python: {exc}"]
    assigned = [target.id for node in body if isinstance(node, (ast.Assign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name)]
    # Trap: papermill reads `name = value  # help` with a regex; an "=" inside the comment
    # makes it skip the line (it only logs), and `papermill --help-notebook` loses the knob.
    readable = {p.name for p in PythonTranslator.inspect(cell)}
    unreadable = [name for name in assigned if name not in readable]
    if unreadable:
        return [f"papermill cannot read parameter(s) {unreadable} in cell {index}: write one "
                "`name = value  # comment` per line, with no '=' in the comment"]
    return []


def is_checked(cell) -> bool:
    """nbval's own reading of a cell's markers: tags, then comments, which override them."""
    options = dict(find_metadata_tags(cell.metadata))
    options.update(find_comment_markers(cell.source))
    return bool(options.get("check"))


def sanitize_patterns(path: Path = SANITIZE_FILE) -> dict[str, str]:
    """The regex -> replacement pairs of an nbval sanitize file, in order (nbval's own reader)."""
    return dict(get_sanitize_patterns(Path(path).read_text(encoding="utf-8")))


def sanitize(text: str, patterns: dict[str, str] | None = None) -> str:
    """``text`` as nbval sees it before comparing (the patterns of ``tests/nbval_sanitize.cfg``)."""
    return _comparer(sanitize_patterns() if patterns is None else patterns).sanitize(text)


def _comparer(patterns: dict[str, str]):
    """nbval's output comparison, outside a notebook nbval executes itself.

    Trap: nbval compares only while running a notebook in its own kernel (IPyNbCell.runtest);
    it has no way to compare a stored notebook with a copy executed elsewhere. Running it as
    well would execute every chapter twice (papermill's run is the book's), so we call its
    comparison (IPyNbCell.compare_outputs, with its sanitising) on a stand-in for the cell item.
    """
    class Comparer:
        compare_outputs = IPyNbCell.compare_outputs  # fills comparison_traceback on a mismatch
        sanitize = IPyNbCell.sanitize
        colors = nocolors

        def __init__(self):
            self.parent = SimpleNamespace(sanitize_patterns=patterns, skip_compare=SKIP_COMPARE)
            self.comparison_traceback: list[str] = []

        def format_output_compare(self, key, left, right):
            # nbval asks pytest for a diff here (only inside a pytest run of its own items);
            # check_outputs shows the whole cell's diff instead.
            self.comparison_traceback.append(f"mismatch {key!r}")

    return Comparer()


def _diff(stored, got, comparer) -> list[str]:
    """A unified diff of the text a reader sees in two lists of outputs, as nbval compares it:
    the streams by name, text/plain, errors."""
    def lines(outputs):
        for out in outputs:
            data = out.get("data", {})
            text = out.get("text") or data.get("text/plain") or out.get("evalue")
            if text is not None:
                yield f"[{out.get('name') or out.get('ename') or 'text/plain'}]"
                yield from comparer.sanitize(text).splitlines()

    return list(difflib.unified_diff(list(lines(stored)), list(lines(got)), "stored",
                                     "executed", lineterm=""))


def check_outputs(source_nb, executed_nb, sanitize_file: Path = SANITIZE_FILE) -> list[Mismatch]:
    """Compare the stored outputs of the checked cells of ``source_nb`` with ``executed_nb``.

    Both are paths or ``nbformat`` notebooks. Returns one :class:`Mismatch` per checked cell
    whose sanitised outputs differ (empty list: all agree). Raises ``ValueError`` when the
    executed notebook is not a run of this source (different cells): execute it again.
    """
    source, ran = book._read(source_nb), book._source_cells(book._read(executed_nb))
    if len(ran) != len(source.cells):
        raise ValueError(f"the executed notebook has {len(ran)} cells and the source "
                         f"{len(source.cells)}: it is not a run of this source; execute it again")
    comparer, mismatches = _comparer(sanitize_patterns(sanitize_file)), []
    for i, (cell, fresh) in enumerate(zip(source.cells, ran)):
        if cell.cell_type != "code" or not is_checked(cell):
            continue
        if fresh.source != cell.source:
            raise ValueError(f"cell {i} differs between the source and the executed notebook: "
                             "it is not a run of this source; execute it again")
        comparer.comparison_traceback = []
        stored, got = (coalesce_streams(_without_glue(c.get("outputs", []))) for c in (cell, fresh))
        if not comparer.compare_outputs(got, stored):
            account = comparer.comparison_traceback + _diff(stored, got, comparer)
            mismatches.append(Mismatch(i, "\n".join(account), cell.source))
    return mismatches


def _without_glue(outputs) -> list:
    """Copies of ``outputs`` without glue records (values of the run's own setting)."""
    outputs = [nbformat.from_dict(o) for o in outputs]
    for out in outputs:
        for key in [k for k in out.get("data", {}) if k.startswith(GLUE_PREFIX)]:
            del out.data[key]
    return outputs




def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines()) or prefix


def _config_repository_url() -> str:
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def _makefile_data_pins() -> list[str]:
    """The pinned data packages (``DATA_PKGS ?= a==1 b==2``) from the Makefile."""
    match = re.search(r"^DATA_PKGS\s*\??=\s*(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile has no DATA_PKGS line: cannot check the chapters' Colab install cells"
    return match.group(1).split()


def _install_cell_problems(source: Path, executed: Path) -> list[str]:
    """The second code cell installs bertbook and the pinned data only when missing."""
    src = [c for c in nbformat.read(source, as_version=4).cells if c.cell_type == "code"]
    if len(src) < 2:
        return ["has no second code cell (the Colab install cell)"]
    cell = src[1].source
    problems = []
    if "%pip install" not in cell:
        problems.append("second code cell is not the Colab install cell (no `%pip install`)")
        return problems
    for pin in _makefile_data_pins():
        if pin not in cell:
            problems.append(f"install cell does not pin {pin} (the Makefile's DATA_PKGS)")
    url = _config_repository_url()
    if url not in cell:
        problems.append(f"install cell does not install bertbook from {url} (_config.yml)")
    if re.search(r"pip install[^\n]*\btorch\b", cell):
        problems.append("install cell (re)installs torch; Colab's own torch must be kept")
    ran = [c for c in book._source_cells(nbformat.read(executed, as_version=4))
           if c.cell_type == "code"]
    if ran[1].get("outputs"):
        problems.append("install cell printed something here, so it was not a no-op: "
                        + repr(ran[1].outputs[0])[:300])
    return problems


# --------------------------------------------------------------------------------------------
# The chapters


def test_toc_lists_every_chapter_notebook():
    on_disk = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [p.name for p in on_disk if p not in CHAPTERS]
    assert not missing, f"chapter notebooks not listed in _toc.yml: {missing}"
    assert CHAPTERS, "_toc.yml lists no chapter notebook"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter(chapter: Path):
    failure = None
    try:
        executed = book.execute(chapter)
    except book.ChapterExecutionError as exc:
        failure = str(exc)
    if failure:  # outside the except block: pytest shows the notebook's traceback, not ours
        pytest.fail(failure, pytrace=False)
    problems = lint(chapter)
    problems += [str(m) for m in check_outputs(chapter, executed)]
    problems += _install_cell_problems(chapter, executed)
    assert not problems, f"{chapter.name}:\n" + "\n\n".join(problems)


# --------------------------------------------------------------------------------------------
# The machinery itself, on tiny synthetic notebooks


def _nb(*cells):
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def _code(source, outputs=(), tags=()):
    cell = new_code_cell(source, outputs=list(outputs))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _stdout(text):
    return new_output("stream", name="stdout", text=text)


def _result(text, **extra):
    return new_output("execute_result", data={"text/plain": text, **extra}, execution_count=1)


def _glue(value):
    return new_output("display_data", data={GLUE_PREFIX + "text/plain": value},
                      metadata={"scrapbook": {"name": "n"}})


def test_check_outputs_catches_a_mismatch_and_ignores_the_rest(tmp_path):
    checked = [CHECK_TAG]
    html = "text/html"
    source = _nb(
        _code("n = 3", tags=["parameters"]),
        _code("print(n)", [_stdout("3\n")], tags=checked),  # 1: mismatch
        _code("object()", [_result("<object object at 0x7f2b8c0d1e20>")], tags=checked),  # 2
        _code("print(time.time())", [_stdout("1700000000.1\n")]),  # 3: unchecked
        _code("fig", [_result("<Figure>", **{"image/png": "AAAA"})], tags=checked),  # 4: image
        _code("# NBVAL_CHECK_OUTPUT\nprint('a'); print('b')", [_stdout("a\nb\n")]),  # 5: marker
        new_markdown_cell("text"),
        _code("print('x')", [_stdout("x\n")], tags=checked),  # 7: mismatch
        _code("glue('n', n); df", [_glue("3"), _result("df", **{html: "<b>3</b>"})],
              tags=checked),  # 8: glue records and HTML are not compared
        _code("# NBVAL_IGNORE_OUTPUT\nprint(n)", [_stdout("3\n")], tags=checked),  # 9: opts out
    )
    injected = _code("n = 4", tags=[book.INJECTED_TAG])  # papermill's cell shifts the indices
    executed = _nb(
        source.cells[0], injected,
        _code("print(n)", [_stdout("4\n")], tags=checked),
        _code("object()", [_result("<object object at 0x55d1c2a3b4c0>")], tags=checked),
        _code("print(time.time())", [_stdout("1800000000.7\n")]),
        _code("fig", [_result("<Figure>", **{"image/png": "BBBB"})], tags=checked),
        _code("# NBVAL_CHECK_OUTPUT\nprint('a'); print('b')", [_stdout("a\n"), _stdout("b\n")]),
        new_markdown_cell("text"),
        _code("print('x')", [_stdout("x\n"), new_output("stream", name="stderr", text="warn\n")],
              tags=checked),
        _code("glue('n', n); df", [_glue("4"), _result("df", **{html: "<b>4</b>"})],
              tags=checked),
        _code("# NBVAL_IGNORE_OUTPUT\nprint(n)", [_stdout("4\n")], tags=checked),
    )
    for nb in (source, executed):
        nbformat.validate(nb)
    nbformat.write(source, tmp_path / "source.ipynb")
    nbformat.write(executed, tmp_path / "executed.ipynb")

    mismatches = check_outputs(tmp_path / "source.ipynb", tmp_path / "executed.ipynb")

    assert [m.cell_index for m in mismatches] == [1, 7]
    assert "mismatch 'stdout'" in mismatches[0].diff
    assert "-3" in mismatches[0].diff.splitlines() and "+4" in mismatches[0].diff.splitlines()
    assert "Unexpected output fields from running code: {'stderr'}" in mismatches[1].diff
    assert mismatches[1].diff.endswith("+[stderr]\n+warn")  # what the new output says
    assert str(mismatches[0]).startswith("cell 1:\n    print(n)\n")
    # Agreeing notebooks give no mismatch at all, and the notebooks were not changed.
    assert check_outputs(source, source) == []
    assert nbformat.read(tmp_path / "source.ipynb", as_version=4) == source


def test_check_outputs_refuses_a_run_of_another_notebook():
    source = _nb(_code("x = 1", tags=["parameters"]),
                 _code("print(x)", [_stdout("1\n")], tags=[CHECK_TAG]))
    shorter = _nb(_code("x = 1", tags=["parameters"]))
    edited = _nb(_code("x = 1", tags=["parameters"]),
                 _code("print(x + 1)", [_stdout("2\n")], tags=[CHECK_TAG]))
    with pytest.raises(ValueError, match="not a run of this source"):
        check_outputs(source, shorter)
    with pytest.raises(ValueError, match="cell 1 differs"):
        check_outputs(source, edited)


def test_sanitize_removes_addresses_and_timings_only():
    text = "<Foo at 0x7fa3b2c1d0e0> took 1.25 s (12 ms/step), 3.4it/s, shape (2, 8)"
    assert sanitize(text) == "<Foo at 0xADDRESS> took TIME (TIME/step), RATE, shape (2, 8)"
    bar = "100%|##########| 8/8 [00:01<00:00, 5.20it/s]"
    assert sanitize(bar) == "100%|##########| 8/8 [ELAPSED<LEFT]"


def test_sanitize_makes_paths_independent_of_where_the_checkout_lives():
    site = "/.venv/lib/python3.11/site-packages/pkg/model; read "
    here = f"weights at /work/main{site}/work/main/benchmarks/r.json"
    clone = f"weights at /check/clone{site}/check/clone/benchmarks/r.json"
    assert sanitize(here) == sanitize(clone)
    assert "pkg/model" in sanitize(here) and "benchmarks/r.json" in sanitize(here)
    # relative paths and fractions are not paths to rewrite
    assert sanitize("notebooks/results and 1/2") == "notebooks/results and 1/2"
    assert sanitize("/opt/a/model") != sanitize("/opt/b/model")


def test_lint_names_each_broken_rule(tmp_path):
    nb = _nb(
        new_markdown_cell("# 9. Broken"),
        _code("x = 1"),  # not tagged parameters
        _code("1 / 0", [new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                   traceback=[])]),
        _code("print(2)", [_stdout("2\n")], tags=["nbval-check"]),  # misspelt check tag
        _code("print(3)", tags=[CHECK_TAG]),  # checked but nothing stored
        _code("x = 2", tags=[book.INJECTED_TAG]),  # papermill's cell, stored
        new_markdown_cell("ran in full", metadata={"tags": [book.BANNER_TAG]}),  # no run stored
    )
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    problems = "\n".join(lint(path))
    assert "first code cell (cell 1) is not tagged 'parameters'" in problems
    assert "cell 2 stores an error output (ZeroDivisionError" in problems
    assert "cell 3 has tag 'nbval-check'" in problems
    assert "cell 4 is checked" in problems
    assert "cell 5 is papermill's 'injected-parameters' cell" in problems
    assert "cell 6 is a 'full-run-banner' cell, but no full run is stored" in problems
    nbformat.write(_nb(_code('steps = 3  # CPU; full run = 3000', tags=["parameters"])), path)
    assert "papermill cannot read parameter(s) ['steps']" in "\n".join(lint(path))
    good = _nb(new_markdown_cell("# 9. Fine"), _code("x = 1", tags=["parameters"]))
    nbformat.write(good, path)
    assert lint(path) == []


def test_execute_names_the_failing_cell_and_keeps_no_reusable_copy(tmp_path):
    chapter = tmp_path / "fails.ipynb"
    nbformat.write(_nb(new_markdown_cell("# failing"), _code("x = 1", tags=["parameters"]),
                       _code("y = 1 / (x - 1)")), chapter)
    out_dir = tmp_path / "executed"
    with pytest.raises(book.ChapterExecutionError) as info:
        book.execute(chapter, out_dir=out_dir, dependencies=(), log=lambda m: None)
    message = str(info.value)
    assert "fails.ipynb failed in cell 2" in message
    assert "ZeroDivisionError: division by zero" in message
    assert "y = 1 / (x - 1)" in message  # the cell's source and traceback are in the message
    assert not (out_dir / "fails.ipynb").exists()
    assert (out_dir / "fails.failed.ipynb").exists()


def test_execute_uses_this_environment_and_reuses_a_fresh_copy(tmp_path):
    chapter = tmp_path / "ok.ipynb"
    nbformat.write(_nb(_code("value = 1", tags=["parameters"]),
                       _code("import sys, importlib.util\nprint(sys.prefix)\n"
                             "print(importlib.util.find_spec('bertbook').origin)\n"  # no torch
                             "print(value)")), chapter)
    out_dir = tmp_path / "executed"
    runs = []
    log = runs.append

    def printed(path):
        cells = nbformat.read(path, as_version=4).cells
        return "".join(o.text for o in cells[-1].outputs if o.output_type == "stream").split("\n")

    out = book.execute(chapter, out_dir=out_dir, dependencies=(), log=log)
    prefix, package, value = printed(out)[:3]
    # The kernel is this interpreter's environment (the venv) and imports this checkout.
    assert prefix == sys.prefix
    assert Path(package).resolve().parent == (ROOT / "bertbook").resolve()
    assert value == "1"
    assert "PYTHONPATH" not in os.environ or str(ROOT) not in os.environ["PYTHONPATH"].split(
        os.pathsep)[:1], "the kernel's PYTHONPATH leaked into this process"
    n_runs = len(runs)
    assert book.execute(chapter, out_dir=out_dir, dependencies=(), log=log) == out
    assert len(runs) == n_runs, "a fresh executed copy was run again"

    later = out.stat().st_mtime + 5
    os.utime(chapter, (later, later))  # the source changed after the run: stale
    book.execute(chapter, out_dir=out_dir, dependencies=(), log=log)
    assert len(runs) > n_runs
    n_runs = len(runs)
    out = book.execute(chapter, out_dir=out_dir, dependencies=(), parameters={"value": 2}, log=log)
    assert len(runs) > n_runs, "new parameters must run again"
    assert printed(out)[2] == "2"


def test_execute_rejects_bad_arguments(tmp_path):
    chapter = tmp_path / "ok.ipynb"
    nbformat.write(_nb(_code("x = 1", tags=["parameters"])), chapter)
    with pytest.raises(TypeError, match="parameters must be a dict"):
        book.execute(chapter, parameters=[("x", 2)])
    with pytest.raises(ValueError, match="timeout must be a positive"):
        book.execute(chapter, timeout=0)
    with pytest.raises(FileNotFoundError, match="no chapter notebook 'no_such_chapter'"):
        book.execute("no_such_chapter")


def test_toc_chapters_reads_parts_sections_and_globs_in_order(tmp_path):
    for name in ("book/intro.md", "book/other.md", "notebooks/02_b.ipynb",
                 "notebooks/01_a.ipynb", "notebooks/03_c.ipynb", "extra/10_x.ipynb",
                 "extra/11_y.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n"
        "  - caption: A\n    chapters:\n"
        "      - file: notebooks/02_b\n        sections:\n          - file: notebooks/01_a\n"
        "      - file: book/other\n"
        "  - caption: B\n    chapters:\n      - glob: extra/*\n      - file: notebooks/03_c.ipynb\n"
        "      - url: https://example.org\n        title: elsewhere\n")
    names = [p.relative_to(tmp_path).as_posix() for p in book.toc_chapters(tmp_path / "_toc.yml")]
    assert names == ["notebooks/02_b.ipynb", "notebooks/01_a.ipynb", "extra/10_x.ipynb",
                     "extra/11_y.ipynb", "notebooks/03_c.ipynb"]
    pages = [p.relative_to(tmp_path).as_posix() for p in book.toc_files(tmp_path / "_toc.yml")]
    assert pages[:4] == ["book/intro.md", "notebooks/02_b.ipynb", "notebooks/01_a.ipynb",
                         "book/other.md"] and len(pages) == 7


def test_check_site_flags_mathjax_from_a_cdn(tmp_path):
    (tmp_path / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "_static" / "mathjax" / "tex-chtml.js").write_text("")
    (tmp_path / "index.html").write_text(
        '<script defer src="_static/mathjax/tex-chtml.js"></script>')
    assert book.check_site(tmp_path) == []
    (tmp_path / "page.html").write_text(
        '<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>')
    problems = book.check_site(tmp_path)
    assert any("page.html loads MathJax from a CDN" in p for p in problems), problems


def test_dom_problems_sees_raw_math_tex_errors_traces_and_missing_images(tmp_path):
    (tmp_path / "fig.png").write_bytes(b"\x89PNG...")
    page = tmp_path / "page.html"
    math = '<span class="math notranslate nohighlight">'
    good = (f'<p>{math}<mjx-container jax="CHTML">x</mjx-container></span></p>'
            '<div class="math notranslate nohighlight">\n<mjx-container>y</mjx-container></div>'
            '<img src="fig.png">')
    assert book.dom_problems(good, page) == []
    bad = (f'{math}\\(QK^\\top\\)</span> {math}\\(x\\)</span><mjx-merror>!</mjx-merror>'
           '<pre>Traceback (most recent call last):</pre><img src="missing.png">'
           '<img src="data:image/png;base64,AA">')
    problems = book.dom_problems(bad, page)
    assert len(problems) == 4, problems
    assert "2 formula(s) not typeset" in problems[0] and "QK" in problems[0]  # both counted
    assert "TeX error" in problems[1] and "traceback" in problems[2]
    assert "missing.png" in problems[3]


def _site_with_math(site: Path) -> dict[str, Path]:
    """A tiny site with the MathJax the book bundles: a page it typesets, one without MathJax,
    one with a TeX error, and a redirect stub."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None:
        pytest.skip("sphinx-mathjax-offline is not installed")
    (site / "_static").mkdir(parents=True)
    shutil.copytree(Path(spec.origin).parent / "static" / "mathjax", site / "_static" / "mathjax")
    mathjax = '<script defer src="_static/mathjax/tex-chtml.js"></script>'
    math = '<span class="math notranslate nohighlight">'
    pages = {"typeset": mathjax + math + r"\(\operatorname{softmax}(QK^\top)\)</span>",
             "plain": math + r"\(QK^\top\)</span>",  # no MathJax loaded: the raw TeX stays
             "broken": mathjax + math + r"\(\frac{1}\)</span>",  # a TeX error
             "stub": '<meta http-equiv="Refresh" content="0; url=typeset.html" />'}
    for name, body in pages.items():
        (site / f"{name}.html").write_text(f"<html><body><p>{body}</p></body></html>")
    return {name: site / f"{name}.html" for name in pages}


@pytest.mark.browser
@pytest.mark.skipif(book.find_browser() is None, reason="no Chromium on this machine")
def test_chromium_runs_the_bundled_mathjax_and_the_check_sees_what_is_broken(tmp_path,
                                                                              monkeypatch):
    pages = _site_with_math(tmp_path / "html")
    browser = book.find_browser()
    dom = book.rendered_dom(pages["typeset"], browser)
    assert "<mjx-container" in dom and book.dom_problems(dom, pages["typeset"]) == []

    monkeypatch.setattr(book, "site_pages", lambda html: list(pages.values()))
    shots = tmp_path / "shots"
    problems = book.check_rendering(tmp_path / "html", browser, screenshots=shots,
                                    log=lambda m: None)
    assert len(problems) == 2, problems
    assert "plain.html: 1 formula(s) not typeset by MathJax" in problems[0]
    assert "broken.html: MathJax reports 1 TeX error(s)" in problems[1]
    assert 'e.g. "Missing argument for \\frac"' in problems[1]
    assert sorted(p.name for p in shots.iterdir()) == ["broken.png", "plain.png", "typeset.png"]
    assert (shots / "typeset.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_redirect_target_reads_the_root_stub(tmp_path):
    (tmp_path / "index.html").write_text(
        '<meta http-equiv="Refresh" content="0; url=book/preface.html" />')
    (tmp_path / "page.html").write_text("<html><body><p>text</p></body></html>")
    target = book.redirect_target(tmp_path / "index.html")
    assert target == (tmp_path / "book" / "preface.html").resolve()
    assert book.redirect_target(tmp_path / "page.html") is None


# --------------------------------------------------------------------------------------------
# The book, built last from the executed copies above


@pytest.mark.slow
def test_book_builds_offline_from_the_executed_chapters():
    failure = None
    try:
        html = book.build_book()
    except book.BookBuildError as exc:
        failure = str(exc)
    if failure:
        pytest.fail(failure, pytrace=False)
    assert (html / "index.html").is_file()
    for chapter in CHAPTERS:
        assert (html / chapter.relative_to(ROOT)).with_suffix(".html").is_file()
    pages = sorted(html.rglob("*.html"))
    cdn = re.compile(r"""src=["'](?:https?:)?//[^"']*mathjax""", re.IGNORECASE)
    offenders = [p.name for p in pages if cdn.search(p.read_text(encoding="utf-8"))]
    assert not offenders, f"pages loading MathJax from a CDN: {offenders}"
    notation = (html / "book" / "notation.html").read_text(encoding="utf-8")
    assert 'src="../_static/mathjax/tex-chtml.js' in notation
    assert "\\operatorname{Attention}" in notation  # the formula is there for MathJax to typeset
