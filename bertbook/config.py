"""`BertConfig`: the hyper-parameters of a BERT, read from and written to Hugging Face ``config.json``.

Field names are exactly those of ``transformers.BertConfig`` so that a ``config.json`` moves
between the two libraries unchanged. Keys we do not use (``architectures``,
``transformers_version``, ``gradient_checkpointing``, ...) are kept in ``extra`` and written
back, never dropped.

Two switches select relatives of BERT that share its weights' layout:

* ``pre_layernorm=True``: MegatronBERT's pre-LayerNorm layout (LayerNorm *before* attention
  and feed-forward, a final LayerNorm after the last layer, none after the embeddings).
  A ``config.json`` with ``"model_type": "megatron-bert"`` turns it on, and a pre-LN config
  is written back with that model type so ``transformers`` loads it as ``MegatronBert*``.
* ``is_decoder=True``: causal self-attention, for ``BertLMHeadModel`` (BERT as a decoder).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# Activation names understood by bertbook (a subset of transformers' ACT2FN).
KNOWN_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "relu", "silu", "swish", "tanh")
ATTN_IMPLEMENTATIONS = ("eager", "sdpa")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
MODEL_TYPES = {False: "bert", True: "megatron-bert"}  # keyed by pre_layernorm


@dataclass
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    classifier_dropout: float | None = None
    is_decoder: bool = False
    position_embedding_type: str = "absolute"
    # Task heads. HF stores the label count implicitly as len(id2label); so do we on disk.
    num_labels: int = 2
    id2label: dict[int, str] | None = None
    problem_type: str | None = None
    # bertbook switches (written to config.json; transformers keeps unknown keys as attributes).
    pre_layernorm: bool = False
    attn_implementation: str = "sdpa"
    # Run the token-wise layers on the real tokens only (see modeling.Packing). Off by default so that
    # outputs at padding positions match transformers' exactly; the fast paths turn it on.
    padding_free: bool = False
    # Every other key of config.json, kept verbatim so a round trip loses nothing.
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.id2label is not None:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
            self.num_labels = len(self.id2label)
        self.validate()
        if self.id2label is None:  # HF's default names, so a saved and re-read config compares equal
            self.id2label = {i: f"LABEL_{i}" for i in range(self.num_labels)}

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field that is out of range."""
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}): each head gets hidden_size / num_attention_heads features"
            )
        if self.hidden_act not in KNOWN_ACTIVATIONS:
            raise ValueError(f"BertConfig.hidden_act={self.hidden_act!r} is not one of {KNOWN_ACTIVATIONS}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {p}")
        if self.classifier_dropout is not None and not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"BertConfig.classifier_dropout must be None or in [0, 1), got {self.classifier_dropout}")
        if self.layer_norm_eps <= 0:
            raise ValueError(f"BertConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"BertConfig.pad_token_id must be in [0, vocab_size={self.vocab_size}), got {self.pad_token_id}")
        if self.num_labels <= 0:
            raise ValueError(f"BertConfig.num_labels must be a positive integer, got {self.num_labels}")
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"BertConfig.problem_type={self.problem_type!r} is not None or one of {PROBLEM_TYPES}")
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ValueError(
                f"BertConfig.attn_implementation={self.attn_implementation!r} is not one of {ATTN_IMPLEMENTATIONS}"
            )
        if self.position_embedding_type != "absolute":
            raise ValueError(
                f"BertConfig.position_embedding_type={self.position_embedding_type!r}: bertbook implements only "
                "'absolute' position embeddings (the original BERT's)"
            )

    # ------------------------------------------------------------------ dict / json
    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> "BertConfig":
        data = {**data, **overrides}
        if "num_labels" in overrides and "id2label" not in overrides:
            # As in HF: asking for a label count replaces the stored label names.
            data.pop("id2label", None)
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known and k != "extra"}
        extra.update(data.get("extra", {}))
        model_type = extra.get("model_type", "bert")
        if model_type == "megatron-bert":
            kwargs.setdefault("pre_layernorm", True)
        elif model_type not in ("bert", None):
            raise ValueError(
                f"config.json has model_type={model_type!r}; bertbook reads 'bert' and 'megatron-bert' configs"
            )
        # HF writes label2id next to id2label; it is derived, so it is not kept twice.
        extra.pop("label2id", None)
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """A ``config.json``-ready dict in HF's layout (``id2label``/``label2id``, ``model_type``)."""
        out = dict(self.extra)
        for k, v in asdict(self).items():
            if k in ("extra", "num_labels", "id2label"):
                continue
            out[k] = v
        out["id2label"] = {str(i): label for i, label in self.id2label.items()}
        out["label2id"] = {label: i for i, label in self.id2label.items()}
        out["model_type"] = MODEL_TYPES[self.pre_layernorm]
        return out

    @classmethod
    def from_json_file(cls, path: str | Path, **overrides: Any) -> "BertConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
        return cls.from_dict(data, **overrides)

    @classmethod
    def from_pretrained(cls, folder: str | Path, **overrides: Any) -> "BertConfig":
        path = Path(folder)
        path = path / "config.json" if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"no config.json at {path}")
        return cls.from_json_file(path, **overrides)

    def save_pretrained(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "config.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path
