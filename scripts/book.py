#!/usr/bin/env python
"""Execute every chapter once, check it, and build the web book from the executed copies.

One papermill run per chapter serves both the notebook tests and the site::

    python scripts/book.py execute [CHAPTER ...] [--force] [-p NAME VALUE ...]
    python scripts/book.py check   [CHAPTER ...]    execute, then compare the checked cells
    python scripts/book.py build   [--force]        execute all, then build _build/html (-W)
    python scripts/book.py store   CHAPTER ...      execute, then save the outputs into the source
    python scripts/book.py list                     the chapters listed in _toc.yml

CHAPTER is a path (``notebooks/00_setup_check.ipynb``) or a bare name (``00_setup_check``); with
none, every chapter listed in ``_toc.yml`` is used.

Executed copies go to ``_build/executed/notebooks/<name>.ipynb`` and are reused while they are
newer than their source notebook and every file under ``bertbook/`` (and were run with the same
parameters). A chapter that fails leaves ``<name>.failed.ipynb`` there and never a reusable copy.

Checked cells follow nbval's own convention, so ``pytest --nbval-lax notebooks/`` checks exactly
the same cells: a code cell whose outputs are compared with the stored ones carries the tag
``nbval-check-output`` (or the comment ``# NBVAL_CHECK_OUTPUT``). Compared are ``text/plain``
and the stdout/stderr streams, after nbval-like sanitising (memory addresses, timings, progress
bars); images, HTML and glue records are not compared.

Needs only the standard library, papermill, nbformat and PyYAML (a papermill dependency).
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"
CONFIG = ROOT / "_config.yml"
EXECUTED_DIR = "_build/executed"
STAGE_DIR = ROOT / "_build" / "stage"
HTML_DIR = ROOT / "_build" / "html"
# Executed copies go stale when one of these changes (besides the chapter itself).
DEPENDENCIES = (ROOT / "bertbook",)

PARAMETERS_TAG = "parameters"
CHECK_TAG = "nbval-check-output"  # nbval's tag; same meaning as the comment below
CHECK_COMMENT = "NBVAL_CHECK_OUTPUT"
# Tags that look like the check tag but that neither nbval nor this script honours: a cell
# carrying one would silently go unchecked, so lint() reports it.
NEAR_MISS_TAGS = {"nbval-check", "nbval_check", "nbval-check-outputs", "nbval_check_output",
                  "NBVAL_CHECK_OUTPUT", "nbval-checked"}
INJECTED_TAG = "injected-parameters"  # papermill's cell holding the passed parameters
ERROR_MARKER_TAG = "papermill-error-cell-tag"  # papermill's "an exception was raised" cells
ASSET_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}

# nbval compares outputs verbatim unless given regexes; these are the usual ones, built in.
SANITIZE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"0x[0-9a-fA-F]{4,}", "0xADDRESS"),  # object reprs: <Foo at 0x7f3a...>
    (r"\[\d+:\d+(?::\d+)?<[^\]]*\]", "[ELAPSED<LEFT]"),  # tqdm: [00:01<00:02, 1.01it/s]
    (r"\d+(?:\.\d+)?\s?(?:it/s|s/it)\b", "RATE"),
    (r"\d+(?:\.\d+)?\s?(?:ns|µs|us|ms|s|sec|secs|seconds|min|minutes|h)\b", "TIME"),
    # Absolute paths differ between machines (a CI clone lives elsewhere than the checkout
    # the outputs were stored from): keep only the part below site-packages or the repo.
    (r"(?:/[^\s/'\"(),:\[\]]+)+/site-packages/", "SITE-PACKAGES/"),
    (r"(?:/[^\s/'\"(),:\[\]]+)+/(?=(?:\.venv|benchmarks|bertbook|notebooks|scripts|tests)/)", "REPO/"),
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ChapterExecutionError(RuntimeError):
    """A chapter raised while executing; the message names the cell and holds its traceback."""


class BookBuildError(RuntimeError):
    """Some chapter failed, or Jupyter Book failed, or the site it built is not offline-clean."""


@dataclass(frozen=True)
class Mismatch:
    """One checked cell whose fresh outputs differ from the outputs stored in the source."""

    cell_index: int  # index in the source notebook's cells, counting from 0
    expected: str  # stored outputs, sanitised
    got: str  # fresh outputs, sanitised
    source: str = ""  # the cell's code

    def __str__(self) -> str:
        return (f"cell {self.cell_index}:\n{_indent(self.source)}\n"
                f"  expected (stored):\n{_indent(self.expected, '    | ')}\n"
                f"  got (executed):\n{_indent(self.got, '    | ')}")


# --------------------------------------------------------------------------------------------
# The chapter list


def toc_chapters(toc: Path = TOC) -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in reading order (Markdown pages are left out)."""
    data = yaml.safe_load(Path(toc).read_text(encoding="utf-8"))
    root = Path(toc).resolve().parent
    found: list[Path] = []
    for entry in _toc_entries(data):
        if "file" in entry:
            path = _toc_file(root, str(entry["file"]))
            if path.suffix == ".ipynb":
                found.append(path)
        elif "glob" in entry:
            found.extend(sorted(root.glob(str(entry["glob"]) + ".ipynb")))
    return list(dict.fromkeys(found))


def toc_files(toc: Path = TOC) -> list[Path]:
    """Every page listed in ``_toc.yml`` (root included), with its real suffix."""
    data = yaml.safe_load(Path(toc).read_text(encoding="utf-8"))
    root = Path(toc).resolve().parent
    files = [_toc_file(root, str(data["root"]))]
    for entry in _toc_entries(data):
        if "file" in entry:
            files.append(_toc_file(root, str(entry["file"])))
        elif "glob" in entry:
            files.extend(p for p in sorted(root.glob(str(entry["glob"]) + ".*"))
                         if p.suffix in {".md", ".ipynb"})
    return list(dict.fromkeys(files))


def _toc_entries(node):
    """Every mapping below ``node`` that has a ``file`` or ``glob`` key, depth first, in order."""
    if isinstance(node, dict):
        if "file" in node or "glob" in node:
            yield node
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key) or []:
                yield from _toc_entries(child)
    elif isinstance(node, list):
        for child in node:
            yield from _toc_entries(child)


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
    chapter = Path(chapter).resolve()
    out_dir = Path(out_dir)
    if not out_dir.is_absolute():
        out_dir = ROOT / out_dir
    try:
        relative = chapter.relative_to(ROOT)
    except ValueError:  # a notebook outside the repository (tests use tmp_path)
        relative = Path(chapter.name)
    return out_dir / relative


def _newest_mtime(paths) -> int:
    newest = 0
    for path in paths:
        path = Path(path)
        files = [path] if path.is_file() else path.rglob("*") if path.is_dir() else []
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                newest = max(newest, f.stat().st_mtime_ns)
    return newest


def is_fresh(chapter: Path, out: Path, parameters: dict | None = None,
             dependencies=DEPENDENCIES) -> bool:
    """Whether ``out`` is a successful run of ``chapter`` with ``parameters``, newer than its inputs."""
    if not out.is_file():
        return False
    if out.stat().st_mtime_ns <= _newest_mtime([chapter, *dependencies]):
        return False
    try:
        meta = nbformat.read(out, as_version=4).metadata.get("papermill", {})
    except Exception:  # unreadable or half-written: run again
        return False
    return not meta.get("exception") and dict(meta.get("parameters") or {}) == dict(parameters or {})


def execute(chapter: str | os.PathLike, out_dir: str | os.PathLike = EXECUTED_DIR,
            parameters: dict | None = None, *, force: bool = False, timeout: int | None = None,
            dependencies=DEPENDENCIES, log=None) -> Path:
    """Run ``chapter`` with papermill into ``<out_dir>/notebooks/<name>.ipynb`` and return that path.

    The kernel is ``python3`` as found from the running interpreter (in the project's ``.venv``
    that is the venv's own ipykernel) and the working directory is the chapter's folder,
    ``notebooks/``. ``parameters=None`` keeps the notebook's own CI-sized defaults. Nothing runs
    when the executed copy is newer than the chapter and every file in ``dependencies`` and was
    made with the same parameters, unless ``force``. A failing cell raises
    :class:`ChapterExecutionError` naming the chapter, the cell and its traceback.
    """
    log = log or _log
    chapter = resolve_chapter(chapter)
    if parameters is not None and not isinstance(parameters, dict):
        raise TypeError(f"parameters must be a dict of name -> value or None, got {type(parameters).__name__}")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        raise ValueError(f"timeout must be a positive number of seconds per cell or None, got {timeout!r}")
    out = executed_path(chapter, out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Another process (a second pytest, `make book`) may be running this chapter: wait for it,
    # then its fresh copy is ours for free.
    with _locked(out.with_name(out.stem + ".lock")):
        if not force and is_fresh(chapter, out, parameters, dependencies):
            return out
        return _run(chapter, out, parameters, timeout, log)


def _run(chapter: Path, out: Path, parameters, timeout, log) -> Path:
    import papermill  # imported here so that `list`, `lint` and the checks need no kernel stack

    running = out.with_name(out.stem + ".running.ipynb")
    failed = out.with_name(out.stem + ".failed.ipynb")
    out.unlink(missing_ok=True)  # stale: must never be reused, even if this run dies
    log(f"executing {_show(chapter)} ...")
    start = time.perf_counter()
    started_ns = time.time_ns()
    try:
        with _kernel_environment():
            papermill.execute_notebook(
                str(chapter), str(running), parameters=dict(parameters or {}), kernel_name="python3",
                cwd=str(chapter.parent), progress_bar=False, log_output=False,
                execution_timeout=timeout,
            )
    except papermill.PapermillExecutionError as exc:
        running.replace(failed)
        raise ChapterExecutionError(_describe_failure(chapter, failed, exc)) from None
    except Exception as exc:  # dead kernel, timeout, missing kernel: no cell error output
        if running.exists():
            running.replace(failed)
        raise ChapterExecutionError(
            f"{_show(chapter)} stopped: {type(exc).__name__}: {_ANSI.sub('', str(exc))}"
            + (f"\npartly executed notebook: {_show(failed)}" if failed.exists() else "")
        ) from exc
    running.replace(out)
    # Trap: date the copy from the START of the run. A file of bertbook/ saved while the chapter
    # ran is then newer than the copy, which is stale, as it should be.
    os.utime(out, ns=(started_ns, started_ns))
    failed.unlink(missing_ok=True)
    log(f"executed {_show(chapter)} in {time.perf_counter() - start:.1f} s")
    return out


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` across processes (a no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: no locking
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _kernel_environment():
    """The kernel inherits our environment; put this checkout first on its ``PYTHONPATH``.

    Trap: the kernel runs in ``notebooks/``, where ``import bertbook`` would find an installed
    copy (or none), not the checkout whose files decide whether an executed copy is fresh.
    """
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([saved] if saved else []))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _describe_failure(chapter: Path, failed: Path, exc) -> str:
    index = None
    try:  # the failing cell's index in the SOURCE notebook: drop papermill's own cells
        cells = [c for c in nbformat.read(failed, as_version=4).cells
                 if not set(c.metadata.get("tags", [])) & {INJECTED_TAG, ERROR_MARKER_TAG}]
        index = next(i for i, c in enumerate(cells) if any(
            o.get("output_type") == "error" for o in c.get("outputs", [])))
    except (StopIteration, OSError, ValueError):
        pass
    where = f"cell {index}" if index is not None else "a cell"
    traceback = _ANSI.sub("", "\n".join(exc.traceback or []))
    return (f"{_show(chapter)} failed in {where} (In [{exc.exec_count}]): {exc.ename}: {exc.evalue}\n"
            f"---- cell source ----\n{exc.source}\n---- traceback ----\n{traceback}\n"
            f"partly executed notebook: {_show(failed)}")


# --------------------------------------------------------------------------------------------
# Checks


def lint(source_nb) -> list[str]:
    """Problems with a chapter's source notebook, as sentences; empty when it follows the rules.

    The first code cell must be tagged ``parameters``; no cell may store an error output; no
    cell may carry a misspelt check tag (it would silently go unchecked).
    """
    nb = _read(source_nb)
    problems = []
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if not code:
        problems.append("has no code cell")
    elif PARAMETERS_TAG not in code[0][1].metadata.get("tags", []):
        problems.append(f"first code cell (cell {code[0][0]}) is not tagged {PARAMETERS_TAG!r}")
    else:
        problems += _parameter_problems(code[0][0], code[0][1])
    for i, cell in enumerate(nb.cells):
        tags = set(cell.metadata.get("tags", []))
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i} stores an error output ({out.get('ename')}: "
                                f"{out.get('evalue')}); re-run it or clear its outputs")
        for tag in sorted(tags & NEAR_MISS_TAGS):
            problems.append(f"cell {i} has tag {tag!r}, which nothing honours; use {CHECK_TAG!r}")
        if cell.cell_type == "code" and _is_checked(cell) and not cell.get("outputs"):
            problems.append(f"cell {i} is checked ({CHECK_TAG}) but stores no outputs to compare with")
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


def _is_checked(cell) -> bool:
    if CHECK_TAG in cell.metadata.get("tags", []):
        return True
    return any(line.strip().lstrip("#").strip() == CHECK_COMMENT
               for line in cell.source.splitlines() if line.strip().startswith("#"))


def sanitize(text: str, patterns=SANITIZE_PATTERNS) -> str:
    for regex, replacement in patterns:
        text = re.sub(regex, replacement, text)
    return text


def _coalesce_streams(outputs) -> list[dict]:
    """nbval's rule: merge all stream outputs of one name, then apply \\b and bare \\r."""
    merged: list[dict] = []
    streams: dict[str, dict] = {}
    for out in outputs:
        if out.get("output_type") == "stream":
            name = out.get("name", "stdout")
            if name in streams:
                streams[name]["text"] += _text(out.get("text", ""))
            else:
                streams[name] = {"output_type": "stream", "name": name, "text": _text(out.get("text", ""))}
                merged.append(streams[name])
        else:
            merged.append(out)
    for stream in streams.values():
        text = stream["text"]
        while True:  # cancel "anything but newline, then backspace"
            shorter = re.sub(r"[^\n]\x08", "", text)
            if shorter == text:
                break
            text = shorter
        stream["text"] = re.sub(r"^.*\r(?=[^\n])", "", text, flags=re.MULTILINE)
    return merged


def _comparable(outputs, patterns) -> list[tuple[str, str]]:
    items = []
    for out in _coalesce_streams(outputs):
        kind = out.get("output_type")
        if kind == "stream":
            items.append((out["name"], sanitize(out["text"], patterns)))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/plain" in data:  # images, HTML and glue records (prefixed MIME types) skipped
                items.append(("text/plain", sanitize(_text(data["text/plain"]), patterns)))
        elif kind == "error":
            items.append(("error", f"{out.get('ename')}: {out.get('evalue')}"))
    return items


def check_outputs(source_nb, executed_nb, patterns=SANITIZE_PATTERNS) -> list[Mismatch]:
    """Compare the stored outputs of the checked cells of ``source_nb`` with ``executed_nb``.

    Both are paths or ``nbformat`` notebooks. Returns one :class:`Mismatch` per checked cell
    whose sanitised outputs differ (empty list: all agree). Raises ``ValueError`` when the
    executed notebook is not a run of this source (different cells): execute it again.
    """
    source, executed = _read(source_nb), _read(executed_nb)
    ran = [c for c in executed.cells
           if not set(c.metadata.get("tags", [])) & {INJECTED_TAG, ERROR_MARKER_TAG}]
    if len(ran) != len(source.cells):
        raise ValueError(f"the executed notebook has {len(ran)} cells and the source "
                         f"{len(source.cells)}: it is not a run of this source; execute it again")
    mismatches = []
    for i, (cell, fresh) in enumerate(zip(source.cells, ran)):
        if cell.cell_type != "code" or not _is_checked(cell):
            continue
        if fresh.source != cell.source:
            raise ValueError(f"cell {i} differs between the source and the executed notebook: "
                             "it is not a run of this source; execute it again")
        expected = _comparable(cell.get("outputs", []), patterns)
        got = _comparable(fresh.get("outputs", []), patterns)
        if expected != got:
            mismatches.append(Mismatch(i, _render(expected), _render(got), cell.source))
    return mismatches


def _render(items) -> str:
    return "\n".join(f"[{kind}]\n{text.rstrip()}" for kind, text in items) or "(no output)"


def _read(nb):
    if isinstance(nb, nbformat.NotebookNode):
        return nb
    return nbformat.read(Path(nb), as_version=4)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def store_outputs(chapter: str | os.PathLike) -> Path:
    """Execute ``chapter`` (forced) and write the fresh outputs into the source notebook.

    Use it after an intended change of a checked output. Cell metadata other than papermill's
    is kept; the executed copy stays valid (it is touched after the source is written).
    """
    chapter = resolve_chapter(chapter)
    out = execute(chapter, force=True)
    source, executed = _read(chapter), _read(out)
    ran = [c for c in executed.cells if INJECTED_TAG not in c.metadata.get("tags", [])]
    if len(ran) != len(source.cells):
        raise ValueError(f"{_show(chapter)} changed while it ran; store again")
    for cell, fresh in zip(source.cells, ran):
        if cell.cell_type == "code":
            cell.outputs = fresh.outputs
            cell.execution_count = fresh.execution_count
    nbformat.validate(source)
    run_ns = out.stat().st_mtime_ns  # the start of the run (see _run)
    unchanged = _newest_mtime(DEPENDENCIES) < run_ns
    nbformat.write(source, chapter)
    if unchanged:  # the copy is a run of this very source and package: keep it fresh
        newer = chapter.stat().st_mtime_ns + 1
        os.utime(out, ns=(newer, newer))
    return chapter


# --------------------------------------------------------------------------------------------
# The book


def stage_book(stage: Path = STAGE_DIR, out_dir: str | os.PathLike = EXECUTED_DIR) -> Path:
    """Copy the book's sources into ``stage`` with the executed chapters in place of the sources.

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
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")
    if (ROOT / "book").is_dir():
        shutil.copytree(ROOT / "book", stage / "book", ignore=ignore)
    notebooks = ROOT / "notebooks"
    if notebooks.is_dir():  # figures the chapters include from files
        for asset in notebooks.rglob("*"):
            if asset.suffix.lower() in ASSET_SUFFIXES and ".ipynb_checkpoints" not in asset.parts:
                target = stage / asset.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(asset, target)
    chapters = set(toc_chapters())
    for page in toc_files():
        target = stage / page.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        if page in chapters:
            executed = executed_path(page, out_dir)
            if not executed.is_file():
                raise BookBuildError(f"{_show(page)} has no executed copy at {_show(executed)}; "
                                     "run `python scripts/book.py execute` first")
            shutil.copy2(executed, target)
        elif page.is_file() and not target.exists():
            shutil.copy2(page, target)
    return stage


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


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SCREENSHOT_DIR = ROOT / "_build" / "screenshots"


def find_browser() -> str | None:
    """A headless-capable Chromium on PATH, or None."""
    return next(filter(None, map(shutil.which, BROWSERS)), None)


class HeadlessBrowser:
    """One headless Chromium for many pages, driven over the DevTools protocol on a pipe.

    Starting Chromium costs a couple of seconds; opening a page in a running one a fraction of
    that, so the whole book is checked with one browser. The protocol needs no package: with
    ``--remote-debugging-pipe`` Chromium reads JSON commands on its fd 3 and writes replies and
    events on its fd 4, each message ended by a NUL byte.
    """

    # After the load event, wait for MathJax's first typesetting (startup.promise) when the page
    # loaded MathJax, then hand back the DOM as the reader's browser holds it.
    DOM_AFTER_MATHJAX = """(async () => {
        const mathjax = window.MathJax;
        if (mathjax && mathjax.startup && mathjax.startup.promise) { await mathjax.startup.promise; }
        return document.documentElement.outerHTML;
    })()"""
    WINDOW = {"width": 1280, "height": 2400, "deviceScaleFactor": 1, "mobile": False}  # screenshot size

    def __init__(self, executable: str, timeout: float = 60.0):
        self.timeout = timeout
        # One profile per instance; Chromium's helper processes may still be writing to it for a
        # moment after the browser exits, so a file left behind must not fail the build.
        self._profile = tempfile.TemporaryDirectory(prefix="bertbook-browser-", ignore_cleanup_errors=True)
        self._log = open(Path(self._profile.name) / "stderr.log", "w+b")  # a file: a full pipe would block it
        commands_r, commands_w = os.pipe()  # we write commands; Chromium reads them on its fd 3
        replies_r, replies_w = os.pipe()  # Chromium writes on its fd 4; we read
        # The child's fds 3 and 4 must be exactly these ends, which subprocess cannot arrange:
        # posix_spawn's file actions can. The ends are moved to fds >= 10 first, so that placing
        # one on 3 can never overwrite the other.
        child_r, child_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands_r, replies_w))
        for fd in (commands_r, replies_w):
            os.close(fd)
        # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
        args = [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe", "about:blank"]
        try:
            self._pid = os.posix_spawnp(executable, args, os.environ, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_DUP2, self._log.fileno(), 2),
                (os.POSIX_SPAWN_DUP2, child_r, 3),
                (os.POSIX_SPAWN_DUP2, child_w, 4)])
        finally:
            os.close(child_r)
            os.close(child_w)
        self._exit_code: int | None = None
        self._send_fd, self._read_fd = commands_w, replies_r
        self._buffer = b""
        self._events: list[dict] = []
        self._next_id = 0

    def __enter__(self) -> "HeadlessBrowser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._poll() is None:  # ask first: Browser.close lets Chromium stop its helper processes
            with contextlib.suppress(BookBuildError, OSError):
                self.call("Browser.close")
        for fd in (self._send_fd, self._read_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._poll() is None:
            os.kill(self._pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while self._poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._poll() is None:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
        self._log.close()
        self._profile.cleanup()

    def _poll(self) -> int | None:
        """The browser's exit code once it has exited (reaped), else None."""
        if self._exit_code is None:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
            if pid:
                self._exit_code = os.waitstatus_to_exitcode(status)
        return self._exit_code

    def open(self, page: Path, screenshot: Path | None = None) -> str:
        """The DOM of ``page`` once it has loaded and MathJax has typeset it; with ``screenshot``,
        also a 1280 x 2400 PNG of its top."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            self.call("Page.enable", session=session)
            self.call("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
            self.call("Emulation.setDeviceMetricsOverride", self.WINDOW, session=session)
            navigation = self.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
            if navigation.get("errorText"):
                raise BookBuildError(f"{_show(page)} does not open: {navigation['errorText']}")
            # The load of *this* navigation: lifecycle events carry its loaderId (about:blank's differ).
            self.wait_for("Page.lifecycleEvent", session,
                          lambda p: p["name"] == "load" and p["loaderId"] == navigation["loaderId"])
            reply = self.call("Runtime.evaluate", {"expression": self.DOM_AFTER_MATHJAX, "awaitPromise": True,
                                                   "returnByValue": True}, session=session)
            if "exceptionDetails" in reply:
                raise BookBuildError(f"{_show(page)}: {reply['exceptionDetails'].get('text', 'script error')}")
            if screenshot is not None:
                png = self.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
                screenshot.write_bytes(base64.b64decode(png))
            return reply["result"]["value"]
        finally:
            self.call("Target.closeTarget", {"targetId": target})
            self._events = [e for e in self._events if e.get("sessionId") != session]

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._send_fd, data):]
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BookBuildError(f"Chromium: {method} failed: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_for(self, event: str, session: str, match) -> dict:
        """The parameters of the first ``event`` of ``session`` for which ``match(params)`` is true."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, e in enumerate(self._events):
                if e["method"] == event and e.get("sessionId") == session and match(e.get("params", {})):
                    return self._events.pop(i)["params"]
            self._events.append(self._receive(deadline, event))

    def _receive(self, deadline: float, waiting_for: str) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read_fd], [], [], left)[0]:
                raise BookBuildError(f"Chromium did not answer {waiting_for} within {self.timeout:.0f} s")
            chunk = os.read(self._read_fd, 1 << 20)
            if not chunk:
                self._log.seek(0)
                stderr = self._log.read().decode(errors="replace")
                raise BookBuildError(f"Chromium exited (code {self._poll()}): {_tail(stderr, 10)}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


def rendered_dom(page: Path, browser: str) -> str:
    """The page's DOM after a real browser has run its scripts (MathJax included)."""
    with HeadlessBrowser(browser) as chromium:
        return chromium.open(page)


def dom_problems(dom: str, page: Path) -> list[str]:
    """What a reader would see broken on a rendered page: untypeset or failed math, error
    traces, images that do not load."""
    problems = []
    raw_math = re.findall(r"""<(?:span|div) class=["']math[^"']*["'][^>]*>\s*(?!\s*<mjx-container)(.{0,60})""", dom)
    if raw_math:
        problems.append(f"{len(raw_math)} formula(s) not typeset by MathJax, e.g. {raw_math[0]!r}")
    if "<mjx-merror" in dom:
        problems.append("MathJax reports a TeX error (mjx-merror)")
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
    found = re.search(r"""<meta\s+http-equiv=["']refresh["']\s+content=["']\d+;\s*url=([^"']+)["']""", head, re.IGNORECASE)
    return (page.parent / found.group(1).split("#")[0]).resolve() if found else None


def site_pages(html: Path = HTML_DIR) -> list[Path]:
    """The built page of every file in _toc.yml, root page first."""
    pages = [html / "index.html"]
    for page in toc_files():
        pages.append((html / page.relative_to(ROOT)).with_suffix(".html"))
    return list(dict.fromkeys(pages))


def check_rendering(html: Path = HTML_DIR, browser: str | None = None, screenshots: Path | None = None,
                    log=None) -> list[str]:
    """Open every page in headless Chromium and report what does not render; optionally save a
    full-width screenshot of each page in ``screenshots``."""
    log = log or _log
    browser = browser or find_browser()
    if browser is None:
        raise BookBuildError(f"no browser to render the pages with (looked for {', '.join(BROWSERS)})")
    pages = site_pages(html)
    missing = [f"{_show(page)} is missing" for page in pages if not page.is_file()]
    pages = [page for page in pages if page.is_file()]

    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
    results, rendered = [], 0
    chromium = HeadlessBrowser(browser)
    try:
        for page in pages:
            target = redirect_target(page)
            if target is not None:  # a stub that sends the reader on (the root index.html) has nothing to render
                if not target.is_file():
                    results.append((0, [f"{_show(page)}: redirects to {_show(target)}, which does not exist"]))
                continue
            shot = None
            if screenshots is not None:
                shot = screenshots / page.relative_to(html).with_suffix(".png").as_posix().replace("/", "__")
            try:
                dom = chromium.open(page, shot)
            except BookBuildError:  # a browser that fails once (a loaded machine) gets one more try, fresh
                chromium.close()
                chromium = HeadlessBrowser(browser)
                dom = chromium.open(page, shot)
            results.append((dom.count("<mjx-container"), [f"{_show(page)}: {p}" for p in dom_problems(dom, page)]))
            rendered += 1
    finally:
        chromium.close()
    typeset = sum(n for n, _ in results)
    problems = missing + [p for _, found in results for p in found]
    stubs = len(pages) - rendered
    log(f"rendered {rendered} pages in {Path(browser).name}" + (f" (and checked {stubs} redirect stub(s))" if stubs else "")
        + f": {typeset} formulas typeset"
        + (f", screenshots in {_show(screenshots)}" if screenshots is not None else ""))
    return problems


def build_book(*, force: bool = False, log=None) -> Path:
    """Execute every chapter in ``_toc.yml`` (reusing fresh copies), then build ``_build/html``.

    Jupyter Book runs on a staged copy with execution off and warnings as errors. Raises
    :class:`BookBuildError` when a chapter fails (after trying them all), when the build fails
    or when the site is not offline-clean. Returns the html folder.
    """
    log = log or _log
    start = time.perf_counter()
    failures = []
    for chapter in toc_chapters():
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
        f"Jupyter Book {time.perf_counter() - executed_at:.1f} s")
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
    problems = check_site(HTML_DIR)
    if problems:
        raise BookBuildError("the built site is not offline-clean:\n" + "\n".join(problems))
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


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines()) or prefix


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
    parser = argparse.ArgumentParser(prog="scripts/book.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_exec = sub.add_parser("execute", help="execute chapters into _build/executed/")
    p_check = sub.add_parser("check", help="execute chapters, then lint them and compare checked cells")
    p_build = sub.add_parser("build", help="execute every chapter and build _build/html")
    p_store = sub.add_parser("store", help="execute chapters and store their outputs in the sources")
    sub.add_parser("list", help="print the chapters listed in _toc.yml")
    p_render = sub.add_parser("render", help="open the built pages in headless Chromium and check them")
    p_render.add_argument("--screenshots", nargs="?", const=str(SCREENSHOT_DIR), default=None, metavar="DIR",
                          help=f"also save a screenshot of each page (default folder: {_show(SCREENSHOT_DIR)})")
    for p in (p_exec, p_check, p_store):
        p.add_argument("chapters", nargs="*", help="paths or names; default: every chapter in _toc.yml")
    for p in (p_exec, p_check, p_build):
        p.add_argument("--force", action="store_true", help="execute even when the copy is fresh")
    p_exec.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="override a parameter (Python literal or string)")
    args = parser.parse_args(argv)

    if args.command == "list":
        for chapter in toc_chapters():
            print(_show(chapter))
        return 0
    if args.command == "render":
        shots = Path(args.screenshots) if args.screenshots else None
        problems = check_rendering(screenshots=shots)
        for problem in problems:
            print(problem, file=sys.stderr)
        return int(bool(problems))
    if args.command == "build":
        try:
            build_book(force=args.force)
        except BookBuildError as exc:
            print(f"book build failed: {exc}", file=sys.stderr)
            return 1
        return 0
    chapters = [resolve_chapter(c) for c in args.chapters] or toc_chapters()
    if args.command == "store":
        if not args.chapters:
            parser.error("store needs the chapters to overwrite, by name")
        for chapter in chapters:
            print(f"stored outputs in {_show(store_outputs(chapter))}")
        return 0
    parameters = {name: _parse_value(value) for name, value in getattr(args, "parameter", [])}
    status = 0
    for chapter in chapters:
        try:
            out = execute(chapter, parameters=parameters or None, force=args.force)
        except ChapterExecutionError as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        if args.command == "execute":
            print(f"{_show(chapter)} -> {_show(out)}")
            continue
        problems = lint(chapter) + [str(m) for m in check_outputs(chapter, out)]
        for problem in problems:
            print(f"{_show(chapter)}: {problem}", file=sys.stderr)
        print(f"{_show(chapter)}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        status = status or int(bool(problems))
    return status


if __name__ == "__main__":
    sys.exit(main())
