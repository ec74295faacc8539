"""Every chapter in _toc.yml runs, keeps its checked outputs, and the book builds from those runs.

One papermill execution per chapter (scripts/book.py, reused while fresh) serves the chapter
tests here and the book build at the end of this file, which pytest runs last in the module.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bertbook_book_script", ROOT / "scripts" / "book.py")
book = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = book  # dataclasses need the module registered
_spec.loader.exec_module(book)

CHAPTERS = book.toc_chapters()


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
    ran = [c for c in nbformat.read(executed, as_version=4).cells
           if c.cell_type == "code" and book.INJECTED_TAG not in c.metadata.get("tags", [])]
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


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter(chapter: Path):
    failure = None
    try:
        executed = book.execute(chapter)
    except book.ChapterExecutionError as exc:
        failure = str(exc)
    if failure:  # outside the except block: pytest shows the notebook's traceback, not ours
        pytest.fail(failure, pytrace=False)
    problems = book.lint(chapter)
    problems += [str(m) for m in book.check_outputs(chapter, executed)]
    problems += _install_cell_problems(chapter, executed)
    assert not problems, f"{chapter.name}:\n" + "\n\n".join(problems)


# --------------------------------------------------------------------------------------------
# The machinery itself, on tiny synthetic notebooks


def _nb(*cells):
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
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


def test_check_outputs_catches_a_mismatch_and_ignores_the_rest(tmp_path):
    checked = [book.CHECK_TAG]
    source = _nb(
        _code("n = 3", tags=["parameters"]),
        _code("print(n)", [_stdout("3\n")], tags=checked),                          # 1: mismatch
        _code("object()", [_result("<object object at 0x7f2b8c0d1e20>")], tags=checked),  # 2
        _code("print(time.time())", [_stdout("1700000000.1\n")]),                   # 3: unchecked
        _code("fig", [_result("<Figure>", **{"image/png": "AAAA"})], tags=checked),  # 4: image
        _code("# NBVAL_CHECK_OUTPUT\nprint('a'); print('b')", [_stdout("a\nb\n")]),  # 5: marker
        new_markdown_cell("text"),
        _code("print('x')", [_stdout("x\n")], tags=checked),                         # 7: mismatch
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
    )
    for nb in (source, executed):
        nbformat.validate(nb)
    nbformat.write(source, tmp_path / "source.ipynb")
    nbformat.write(executed, tmp_path / "executed.ipynb")

    mismatches = book.check_outputs(tmp_path / "source.ipynb", tmp_path / "executed.ipynb")

    assert [m.cell_index for m in mismatches] == [1, 7]
    assert mismatches[0].expected == "[stdout]\n3" and mismatches[0].got == "[stdout]\n4"
    assert "[stderr]\nwarn" in mismatches[1].got and "stderr" not in mismatches[1].expected
    assert "print(n)" in str(mismatches[0])
    # Agreeing notebooks give no mismatch at all.
    assert book.check_outputs(source, source) == []


def test_check_outputs_refuses_a_run_of_another_notebook():
    source = _nb(_code("x = 1", tags=["parameters"]), _code("print(x)", [_stdout("1\n")],
                                                             tags=[book.CHECK_TAG]))
    shorter = _nb(_code("x = 1", tags=["parameters"]))
    edited = _nb(_code("x = 1", tags=["parameters"]), _code("print(x + 1)", [_stdout("2\n")],
                                                             tags=[book.CHECK_TAG]))
    with pytest.raises(ValueError, match="not a run of this source"):
        book.check_outputs(source, shorter)
    with pytest.raises(ValueError, match="cell 1 differs"):
        book.check_outputs(source, edited)


def test_sanitize_removes_addresses_and_timings_only():
    text = "<Foo at 0x7fa3b2c1d0e0> took 1.25 s (12 ms/step), 3.4it/s, shape (2, 8)"
    assert book.sanitize(text) == "<Foo at 0xADDRESS> took TIME (TIME/step), RATE, shape (2, 8)"


def test_sanitize_makes_paths_independent_of_where_the_checkout_lives():
    here = "weights at /work/main/.venv/lib/python3.11/site-packages/pkg/model; read /work/main/benchmarks/r.json"
    clone = "weights at /check/clone/.venv/lib/python3.11/site-packages/pkg/model; read /check/clone/benchmarks/r.json"
    assert book.sanitize(here) == book.sanitize(clone)
    assert "pkg/model" in book.sanitize(here) and "benchmarks/r.json" in book.sanitize(here)
    # relative paths and fractions are not paths to rewrite
    assert book.sanitize("notebooks/results and 1/2") == "notebooks/results and 1/2"
    assert book.sanitize("/opt/a/model") != book.sanitize("/opt/b/model")


def test_lint_names_each_broken_rule(tmp_path):
    nb = _nb(
        new_markdown_cell("# 9. Broken"),
        _code("x = 1"),  # not tagged parameters
        _code("1 / 0", [new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                   traceback=[])]),
        _code("print(2)", [_stdout("2\n")], tags=["nbval-check"]),  # misspelt check tag
        _code("print(3)", tags=[book.CHECK_TAG]),  # checked but nothing stored
    )
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    problems = "\n".join(book.lint(path))
    assert "first code cell (cell 1) is not tagged 'parameters'" in problems
    assert "cell 2 stores an error output (ZeroDivisionError" in problems
    assert "cell 3 has tag 'nbval-check'" in problems
    assert "cell 4 is checked" in problems
    nbformat.write(_nb(_code('steps = 3  # CPU; full run = 3000', tags=["parameters"])), path)
    assert "papermill cannot read parameter(s) ['steps']" in "\n".join(book.lint(path))
    good = _nb(new_markdown_cell("# 9. Fine"), _code("x = 1", tags=["parameters"]))
    nbformat.write(good, path)
    assert book.lint(path) == []


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
                             "print(importlib.util.find_spec('bertbook').origin)\n"  # no torch import
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
    for name in ("book/intro.md", "notebooks/02_b.ipynb", "notebooks/01_a.ipynb",
                 "notebooks/03_c.ipynb", "extra/10_x.ipynb", "extra/11_y.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n"
        "  - caption: A\n    chapters:\n"
        "      - file: notebooks/02_b\n        sections:\n          - file: notebooks/01_a\n"
        "      - file: book/intro\n"
        "  - caption: B\n    chapters:\n      - glob: extra/*\n      - file: notebooks/03_c.ipynb\n")
    names = [p.relative_to(tmp_path).as_posix() for p in book.toc_chapters(tmp_path / "_toc.yml")]
    assert names == ["notebooks/02_b.ipynb", "notebooks/01_a.ipynb", "extra/10_x.ipynb",
                     "extra/11_y.ipynb", "notebooks/03_c.ipynb"]


def test_check_site_flags_mathjax_from_a_cdn(tmp_path):
    (tmp_path / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "_static" / "mathjax" / "tex-chtml.js").write_text("")
    (tmp_path / "index.html").write_text('<script defer src="_static/mathjax/tex-chtml.js"></script>')
    assert book.check_site(tmp_path) == []
    (tmp_path / "page.html").write_text(
        '<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>')
    problems = book.check_site(tmp_path)
    assert any("page.html loads MathJax from a CDN" in p for p in problems), problems


def test_dom_problems_sees_raw_math_tex_errors_traces_and_missing_images(tmp_path):
    (tmp_path / "fig.png").write_bytes(b"\x89PNG...")
    page = tmp_path / "page.html"
    good = ('<p><span class="math notranslate nohighlight"><mjx-container jax="CHTML">x</mjx-container></span></p>'
            '<div class="math notranslate nohighlight">\n<mjx-container>y</mjx-container></div><img src="fig.png">')
    assert book.dom_problems(good, page) == []
    bad = ('<span class="math notranslate nohighlight">\\(QK^\\top\\)</span><mjx-merror>!</mjx-merror>'
           '<pre>Traceback (most recent call last):</pre><img src="missing.png"><img src="data:image/png;base64,AA">')
    problems = book.dom_problems(bad, page)
    assert len(problems) == 4, problems
    assert "not typeset" in problems[0] and "QK" in problems[0]
    assert "TeX error" in problems[1] and "traceback" in problems[2] and "missing.png" in problems[3]


@pytest.mark.skipif(book.find_browser() is None, reason="no Chromium on this machine")
def test_check_rendering_runs_mathjax_in_a_real_browser_and_sees_when_it_cannot(tmp_path):
    spec = importlib.util.find_spec("sphinx-mathjax-offline")  # the MathJax copy the book bundles
    if spec is None:
        pytest.skip("sphinx-mathjax-offline is not installed")
    bundled = Path(spec.origin).parent / "static" / "mathjax" / "tex-chtml.js"
    site = tmp_path / "html"
    (site / "_static").mkdir(parents=True)
    shutil.copytree(bundled.parent, site / "_static" / "mathjax")
    math = '<span class="math notranslate nohighlight">\\(\\operatorname{softmax}(QK^\\top)\\)</span>'
    (site / "index.html").write_text(f'<html><head><script defer src="_static/mathjax/tex-chtml.js"></script>'
                                     f'</head><body><p>{math}</p></body></html>')
    (site / "plain.html").write_text(f"<html><body><p>{math}</p></body></html>")  # no MathJax loaded
    browser = book.find_browser()
    assert book.dom_problems(book.rendered_dom(site / "index.html", browser), site / "index.html") == []
    with book.HeadlessBrowser(browser) as chromium:  # one browser, several pages, as the build uses it
        problems = book.dom_problems(chromium.open(site / "plain.html"), site / "plain.html")
        assert len(problems) == 1 and "not typeset" in problems[0], problems
        dom = chromium.open(site / "index.html", screenshot=tmp_path / "shot.png")
    assert "<mjx-container" in dom
    assert (tmp_path / "shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_redirect_target_reads_the_root_stub(tmp_path):
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/preface.html" />')
    (tmp_path / "page.html").write_text("<html><body><p>text</p></body></html>")
    assert book.redirect_target(tmp_path / "index.html") == (tmp_path / "book" / "preface.html").resolve()
    assert book.redirect_target(tmp_path / "page.html") is None


# --------------------------------------------------------------------------------------------
# The book, built last from the executed copies above


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
