"""modeling.py is one file a reader can copy: alone in an empty folder, it imports, loads MiniLM's
weights and gives transformers' numbers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import bertbook

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.modules["bertbook"] = None  # any import of the package would now fail
    import torch, transformers
    from safetensors.torch import load_file
    import modeling

    folder = sys.argv[1]
    config = modeling.BertConfig.from_pretrained(folder)
    model = modeling.BertModel(config).eval()
    state = load_file(folder + "/model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    hf = transformers.BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    ids = torch.tensor([[101, 7592, 2088, 2003, 1037, 3231, 102, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        ours = model(ids, attention_mask=mask).last_hidden_state
        theirs = hf(ids, attention_mask=mask).last_hidden_state
    diff = (ours - theirs)[mask.bool()].abs().max().item()
    print(json.dumps({"missing": missing, "unexpected": unexpected, "diff": diff,
                      "file": modeling.__file__}))
""")


def test_modeling_py_alone_loads_minilm_and_matches_transformers(tmp_path):
    shutil.copy(Path(bertbook.__file__).parent / "modeling.py", tmp_path / "modeling.py")
    (tmp_path / "check.py").write_text(SCRIPT)
    run = subprocess.run([sys.executable, "check.py", str(bertbook.minilm_path())], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).parent == tmp_path  # the copy, not the package
    assert result["missing"] == [] and all(k.endswith("position_ids") for k in result["unexpected"])
    assert result["diff"] <= 1e-5
