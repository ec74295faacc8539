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
* ``position_ids_from_padding=True``: RoBERTa's position ids, counted over the non-padding tokens
  and starting at ``pad_token_id + 1`` (see ``modeling.create_position_ids_from_input_ids``).
  A ``config.json`` with ``"model_type": "roberta"`` turns it on and it is written back as
  ``"roberta"``. Everything else RoBERTa changes in the encoder is a value, not code: one token
  type (``type_vocab_size=1``), ``pad_token_id=1``, 514 position rows; ``BertConfig.for_roberta()``
  sets them. Its heads have their own layout: ``heads.RobertaForMaskedLM`` and
  ``heads.RobertaForSequenceClassification``.
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
ROBERTA_MODEL_TYPE = "roberta"  # written when position_ids_from_padding is on


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
    # RoBERTa's position ids (padding-aware, offset by pad_token_id + 1). An explicit switch rather
    # than `model_type == "roberta"` tests scattered through the encoder: the embeddings ask one
    # question ("where do positions come from?"), and config.json's model_type maps onto the
    # answer in exactly one place (from_dict / to_dict).
    position_ids_from_padding: bool = False
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
        if self.position_ids_from_padding:
            if self.pre_layernorm:
                raise ValueError(
                    "BertConfig: position_ids_from_padding (RoBERTa) and pre_layernorm (MegatronBERT) cannot be "
                    "combined: no transformers model type has both, so the config could not be written back"
                )
            if self.pad_token_id + 1 >= self.max_position_embeddings:
                raise ValueError(
                    f"BertConfig.max_position_embeddings={self.max_position_embeddings} leaves no position for a "
                    f"token: with position_ids_from_padding the first token sits at pad_token_id + 1 = "
                    f"{self.pad_token_id + 1}"
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

    @property
    def max_sequence_length(self) -> int:
        """The longest input the position table allows. RoBERTa's first token takes position
        ``pad_token_id + 1``, so its 514 rows hold 512 tokens; BERT's 512 rows hold 512."""
        offset = self.pad_token_id + 1 if self.position_ids_from_padding else 0
        return self.max_position_embeddings - offset

    @classmethod
    def for_roberta(cls, **overrides: Any) -> "BertConfig":
        """A RoBERTa config: the values of ``roberta-base``'s ``config.json`` where they differ from
        BERT's defaults (sizes stay BERT-base's), plus the position switch. ``overrides`` win."""
        roberta = dict(
            position_ids_from_padding=True,  # the one change in the encoder's code path
            vocab_size=50265,  # byte-level BPE instead of WordPiece
            max_position_embeddings=514,  # 512 tokens + the padding row + one unused row
            type_vocab_size=1,  # no sentence A / B: NSP is gone, pairs are just concatenated
            pad_token_id=1,  # <s>=0, <pad>=1, </s>=2 (fairseq's dictionary order)
            layer_norm_eps=1e-5,
        )
        extra = {"bos_token_id": 0, "eos_token_id": 2, **overrides.pop("extra", {})}
        return cls(**{**roberta, **overrides}, extra=extra)

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
        elif model_type == ROBERTA_MODEL_TYPE:
            kwargs.setdefault("position_ids_from_padding", True)
            # transformers' RobertaConfig defaults, for a config.json that leaves them out
            kwargs.setdefault("pad_token_id", 1)
        elif model_type not in ("bert", None):
            raise ValueError(
                f"config.json has model_type={model_type!r}; bertbook reads 'bert', 'megatron-bert' and "
                f"'roberta' configs"
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
        out["model_type"] = ROBERTA_MODEL_TYPE if self.position_ids_from_padding else MODEL_TYPES[self.pre_layernorm]
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
