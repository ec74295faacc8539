#!/usr/bin/env python
"""Execute every chapter once, build the web book from the executed copies, check the pages.

One papermill run per chapter serves both the chapter tests and the site::

    python scripts/book.py execute [CHAPTER ...] [--force] [-p NAME VALUE ...]
    python scripts/book.py check   [CHAPTER ...]    the chapter tests (pytest): execute, compare
    python scripts/book.py build   [--force]        execute all, build _build/html (-W), render
    python scripts/book.py render  [--screenshots [DIR]]   open the built pages in Chromium
    python scripts/book.py store   CHAPTER ...      execute, then save the outputs into the source
    python scripts/book.py store --full CHAPTER [--from EXECUTED.ipynb]   the page = its full run
    python scripts/book.py list                     the chapters listed in _toc.yml

CHAPTER is a path (``notebooks/00_setup_check.ipynb``) or a bare name (``00_setup_check``); with
none, every chapter listed in ``_toc.yml``. Executed copies go to
``_build/executed/notebooks/<name>.ipynb`` and are reused while they are newer than their source
and every file under ``bertbook/`` (and were run with the same parameters); a chapter that fails
leaves ``<name>.failed.ipynb`` there and never a reusable copy. A chapter whose page is its
stored full run (``store --full``) is built from those outputs, never executed here.

Only what no library does is here: papermill executes, sphinx-external-toc reads ``_toc.yml``,
Jupyter Book builds, Chromium's command line renders, and nbval compares the checked cells
(tests/test_notebooks.py, with the patterns of tests/nbval_sanitize.cfg).
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from itertools import zip_longest
from pathlib import Path
from unittest import mock

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC, CONFIG = ROOT / "_toc.yml", ROOT / "_config.yml"
EXECUTED_DIR = "_build/executed"
STAGE_DIR, HTML_DIR = ROOT / "_build" / "stage", ROOT / "_build" / "html"
SCREENSHOT_DIR = ROOT / "_build" / "screenshots"
DEPENDENCIES = (ROOT / "bertbook",)  # executed copies go stale when one of these changes
INJECTED_TAG = "injected-parameters"  # papermill's cell holding the passed parameters
ERROR_MARKER_TAG = "papermill-error-cell-tag"  # papermill's "an exception was raised" cells
ASSET_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start. The rest
# keeps a headless run offline and quiet: no updates, sync or first-run pages.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")
# Chromium dumps the page after this much virtual time: it stands still while files load and
# jumps over idle waits, so MathJax has typeset every formula by then, in about 1 s of real time.
VIRTUAL_TIME_MS = 10_000
WINDOW = (1280, 2400)  # screenshot size in CSS pixels
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ChapterExecutionError(RuntimeError):
    """A chapter raised while executing; the message names the cell and holds its traceback."""


class BookBuildError(RuntimeError):
    """Some chapter failed, or Jupyter Book failed, or the site it built is not offline-clean."""


# --------------------------------------------------------------------------------------------
# The chapter list


def toc_files(toc: Path = TOC) -> list[Path]:
    """Every page of ``_toc.yml`` in reading order, root first, read by Jupyter Book's parser."""
    from sphinx_external_toc.api import GlobItem, UrlItem
    from sphinx_external_toc.parsing import parse_toc_yaml

    site, root = parse_toc_yaml(str(toc)), Path(toc).resolve().parent

    def walk(docname: str):
        yield _toc_file(root, docname)
        for tree in site[docname].subtrees:
            for item in tree.items:
                if isinstance(item, GlobItem):  # Sphinx expands globs; here, sorted by name
                    yield from (p for p in sorted(root.glob(str(item) + ".*"))
                                if p.suffix in {".md", ".ipynb"})
                elif not isinstance(item, UrlItem):
                    yield from walk(str(item))

    return list(dict.fromkeys(walk(site.root.docname)))


def toc_chapters(toc: Path = TOC) -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in reading order (Markdown pages are left out)."""
    return [page for page in toc_files(toc) if page.suffix == ".ipynb"]


def _toc_file(root: Path, name: str) -> Path:
    path = root / name
    if path.suffix in {".md", ".ipynb"}:
        return path
    for suffix in (".ipynb", ".md"):
        if path.with_suffix(suffix).is_file():
            return path.with_suffix(suffix)
    return path.with_suffix(".md")  # missing: Jupyter Book will name it in its error


def resolve_chapter(chapter: str | os.PathLike) -> Path:
    """A chapter given as a path or as a bare name such as ``00_setup_check``."""
    path = Path(chapter)
    candidates = [path, ROOT / path, ROOT / "notebooks" / path]
    candidates += [c.with_suffix(".ipynb") for c in candidates if c.suffix != ".ipynb"]
    for candidate in candidates:
        if candidate.is_file() and candidate.suffix == ".ipynb":
            return candidate.resolve()
    names = ", ".join(p.stem for p in toc_chapters()) or "(none listed)"
    raise FileNotFoundError(f"no chapter notebook {str(chapter)!r}; chapters in _toc.yml: {names}")


# --------------------------------------------------------------------------------------------
# Execution


def executed_path(chapter: str | os.PathLike, out_dir: str | os.PathLike = EXECUTED_DIR) -> Path:
    """Where :func:`execute` writes ``chapter``: ``<out_dir>/notebooks/<name>.ipynb``."""
    chapter, out_dir = Path(chapter).resolve(), Path(out_dir)
    out_dir = out_dir if out_dir.is_absolute() else ROOT / out_dir
    try:
        return out_dir / chapter.relative_to(ROOT)
    except ValueError:  # a notebook outside the repository (tests use tmp_path)
        return out_dir / chapter.name


def _newest_mtime(paths) -> int:
    newest = 0
    for path in map(Path, paths):
        files = [path] if path.is_file() else path.rglob("*") if path.is_dir() else []
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                newest = max(newest, f.stat().st_mtime_ns)
    return newest


def is_fresh(chapter: Path, out: Path, parameters: dict | None = None,
             dependencies=DEPENDENCIES) -> bool:
    """Whether ``out`` is a successful run of ``chapter`` with ``parameters``, newer than its
    inputs."""
    if not out.is_file() or out.stat().st_mtime_ns <= _newest_mtime([chapter, *dependencies]):
        return False
    try:
        meta = nbformat.read(out, as_version=4).metadata.get("papermill", {})
    except Exception:  # unreadable or half-written: run again
        return False
    ran_with = dict(meta.get("parameters") or {})
    return not meta.get("exception") and ran_with == dict(parameters or {})


def execute(chapter: str | os.PathLike, out_dir: str | os.PathLike = EXECUTED_DIR,
            parameters: dict | None = None, *, force: bool = False, timeout: int | None = None,
            dependencies=DEPENDENCIES, log=None) -> Path:
    """Run ``chapter`` with papermill into ``<out_dir>/notebooks/<name>.ipynb``; return that path.

    The kernel is this interpreter's ``python3`` (the venv's), run in the chapter's folder;
    ``parameters=None`` keeps the notebook's CI-sized defaults. A fresh copy is reused unless
    ``force``. A failing cell raises :class:`ChapterExecutionError` naming cell and traceback.
    """
    chapter = resolve_chapter(chapter)
    if parameters is not None and not isinstance(parameters, dict):
        raise TypeError("parameters must be a dict of name -> value or None, got "
                        f"{type(parameters).__name__}")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        raise ValueError("timeout must be a positive number of seconds per cell or None, "
                         f"got {timeout!r}")
    out = executed_path(chapter, out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Another process (a second pytest, `make book`) may be running this chapter: wait for it,
    # then its fresh copy is ours for free.
    with _locked(out.with_name(out.stem + ".lock")):
        if not force and is_fresh(chapter, out, parameters, dependencies):
            return out
        return _run(chapter, out, parameters, timeout, log or _log)


def _run(chapter: Path, out: Path, parameters, timeout, log) -> Path:
    import papermill  # imported here so that `list` and the checks need no kernel stack

    running = out.with_name(out.stem + ".running.ipynb")
    failed = out.with_name(out.stem + ".failed.ipynb")
    out.unlink(missing_ok=True)  # stale: must never be reused, even if this run dies
    log(f"executing {_show(chapter)} ...")
    start, started_ns = time.perf_counter(), time.time_ns()
    try:
        with _kernel_environment():
            papermill.execute_notebook(
                str(chapter), str(running), parameters=dict(parameters or {}),
                kernel_name="python3", cwd=str(chapter.parent), progress_bar=False,
                log_output=False, execution_timeout=timeout)
    except papermill.PapermillExecutionError as exc:
        running.replace(failed)
        raise ChapterExecutionError(_describe_failure(chapter, failed, exc)) from None
    except Exception as exc:  # dead kernel, timeout, missing kernel: no cell error output
        if running.exists():
            running.replace(failed)
        partly = f"\npartly executed notebook: {_show(failed)}" if failed.exists() else ""
        raise ChapterExecutionError(f"{_show(chapter)} stopped: {type(exc).__name__}: "
                                    f"{_ANSI.sub('', str(exc))}{partly}") from exc
    running.replace(out)
    # Trap: date the copy from the START of the run. A file of bertbook/ saved while the chapter
    # ran is then newer than the copy, which is stale, as it should be.
    os.utime(out, ns=(started_ns, started_ns))
    failed.unlink(missing_ok=True)
    log(f"executed {_show(chapter)} in {time.perf_counter() - start:.1f} s")
    return out


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` across processes."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _kernel_environment():
    """The kernel inherits our environment, with this checkout first on its ``PYTHONPATH``.

    Trap: the kernel runs in ``notebooks/``, where ``import bertbook`` would find an installed
    copy (or none), not the checkout whose files decide whether an executed copy is fresh.
    """
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return mock.patch.dict(os.environ, {"PYTHONPATH": path})


def _describe_failure(chapter: Path, failed: Path, exc) -> str:
    index = None
    try:  # the failing cell's index in the SOURCE notebook: drop papermill's own cells
        index = next(i for i, c in enumerate(_source_cells(_read(failed))) if any(
            o.get("output_type") == "error" for o in c.get("outputs", [])))
    except (StopIteration, OSError, ValueError):
        pass
    where = f"cell {index}" if index is not None else "a cell"
    traceback = _ANSI.sub("", "\n".join(exc.traceback or []))
    return (f"{_show(chapter)} failed in {where} (In [{exc.exec_count}]): "
            f"{exc.ename}: {exc.evalue}\n---- cell source ----\n{exc.source}\n"
            f"---- traceback ----\n{traceback}\npartly executed notebook: {_show(failed)}")


def _source_cells(executed) -> list:
    """The cells of an executed notebook that came from its source (papermill's own dropped)."""
    return [c for c in executed.cells
            if not set(c.metadata.get("tags", [])) & {INJECTED_TAG, ERROR_MARKER_TAG}]


def _read(nb):
    return nb if isinstance(nb, nbformat.NotebookNode) else nbformat.read(Path(nb), as_version=4)


def store_outputs(chapter: str | os.PathLike) -> Path:
    """Execute ``chapter`` (forced) and write the fresh outputs into the source notebook.

    Use it after an intended change of a checked output. Cell metadata other than papermill's
    is kept; the executed copy stays valid (it is touched after the source is written). A chapter
    whose page is its full run is refused: this would put the small run's outputs on its page.
    """
    chapter = resolve_chapter(chapter)
    if full_run(chapter):
        raise ValueError(f"{_show(chapter)} shows its stored full run; `store` would replace it "
                         f"with a ci run: use `store --full {_show(chapter)}`")
    out = execute(chapter, force=True)
    source = _read(chapter)
    _copy_outputs(source, _read(out), chapter, out)
    nbformat.validate(source)
    unchanged = _newest_mtime(DEPENDENCIES) < out.stat().st_mtime_ns  # the start of the run
    nbformat.write(source, chapter)
    if unchanged:  # the copy is a run of this very source and package: keep it fresh
        newer = chapter.stat().st_mtime_ns + 1
        os.utime(out, ns=(newer, newer))
    return chapter


def _copy_outputs(source, ran, chapter: Path, executed: Path) -> None:
    """Copy the outputs of ``ran``'s code cells into ``source``'s, which hold the same code."""
    mine = [(i, c) for i, c in enumerate(source.cells) if c.cell_type == "code"]
    theirs = [c for c in _source_cells(ran) if c.cell_type == "code"]
    for (i, cell), fresh in zip_longest(mine, theirs, fillvalue=(None, None)):
        if cell is None or fresh is None or fresh.source != cell.source:
            where = f"cell {i}" if i is not None else "the number of code cells"
            raise ValueError(f"{_show(executed)} is not a run of {_show(chapter)}'s code "
                             f"({where} differs); execute it again")
        cell.outputs, cell.execution_count = fresh.outputs, fresh.execution_count


# --------------------------------------------------------------------------------------------
# Full runs: a training chapter's page is its full-setting execution

FULL_PARAMETERS = {"preset": "full", "record_as": "full"}
FULL_DIR = "_build/full"  # where `store --full` executes a chapter
BANNER_TAG = "full-run-banner"  # the banner's cell, and the class of its box on the page


def _sha256(cells, field: str) -> str:
    values = [c.get(field) for c in _source_cells(_read(cells)) if c.cell_type == "code"]
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode("utf-8")).hexdigest()


def code_sha256(nb) -> str:
    """The hash of the code cells' sources in order (markdown and papermill's cells left out:
    prose may change under a stored run, code may not)."""
    return _sha256(nb, "source")


def outputs_sha256(nb) -> str:
    """The hash of the outputs stored in the code cells (papermill's cells left out)."""
    return _sha256(nb, "outputs")


def full_run(nb) -> dict | None:
    """The record of a chapter's stored full run (``metadata.bertbook.full_run``), or None."""
    return _read(nb).metadata.get("bertbook", {}).get("full_run")


def full_run_problems(chapter: str | os.PathLike) -> list[str]:
    """Why ``chapter``'s stored full run may not be its page; empty when it may, or has none."""
    nb, name = _read(Path(chapter)), Path(chapter).stem
    record, problems = full_run(nb) or {}, []
    if record and record.get("code_sha256") != code_sha256(nb):
        problems.append(f"its code cells changed since its stored full run ({record.get('date')},"
                        f" commit {record.get('commit')}): the page would show other code's run")
    if record and record.get("outputs_sha256") != outputs_sha256(nb):
        problems.append("its stored outputs are not those of its full run (a `store`?)")
    if record and (record.get("parameters") or {}).get("preset") != "full":
        problems.append(f"its stored run is not the full setting: {record.get('parameters')}")
    if record and sum(BANNER_TAG in c.metadata.get("tags", []) for c in nb.cells) != 1:
        problems.append(f"it needs exactly one banner cell (tag {BANNER_TAG!r})")
    again = f"regenerate it: python scripts/book.py store --full notebooks/{name}.ipynb"
    return [f"{name}: {problem}; {again}" for problem in problems]


def banner_text(record: dict) -> str:
    """One line: which setting ran, where, with which torch, how long, when, at which commit."""
    hw, seconds = record["hardware"], record["seconds"]
    cpu = ", ".join(filter(None, [hw.get("cpu_model"), hw.get("cpu")]))
    threads = hw.get("cpu_threads", hw["cpu_count"])
    cores = (f"{hw['cpu_count']} CPU cores" if threads >= hw["cpu_count"]
             else f"{threads} thread{'s' * (threads > 1)} of a {hw['cpu_count']}-core CPU")
    where = (f"on one {hw['gpu']} GPU" if hw.get("gpu") else f"on {cores} ({cpu}, no GPU)")
    took = f"{seconds / 60:.0f} minutes" if seconds >= 90 else f"{seconds:.0f} s"
    setting = ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in record["parameters"].items()
                        if k != "record_as")
    return (f"This page shows the full run, executed with {setting} {where}, torch "
            f"{hw['torch']}, in {took} on {record['date']} (commit {record['commit']}); the "
            "defaults below are the small setting that the tests run.")


def store_full_run(chapter: str | os.PathLike, executed: str | os.PathLike | None = None, *,
                   parameters: dict | None = None, log=None) -> Path:
    """Make ``chapter``'s page its full run: execute it with ``-p preset full -p record_as
    full`` (or take ``executed``, a papermill run of the same code), copy the outputs into the
    source, record where and when it ran in its metadata, put the banner under the title.
    Papermill's injected-parameters cell is not stored: it would override the parameters cell
    in every later run (CI's, a reader's); the banner names the setting instead."""
    chapter = resolve_chapter(chapter)
    commit = None if executed else _commit_now(chapter)  # taken before the run: what it runs
    executed = Path(executed or execute(chapter, FULL_DIR, {**FULL_PARAMETERS, **(
        parameters or {})}, force=True, log=log))
    ran, source = _read(executed), _read(chapter)
    meta = ran.metadata.get("papermill", {})
    if (meta.get("parameters") or {}).get("preset") != "full" or meta.get("exception"):
        raise ValueError(f"{_show(executed)} is not a successful full-setting run (papermill "
                         f"parameters {meta.get('parameters')}, exception {meta.get('exception')})")
    _copy_outputs(source, ran, chapter, executed)
    command = [f"python scripts/book.py store --full {_show(chapter)}"] + [
        f"-p {k} {v}" for k, v in meta["parameters"].items() if k not in FULL_PARAMETERS]
    record = {"code_sha256": code_sha256(source), "date": meta["start_time"][:10],
              "seconds": round(meta["duration"], 1),
              "commit": commit or _commit_at(meta["start_time"], chapter, ran),
              "hardware": _run_hardware(chapter, meta), "parameters": meta["parameters"],
              "command": " ".join(command)}
    banner = nbformat.v4.new_markdown_cell(f":::{{admonition}} The full run\n"
                                           f":class: note {BANNER_TAG}\n{banner_text(record)}\n:::")
    banner.metadata["tags"] = [BANNER_TAG]
    source.cells = [c for c in source.cells if BANNER_TAG not in c.metadata.get("tags", [])]
    source.cells.insert(1 if source.cells[0].cell_type == "markdown" else 0, banner)  # the title
    record["outputs_sha256"] = outputs_sha256(source)
    source.metadata.setdefault("bertbook", {})["full_run"] = record
    nbformat.validate(source)
    nbformat.write(source, chapter)
    return chapter


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def _commit_now(chapter: Path) -> str:
    """HEAD, with ``-dirty`` when the chapter or bertbook/ has uncommitted changes (or the
    chapter lies outside the repository)."""
    inside = chapter.resolve().is_relative_to(ROOT)
    dirty = not inside or _git("status", "--porcelain", "--", str(chapter), "bertbook")
    return _git("rev-parse", "--short", "HEAD") + ("-dirty" if dirty else "")


def _commit_at(start_time: str, chapter: Path, ran) -> str:
    """The commit HEAD was at when an outside run started (the newest one before its start),
    with ``-dirty`` when the code that ran is not that commit's chapter."""
    commit = _git("rev-list", "-1", "--abbrev-commit", f"--before={start_time}", "HEAD")
    try:
        then = nbformat.reads(_git("show", f"{commit}:{_show(chapter)}"), as_version=4)
    except (subprocess.CalledProcessError, nbformat.reader.NotJSONError):
        return commit + "-dirty"  # the chapter was not committed then
    return commit + ("" if code_sha256(then) == code_sha256(ran) else "-dirty")


def _run_hardware(chapter: Path, meta: dict) -> dict:
    """The hardware that the chapter's ``record_run`` wrote during the run (``results/<name>
    --full.json``); this machine's when that file is the record of another run."""
    path = chapter.parent / "results" / f"{chapter.stem}--full.json"
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if (record.get("date") in {meta["start_time"][:10], meta["end_time"][:10]}
            and record.get("seconds", 0) <= meta["duration"] + 60):
        return record["hardware"]
    from bertbook.notebook import describe_hardware, pick_device

    _log(f"{_show(path)} records another run: the banner describes this machine")
    return describe_hardware(pick_device("auto"))


# --------------------------------------------------------------------------------------------
# The book


def stage_book(stage: Path = STAGE_DIR, out_dir: str | os.PathLike = EXECUTED_DIR) -> Path:
    """Copy the book's sources into ``stage`` with the executed chapters in place of the sources
    (a chapter with a stored full run: its source).

    The staged ``_config.yml`` switches execution off: Jupyter Book renders the outputs of the
    papermill runs and executes nothing itself.
    """
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    shutil.copy2(TOC, stage / "_toc.yml")
    if (ROOT / "_static").is_dir():  # Jupyter Book adds every .css file of _static/ to the pages
        shutil.copytree(ROOT / "_static", stage / "_static")
    if (ROOT / "book").is_dir():
        shutil.copytree(ROOT / "book", stage / "book",
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    for asset in (ROOT / "notebooks").rglob("*"):  # figures the chapters include from files
        if asset.suffix.lower() in ASSET_SUFFIXES and ".ipynb_checkpoints" not in asset.parts:
            _copy(asset, stage / asset.relative_to(ROOT))
    chapters = set(toc_chapters())
    for page in toc_files():
        target = stage / page.relative_to(ROOT)
        if page in chapters and full_run(page):  # its page is the stored full run
            _copy(page, target)
        elif page in chapters:
            executed = executed_path(page, out_dir)
            if not executed.is_file():
                raise BookBuildError(f"{_show(page)} has no executed copy at {_show(executed)}; "
                                     "run `python scripts/book.py execute` first")
            _copy(executed, target)
        elif page.is_file() and not target.exists():
            _copy(page, target)
    return stage


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def check_site(html: Path = HTML_DIR) -> list[str]:
    """Problems with the built site: no root page, MathJax or any script from the network."""
    problems = []
    if not (html / "index.html").is_file():
        problems.append(f"{_show(html / 'index.html')} is missing")
    if not (html / "_static" / "mathjax" / "tex-chtml.js").is_file():
        problems.append("the bundled MathJax (_static/mathjax/tex-chtml.js) was not copied")
    remote = re.compile(r"""<script[^>]*\ssrc=["']((?:https?:)?//[^"']+)""", re.IGNORECASE)
    for page in sorted(html.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for url in remote.findall(text):
            what = "MathJax from a CDN" if "mathjax" in url.lower() else "a script from the network"
            problems.append(f"{_show(page)} loads {what}: {url}")
        if re.search(r"""["'](?:https?:)?//[^"']*mathjax[^"']*\.js""", text, re.IGNORECASE):
            problems.append(f"{_show(page)} refers to MathJax on the network")
    return problems


def banner_problems(html: Path = HTML_DIR, chapters=None, root: Path = ROOT) -> list[str]:
    """Every chapter with a stored full run must show its banner on its built page."""
    problems = []
    for chapter in [c for c in (chapters or toc_chapters()) if full_run(c)]:
        page = (html / chapter.relative_to(root)).with_suffix(".html")
        text = page.read_text(encoding="utf-8") if page.is_file() else ""
        if not re.search(rf"""class=["'][^"']*\b{BANNER_TAG}\b""", text):
            problems.append(f"{_show(page)} does not show the banner of its full run")
    return problems


def find_browser() -> str | None:
    """A headless-capable Chromium on PATH, or None."""
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def _chromium(browser: str, page: Path, *args: str, timeout: float = 120) -> str:
    """Run one headless Chromium on ``page`` with ``args``; return what it printed on stdout."""
    with tempfile.TemporaryDirectory(prefix="bertbook-browser-",
                                     ignore_cleanup_errors=True) as profile:
        command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--virtual-time-budget={VIRTUAL_TIME_MS}", *args, page.resolve().as_uri()]
        # Its own process group: Chromium's helper processes go with it, even after a timeout.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stdout, stderr = None, f"no result within {timeout:.0f} s"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if stdout is None or process.returncode != 0:
        raise BookBuildError(f"{Path(browser).name} failed on {_show(page)} "
                             f"(exit {process.returncode}): {_tail(stderr, 10)}")
    return stdout


def rendered_dom(page: Path, browser: str) -> str:
    """The page's DOM after Chromium has run its scripts (MathJax included)."""
    return _chromium(browser, page, "--dump-dom")


def screenshot(page: Path, browser: str, png: Path) -> Path:
    """A PNG of the top of the rendered page, ``WINDOW`` pixels large."""
    _chromium(browser, page, f"--screenshot={png.resolve()}", "--window-size=%d,%d" % WINDOW)
    return png


def dom_problems(dom: str, page: Path) -> list[str]:
    """What a reader would see broken on a rendered page: untypeset or failed math, error
    traces, images that do not load."""
    problems = []
    # The preview stops at the next tag: it must not swallow the next formula's opening tag.
    raw_math = re.findall(r"""<(?:span|div) class=["']math[^"']*["'][^>]*>"""
                          r"""\s*(?!\s*<mjx-container)([^<]{0,60})""", dom)
    if raw_math:
        problems.append(f"{len(raw_math)} formula(s) not typeset by MathJax, e.g. {raw_math[0]!r}")
    errors = re.findall(r"""<mjx-merror(?:\s+data-mjx-error=["']([^"']*))?""", dom)
    if errors:
        problems.append(f"MathJax reports {len(errors)} TeX error(s) (mjx-merror), "
                        f"e.g. \"{errors[0]}\"")
    if "Traceback (most recent call last)" in dom:
        problems.append("shows a Python traceback")
    for src in re.findall(r"""<img[^>]*\ssrc=["']([^"']+)["']""", dom):
        if src.startswith(("data:", "http:", "https:")):
            continue  # inline images are in the page; network images are check_site's business
        target = (page.parent / src.split("#")[0].split("?")[0]).resolve()
        if not target.is_file() or target.stat().st_size == 0:
            problems.append(f"image {src} does not load")
    return problems


def redirect_target(page: Path) -> Path | None:
    """Where a redirect stub (``<meta http-equiv="Refresh" content="0; url=...">``) sends the
    reader, or None for a real page."""
    head = page.read_text(encoding="utf-8", errors="replace")[:2000]
    found = re.search(r"""<meta\s+http-equiv=["']refresh["']\s+content=["']\d+;\s*url=([^"']+)""",
                      head, re.IGNORECASE)
    return (page.parent / found.group(1).split("#")[0]).resolve() if found else None


def site_pages(html: Path = HTML_DIR) -> list[Path]:
    """The built page of every file in _toc.yml, root page first."""
    pages = [html / "index.html"]
    pages += [(html / page.relative_to(ROOT)).with_suffix(".html") for page in toc_files()]
    return list(dict.fromkeys(pages))


def check_rendering(html: Path = HTML_DIR, browser: str | None = None,
                    screenshots: Path | None = None, log=None) -> list[str]:
    """Open every page in headless Chromium, two at a time, and report what does not render;
    optionally save a screenshot of each page in ``screenshots``."""
    log = log or _log
    browser = browser or find_browser()
    if browser is None:
        raise BookBuildError(f"no browser to render the pages with (looked for {BROWSERS})")
    pages, stubs, problems = [], [], []
    for page in site_pages(html):
        target = redirect_target(page) if page.is_file() else None
        if not page.is_file():
            problems.append(f"{_show(page)} is missing")
        elif target is None:
            pages.append(page)
        else:  # a stub that sends the reader on (the root index.html) has nothing to render
            stubs.append(page)
            if not target.is_file():
                problems.append(f"{_show(page)}: redirects to {_show(target)}, "
                                "which does not exist")
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)

    def check(page: Path) -> tuple[int, list[str]]:
        dom = _retry_once(rendered_dom, page, browser)
        if screenshots is not None:
            name = page.relative_to(html).with_suffix(".png").as_posix().replace("/", "__")
            _retry_once(screenshot, page, browser, screenshots / name)
        return dom.count("<mjx-container"), [f"{_show(page)}: {p}" for p in dom_problems(dom, page)]

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # 2 cores: 2 browsers
        results = list(pool.map(check, pages))
    log(f"rendered {len(pages)} pages in {Path(browser).name} "
        f"in {time.perf_counter() - start:.1f} s (and checked {len(stubs)} redirect stub(s)): "
        f"{sum(n for n, _ in results)} formulas typeset"
        + (f", screenshots in {_show(screenshots)}" if screenshots is not None else ""))
    return problems + [p for _, found in results for p in found]


def _retry_once(function, *args):
    """A browser that fails once on a page (a loaded machine) gets one more try."""
    try:
        return function(*args)
    except BookBuildError:
        return function(*args)


def build_book(*, force: bool = False, log=None) -> Path:
    """Execute every chapter in ``_toc.yml`` (reusing fresh copies; a chapter with a stored full
    run is not executed), then build ``_build/html``.

    Jupyter Book runs on a staged copy with execution off and warnings as errors. Raises
    :class:`BookBuildError` when a chapter fails (after trying them all), when the build fails
    or when the site is not offline-clean or does not render. Returns the html folder.
    """
    log = log or _log
    start = time.perf_counter()
    failures = []
    for chapter in toc_chapters():
        if full_run(chapter):  # built from its stored full run, never executed here
            failures += full_run_problems(chapter)
            continue
        try:
            execute(chapter, force=force, log=log)
        except ChapterExecutionError as exc:
            failures.append(str(exc))
    if failures:
        raise BookBuildError(f"{len(failures)} chapter(s) failed:\n\n" + "\n\n".join(failures))
    executed_at = time.perf_counter()
    HTML_DIR.parent.mkdir(parents=True, exist_ok=True)
    with _locked(HTML_DIR.parent / ".build.lock"):  # one build at a time writes _build/html
        _stage_and_build(log)
    log(f"built {_show(HTML_DIR / 'index.html')}: execution {executed_at - start:.1f} s, "
        f"Jupyter Book and checks {time.perf_counter() - executed_at:.1f} s")
    return HTML_DIR


def _stage_and_build(log) -> None:
    stage = stage_book()
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
               "build", str(stage), "--path-output", str(ROOT), "--builder", "html",
               "--all", "--warningiserror", "--keep-going"]
    if HTML_DIR.exists():
        shutil.rmtree(HTML_DIR)  # no page of an older build may survive
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        output = _ANSI.sub("", result.stdout + "\n" + result.stderr)
        problems = [line for line in output.splitlines()
                    if re.search(r"WARNING|ERROR|CRITICAL|Error:|Exception", line)]
        raise BookBuildError(f"jupyter-book build failed (exit {result.returncode}):\n"
                             + "\n".join(dict.fromkeys(problems) or [_tail(output, 40)]))
    problems = check_site(HTML_DIR) + banner_problems(HTML_DIR)
    if problems:
        raise BookBuildError("the built site is not offline-clean or misses a banner:\n"
                             + "\n".join(problems))
    browser = find_browser()
    if browser is None:
        log(f"no browser found ({', '.join(BROWSERS)}): the pages were built but not rendered")
        return
    problems = check_rendering(HTML_DIR, browser=browser, log=log)
    if problems:
        raise BookBuildError("pages do not render cleanly in a browser:\n" + "\n".join(problems))


def _log(message: str) -> None:
    print(message, flush=True)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _show(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------
# Command line


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word such as cuda stays a string


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/book.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("verb", choices=["execute", "check", "build", "render", "store", "list"])
    parser.add_argument("chapters", nargs="*", help="paths or names; default: every chapter")
    parser.add_argument("--force", action="store_true", help="execute even a fresh chapter")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="execute with another parameter value "
                        "(a Python literal, else a string)")
    parser.add_argument("--screenshots", nargs="?", const=str(SCREENSHOT_DIR), metavar="DIR",
                        help=f"render: also save screenshots (default: {_show(SCREENSHOT_DIR)})")
    parser.add_argument("--full", action="store_true", help="store: the full-setting run")
    parser.add_argument("--from", dest="executed", metavar="EXECUTED.ipynb",
                        help="store --full: take this papermill run instead of executing")
    args = parser.parse_intermixed_args(argv)  # options may come between the chapters
    parameters = {name: _parse_value(value) for name, value in args.parameter} or None
    if args.verb == "store" and not args.chapters:
        parser.error("store needs the chapters to overwrite, by name")
    if (args.full or args.executed) and not (args.verb == "store" and args.full and len(
            args.chapters) == 1 and not (args.executed and parameters)):
        parser.error("use: store --full CHAPTER [-p NAME VALUE ...] or "
                     "store --full --from EXECUTED.ipynb CHAPTER")
    chapters = [resolve_chapter(c) for c in args.chapters] or toc_chapters()
    if args.verb == "list":
        print("\n".join(_show(chapter) for chapter in chapters))
    elif args.verb == "check":  # the chapter tests are the check: pytest runs them
        names = " or ".join(c.stem for c in chapters)
        return subprocess.call([sys.executable, "-m", "pytest", "-q", "tests/test_notebooks.py",
                                "-k", f"test_chapter and ({names})"], cwd=ROOT)
    elif args.verb == "store":
        try:
            if args.full:
                chapter = store_full_run(chapters[0], args.executed, parameters=parameters)
                print(f"stored the full run in {_show(chapter)}: "
                      f"{banner_text(full_run(chapter))}")
            for chapter in [] if args.full else chapters:
                print(f"stored outputs in {_show(store_outputs(chapter))}")
        except (ValueError, ChapterExecutionError) as exc:
            print(f"store failed: {exc}", file=sys.stderr)
            return 1
    elif args.verb == "execute":
        failed = 0
        for chapter in chapters:
            try:
                print(f"-> {_show(execute(chapter, parameters=parameters, force=args.force))}")
            except ChapterExecutionError as exc:
                print(exc, file=sys.stderr)
                failed = 1
        return failed
    else:
        try:
            if args.verb == "build":
                build_book(force=args.force)
            else:
                shots = Path(args.screenshots) if args.screenshots else None
                problems = check_rendering(screenshots=shots)
                if problems:
                    raise BookBuildError("\n".join(problems))
        except BookBuildError as exc:
            print(f"book {args.verb} failed: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
