"""bertbook.notebook: device choice, seeds, source display, recorded runs."""

from __future__ import annotations

import json

import pytest
import torch

from bertbook import notebook


def test_pick_device_follows_what_torch_sees(monkeypatch):
    # Both machines are played on this one: torch's answer is what the picker must follow.
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert notebook.pick_device("auto") == torch.device("cpu")
    assert notebook.pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA"):
        notebook.pick_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert notebook.pick_device("auto") == torch.device("cuda")
    assert notebook.pick_device("cuda:1") == torch.device("cuda", 1)
    assert notebook.pick_device("cpu") == torch.device("cpu")  # asked for: kept, CUDA or not


def test_set_seed_repeats_draws():
    notebook.set_seed(3)
    a = torch.rand(4)
    notebook.set_seed(3)
    assert torch.equal(a, torch.rand(4))


def test_source_slice():
    text = notebook.source(notebook.pick_device, start="if device ==", end="return torch.device")
    assert text.splitlines()[0].strip().startswith("if device ==")
    assert text.splitlines()[-1].strip().startswith("return torch.device")
    with pytest.raises(ValueError, match="not found"):
        notebook.source(notebook.pick_device, start="no such line")


def test_record_run_round_trip(tmp_path):
    path = notebook.record_run("08_pretraining", "full", params={"max_steps": 3000}, metrics={"acc": 0.31},
                               seconds=12.34, command="papermill x.ipynb -p max_steps 3000", results_dir=tmp_path)
    assert path == tmp_path / "08_pretraining--full.json"
    rec = notebook.recorded_run("08_pretraining", "full", results_dir=tmp_path)
    assert rec["metrics"] == {"acc": 0.31} and rec["params"] == {"max_steps": 3000}
    assert rec["seconds"] == 12.3 and rec["hardware"]["device"] == "cpu"
    assert json.loads(path.read_text())["command"].startswith("papermill")
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed away
    assert notebook.recorded_run("08_pretraining", "other", results_dir=tmp_path) is None


def test_record_run_rejects_paths_as_names(tmp_path):
    with pytest.raises(ValueError, match="plain names"):
        notebook.record_run("../x", "full", params={}, metrics={}, seconds=1, results_dir=tmp_path)
