"""The package's promises about itself: public API, import-time dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

import bertbook

PUBLIC = ["BertConfig", "BertModel", "BertForPreTraining", "BertForMaskedLM", "BertLMHeadModel",
          "BertForNextSentencePrediction", "BertForSequenceClassification", "BertForMultipleChoice",
          "BertForTokenClassification", "BertForQuestionAnswering", "BertTokenizer", "minilm_path",
          "BertForMeanPoolClassification", "padding_free", "validate_inputs"]


def test_public_api_is_importable():
    for name in PUBLIC:
        assert getattr(bertbook, name) is not None, name
    assert sorted(bertbook.__all__) == sorted(PUBLIC)


def _top_level_modules_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_import_needs_only_torch_safetensors_numpy():
    """`import bertbook` (and its tokenizer) adds nothing beyond what torch itself imports.

    The baseline is measured, not listed: torch pulls in modules of its own (tqdm, through
    torch.hub, in torch 2.13), and those are not bertbook's dependencies.
    """
    baseline = _top_level_modules_after("import torch, safetensors, numpy")
    loaded = _top_level_modules_after("import bertbook; bertbook.BertTokenizer")
    added = loaded - baseline - {"bertbook"}
    heavy = {"transformers", "tokenizers", "datasets", "tqdm", "matplotlib", "pandas", "huggingface_hub",
             "IPython", "spacy", "sklearn", "scipy"}
    assert not (added & heavy), sorted(added & heavy)
    # Everything else that appears must be the standard library.
    not_stdlib = sorted(m for m in added if m not in sys.stdlib_module_names and not m.startswith("_"))
    assert not not_stdlib, not_stdlib
    assert "torch" in loaded and "bertbook" in loaded
