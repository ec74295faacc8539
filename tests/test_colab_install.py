"""The Colab install cell works: in a fresh virtual environment without bertbook, the cell installs
the package from the repository URL, and a chapter's imports then run.

The cell is taken from a chapter as it stands, with two changes only: IPython's ``%pip`` becomes
``python -m pip`` (no IPython here), and the GitHub URL becomes this checkout's committed HEAD
(``git+file://localhost/...@<sha>``: the pip of a fresh 3.11 venv rejects an empty host), so
the test needs no network for bertbook itself. The heavy
dependencies (torch, datasets, the two data packages, matplotlib) are not downloaded again: the
fresh environment sees the project's ``.venv`` site-packages through a plain path line in a
``.pth`` file. A path line adds the folder to ``sys.path`` without running the ``.pth`` files in
it, so the editable install of bertbook in ``.venv`` stays invisible, as on Colab.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "10_sequence_classification.ipynb"
GITHUB = re.compile(r"git\+https://github\.com/[\w.-]+/[\w.-]+@[\w./-]+")
PIP_MAGIC = re.compile(r"^(\s*)%pip install (.*)$", re.MULTILINE)

pytestmark = pytest.mark.slow


def _cell(nb, needle: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "code" and needle in cell.source:
            return cell.source
    raise AssertionError(f"no code cell of {CHAPTER.name} contains {needle!r}")


def _as_script(cell: str, url: str) -> str:
    """The install cell as plain Python: %pip -> subprocess, GitHub URL -> the local checkout."""
    assert GITHUB.search(cell), "the install cell no longer names a GitHub URL"
    cell = GITHUB.sub(url, cell)
    return "import subprocess, sys, shlex\n" + PIP_MAGIC.sub(
        r"\1subprocess.check_call([sys.executable, '-m', 'pip', 'install', "
        r"'--disable-pip-version-check', *shlex.split(r'''\2''')])", cell)


def test_pip_magic_becomes_a_subprocess_call():
    script = _as_script('if x:\n    %pip install -q "a @ git+https://github.com/o/r@main"', "U")
    assert "%pip" not in script and "github" not in script
    assert "shlex.split(r'''-q \"a @ U\"''')" in script


@pytest.fixture
def fresh_env(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()
    # the project's dependencies, as a path line (no .pth processing: bertbook stays invisible)
    Path(site, "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_install_cell_then_chapter_imports(fresh_env, tmp_path):
    python = fresh_env
    probe = "import importlib.util as u; print(u.find_spec('bertbook') is None)"
    before = subprocess.run([python, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert before.stdout.strip() == "True", "bertbook is visible before the install: " + (
        before.stdout + before.stderr)

    sha = subprocess.check_output(["git", "-C", ROOT, "rev-parse", "HEAD"], text=True).strip()
    nb = nbformat.read(CHAPTER, as_version=4)
    install = _as_script(_cell(nb, "%pip install"), f"git+file://localhost{ROOT}@{sha}")
    parameters = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    imports = _cell(nb, "import bertbook")  # the setup cell reads the parameters (device, ...)
    script = "\n".join([parameters, install, imports, "print('imports ok')"])
    run = subprocess.run([python, "-c", script],
                         cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0 and "imports ok" in run.stdout, (
        run.stdout[-3000:] + run.stderr[-3000:])

    where = subprocess.check_output(
        [python, "-c", "import bertbook; print(bertbook.__file__)"], cwd=tmp_path, text=True)
    assert str(tmp_path / "venv") in where, f"bertbook imported from {where}, not the fresh venv"
