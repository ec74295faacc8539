"""BERT, the encoder: config, embeddings, self-attention, layers, pooler and `BertModel`.

This is the plain post-LayerNorm BERT of the paper, as in ``transformers``' ``modeling_bert.py``.
It imports torch and the standard library only: copy this one file into a project and
``import modeling`` works. Class and parameter names are those of transformers, so state dicts
load both ways without renaming (``model.load_state_dict(...)``; ``from_pretrained`` needs
``bertbook/loading.py`` too). Relatives live beside it, never as branches in here:
``megatron.py`` (pre-LN layers), ``roberta.py`` (padding-aware positions), ``packing.py``
(padding-free batches), ``heads.py`` (the task models).

The forward passes read no tensor values on the host (no ``.item()``, no ``bool(mask.all())``),
so a whole model compiles with ``torch.compile(model, fullgraph=True)``. Range checks on ids and
labels happen where the data are still on the host: the tokenizer, the collators and
``bertbook.checks.validate_inputs``.

Shapes in comments: B batch, T sequence length, H hidden size, nh heads, hs head size
(H = nh * hs), I intermediate size.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------- config

# config.json's "model_type" for each encoder layout bertbook reads (see megatron.py, roberta.py).
MODEL_TYPES = ("bert", "megatron-bert", "roberta")


@dataclass
class BertConfig:
    """The hyper-parameters of a BERT, under ``transformers.BertConfig``'s field names, so a
    ``config.json`` moves between the two libraries unchanged. Keys we do not use
    (``architectures``, ``transformers_version``, ...) are kept in ``extra`` and written back."""

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
    is_decoder: bool = False  # causal self-attention (BertLMHeadModel)
    position_embedding_type: str = "absolute"  # the only kind implemented here
    num_labels: int = 2  # task heads; stored on disk as len(id2label), as HF does
    id2label: dict[int, str] | None = None
    problem_type: str | None = None  # regression / single_label_ / multi_label_classification
    attn_implementation: str = "sdpa"  # "eager" writes softmax(QK^T)V out; "sdpa" calls the fused op
    # The two relatives that share BERT's weight layout; config.json's model_type sets them, and
    # only their own modules read them (megatron.py, roberta.py).
    pre_layernorm: bool = False  # MegatronBERT
    position_ids_from_padding: bool = False  # RoBERTa
    extra: dict[str, Any] = field(default_factory=dict)  # every other key of config.json

    def __post_init__(self) -> None:
        if self.id2label is not None:  # JSON keys are strings
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
            self.num_labels = len(self.id2label)
        self.validate()
        if self.id2label is None:  # HF's default names, so a saved and re-read config compares equal
            self.id2label = {i: f"LABEL_{i}" for i in range(self.num_labels)}

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field that is out of range."""
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size", "num_labels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}): each head gets hidden_size / num_attention_heads features")
        choices = {"hidden_act": tuple(ACTIVATIONS), "attn_implementation": ("eager", "sdpa"),
                   "problem_type": (None, "regression", "single_label_classification",
                                    "multi_label_classification")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"BertConfig.{name}={getattr(self, name)!r} is not one of {allowed}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            p = getattr(self, name)
            if p is not None and not 0.0 <= p < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {p}")
        if self.layer_norm_eps <= 0:
            raise ValueError(f"BertConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"BertConfig.pad_token_id must be in [0, vocab_size={self.vocab_size}), "
                             f"got {self.pad_token_id}")
        if self.position_embedding_type != "absolute":
            raise ValueError(f"BertConfig.position_embedding_type={self.position_embedding_type!r}: "
                             "bertbook implements only 'absolute' position embeddings (BERT's)")
        if self.pre_layernorm and self.position_ids_from_padding:
            raise ValueError("BertConfig: position_ids_from_padding (RoBERTa) and pre_layernorm "
                             "(MegatronBERT) cannot be combined: no transformers model type has both")
        if self.max_sequence_length <= 0:
            raise ValueError(f"BertConfig.max_position_embeddings={self.max_position_embeddings} "
                             "leaves no position for a token")

    @property
    def model_type(self) -> str:
        if self.pre_layernorm:
            return "megatron-bert"
        return "roberta" if self.position_ids_from_padding else "bert"

    @property
    def max_sequence_length(self) -> int:
        """The longest input the position table holds. RoBERTa's first token sits at position
        ``pad_token_id + 1`` (see roberta.py), so its 514 rows hold 512 tokens."""
        offset = self.pad_token_id + 1 if self.position_ids_from_padding else 0
        return self.max_position_embeddings - offset

    @classmethod
    def for_roberta(cls, **overrides: Any) -> "BertConfig":
        """``roberta-base``'s values where they differ from BERT's defaults; ``overrides`` win."""
        roberta = dict(position_ids_from_padding=True, vocab_size=50265, max_position_embeddings=514,
                       type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5)
        extra = {"bos_token_id": 0, "eos_token_id": 2, **overrides.pop("extra", {})}
        return cls(**{**roberta, **overrides}, extra=extra)

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> "BertConfig":
        data = {**data, **overrides}
        if "num_labels" in overrides and "id2label" not in overrides:
            data.pop("id2label", None)  # as in HF: a new label count replaces the stored names
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known and k not in ("extra", "label2id")}
        extra.update(data.get("extra", {}))
        model_type = extra.pop("model_type", "bert")
        if model_type not in MODEL_TYPES:
            raise ValueError(f"config.json has model_type={model_type!r}; bertbook reads {MODEL_TYPES}")
        if model_type == "megatron-bert":
            kwargs.setdefault("pre_layernorm", True)
        if model_type == "roberta":
            kwargs.setdefault("position_ids_from_padding", True)
            kwargs.setdefault("pad_token_id", 1)  # transformers' RobertaConfig default
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """A ``config.json``-ready dict in HF's layout (``id2label``/``label2id``, ``model_type``)."""
        out = {**self.extra, **{k: v for k, v in asdict(self).items()
                                if k not in ("extra", "num_labels", "id2label")}}
        out["id2label"] = {str(i): label for i, label in self.id2label.items()}
        out["label2id"] = {label: i for i, label in self.id2label.items()}
        out["model_type"] = self.model_type
        return out

    @classmethod
    def from_pretrained(cls, folder: str | Path, **overrides: Any) -> "BertConfig":
        path = Path(folder)
        path = path / "config.json" if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"no config.json at {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
        return cls.from_dict(data, **overrides)

    def save_pretrained(self, folder: str | Path) -> Path:
        path = Path(folder) / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path


# ----------------------------------------------------------------------------- activations


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU with the tanh approximation (OpenAI GPT / ``gelu_new``)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTIVATIONS = {
    "gelu": F.gelu,  # exact GELU, x * Phi(x): what BERT uses
    "gelu_new": gelu_tanh,
    "gelu_fast": gelu_tanh,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


# ----------------------------------------------------------------------------- outputs


class ModelOutput:
    """Base of the output dataclasses: fields by HF's names, and like HF's ``ModelOutput`` also
    ``out[0]`` / ``out["logits"]`` / ``out.to_tuple()`` over the fields that are set."""

    def to_tuple(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None)

    def __getitem__(self, key):
        return getattr(self, key) if isinstance(key, str) else self.to_tuple()[key]

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: torch.Tensor  # (B, T, H)
    pooler_output: torch.Tensor | None = None  # (B, H)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # L + 1 of (B, T, H): embeddings, layers
    attentions: tuple[torch.Tensor, ...] | None = None  # L of (B, nh, T, T): softmax probabilities


# ----------------------------------------------------------------------------- embeddings


class BertEmbeddings(nn.Module):
    """word + position + token type (segment) embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        H = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, H, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, H)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, H)
        self.LayerNorm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # 0, 1, ..., max_position_embeddings - 1; not saved in the state dict, as in HF.
        positions = torch.arange(config.max_position_embeddings).expand((1, -1))
        self.register_buffer("position_ids", positions, persistent=False)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,  # (B, T)
        token_type_ids: torch.Tensor | None = None,  # (B, T): 0 for segment A, 1 for segment B
        position_ids: torch.Tensor | None = None,  # (B, T), or None for 0..T-1
        inputs_embeds: torch.Tensor | None = None,  # (B, T, H) instead of input_ids
    ) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T, H)
        B, T = inputs_embeds.shape[:2]
        if position_ids is None:
            position_ids = self.position_ids[:, :T]  # (1, T): broadcast over the batch
        if token_type_ids is None:
            token_type_ids = torch.zeros((B, T), dtype=torch.long, device=inputs_embeds.device)
        embeddings = (inputs_embeds + self.token_type_embeddings(token_type_ids)
                      + self.position_embeddings(position_ids))  # (B, T, H)
        return self.dropout(self.LayerNorm(embeddings))


# ----------------------------------------------------------------------------- attention


def extended_attention_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype,
                            causal: bool = False) -> torch.Tensor | None:
    """Turn a (B, T) 1/0 padding mask into the additive mask attention adds to its scores.

    Returns (B, 1, 1, T), or (B, 1, T, T) when ``causal``: 0 where a query may look, the dtype's
    most negative finite value where it may not; ``None`` when no mask is given.

    Traps: we add ``finfo(dtype).min``, not ``-inf``: both give padding exactly 0 weight after the
    softmax, but a row whose keys are *all* masked would be NaN (0/0) with -inf. And the mask must
    be built in the scores' dtype (in fp16 the minimum is -65504), never in fp32 and cast later.
    The classic ``(1 - mask) * -10000.0`` of the original BERT code works the same way in fp32.
    """
    if attention_mask is None:
        return None
    allowed = attention_mask[:, None, None, :].to(torch.bool)  # (B, 1, 1, T)
    if causal:
        T = allowed.shape[-1]
        lower = torch.ones((T, T), dtype=torch.bool, device=allowed.device).tril()  # key <= query
        allowed = allowed & lower  # (B, 1, T, T)
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
        ~allowed, torch.finfo(dtype).min)


class BertSelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention.

    Two paths compute the same numbers: ``eager`` writes out softmax(Q K^T / sqrt(hs) + mask) V,
    ``sdpa`` calls ``F.scaled_dot_product_attention`` (fused kernels). Only the eager path makes
    the probabilities, so ``output_attentions=True`` always takes it.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.scaling = self.attention_head_size**-0.5
        self.attn_implementation = config.attn_implementation
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        nh, hs = self.num_attention_heads, self.attention_head_size
        return x.view(B, T, nh, hs).transpose(1, 2)  # (B, T, H) -> (B, nh, T, hs)

    def forward(
        self,
        hidden_states: torch.Tensor,  # (B, T, H)
        attention_mask: torch.Tensor | None = None,  # additive (B, 1, 1 or T, T), see above
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        q = self.split_heads(self.query(hidden_states))  # (B, nh, T, hs)
        k = self.split_heads(self.key(hidden_states))  # (B, nh, T, hs)
        v = self.split_heads(self.value(hidden_states))  # (B, nh, T, hs)
        return self.attend(q, k, v, attention_mask, output_attentions)

    def attend(self, q, k, v, attention_mask=None, output_attentions=False):
        """softmax(q k^T * scale + mask) v for (B, nh, T, hs) -> ((B, T, H), probs or None)."""
        B, _, T, _ = q.shape
        if self.attn_implementation == "sdpa" and not output_attentions:
            dropout_p = self.dropout.p if self.training else 0.0
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask,
                                                     dropout_p=dropout_p, scale=self.scaling)
            probs = None
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) * self.scaling  # (B, nh, T, T)
            if attention_mask is not None:
                scores = scores + attention_mask  # masked keys get the dtype's minimum
            probs = scores.softmax(dim=-1)  # (B, nh, T, T): each row sums to 1 over the keys
            # Dropout on the probabilities: during training a query randomly ignores some keys.
            context = torch.matmul(self.dropout(probs), v)  # (B, nh, T, hs)
        context = context.transpose(1, 2).reshape(B, T, self.all_head_size)  # (B, T, H): heads merged
        return context, probs


class BertSelfOutput(nn.Module):
    """Project the heads back to H, dropout, add the residual, LayerNorm (post-LN)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.dense(hidden_states))  # (B, T, H)
        return self.LayerNorm(hidden_states + input_tensor)  # normalise after the residual


class BertAttention(nn.Module):
    """Self-attention, then its output projection with the residual."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        context, probs = self.self(hidden_states, attention_mask, output_attentions)  # (B, T, H)
        return self.output(context, hidden_states), probs


class BertIntermediate(nn.Module):
    """First half of the feed-forward block: H -> I, then the activation (GELU for BERT)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACTIVATIONS[config.hidden_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))  # (B, T, I)


class BertOutput(nn.Module):
    """Second half of the feed-forward block: I -> H, dropout, residual, LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.dense(hidden_states))  # (B, T, H)
        return self.LayerNorm(hidden_states + input_tensor)


class BertLayer(nn.Module):
    """One encoder layer: x = LN(x + Attn(x)); x = LN(x + FFN(x))."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        attention_output, probs = self.attention(hidden_states, attention_mask, output_attentions)
        layer_output = self.output(self.intermediate(attention_output), attention_output)  # (B, T, H)
        return layer_output, probs


class BertEncoder(nn.Module):
    """L layers in a row. Returns the last hidden state and, when asked, every layer's."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, attention_mask=None, output_attentions=False,
                output_hidden_states=False):
        all_hidden = [hidden_states] if output_hidden_states else None  # the embeddings come first
        all_probs = [] if output_attentions else None
        for layer in self.layer:
            hidden_states, probs = layer(hidden_states, attention_mask, output_attentions)
            if output_hidden_states:
                all_hidden.append(hidden_states)
            if output_attentions:
                all_probs.append(probs)
        return hidden_states, all_hidden, all_probs


class BertPooler(nn.Module):
    """tanh(W h_[CLS] + b): the sentence vector that NSP and sequence classification read."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        first_token = hidden_states[:, 0]  # (B, H): the [CLS] position
        return self.activation(self.dense(first_token))  # (B, H)


# ----------------------------------------------------------------------------- models


class BertPreTrainedModel(nn.Module):
    """What every model shares: the config, weight initialisation, loading and saving."""

    base_model_prefix = "bert"  # the encoder's attribute (and state-dict prefix) in task models
    model_type = "bert"  # the config.json model_type this class implements
    tied_weights_keys: tuple[str, ...] = ()  # keys that alias another parameter; not saved

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"config must be a BertConfig, got {type(config).__name__}")
        if config.model_type != self.model_type:
            module = {"megatron-bert": "bertbook.megatron", "roberta": "bertbook.roberta"}
            raise ValueError(
                f"{type(self).__name__} implements model_type {self.model_type!r}, but the config is "
                f"{config.model_type!r}: use the class of that name in "
                f"{module.get(config.model_type, 'bertbook')}")
        self.config = config

    def init_weights(self) -> None:
        """Initialise as BERT (and transformers) do: N(0, 0.02) weights, zero biases, then tie."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
            if isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        self.tie_weights()

    def tie_weights(self) -> None:
        """Models with an MLM decoder tie it to the word embeddings here."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_parameters(self) -> int:
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())

    @classmethod
    def from_pretrained(cls, name_or_path, *, config=None, output_loading_info=False, **overrides):
        """Load an HF-format folder (``config.json`` + weights); needs ``bertbook/loading.py``.
        ``overrides`` replace config fields (``num_labels=5``, ``attn_implementation="eager"``)."""
        from .loading import load_pretrained

        return load_pretrained(cls, name_or_path, config=config,
                               output_loading_info=output_loading_info, **overrides)

    def save_pretrained(self, folder) -> None:
        """Write ``config.json`` + ``model.safetensors`` that transformers loads; needs loading.py."""
        from .loading import save_pretrained

        save_pretrained(self, folder)


class BertModel(BertPreTrainedModel):
    """The bare encoder: embeddings -> L layers -> (optional) pooler."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.init_weights()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def forward(
        self,
        input_ids: torch.Tensor | None = None,  # (B, T) token ids
        attention_mask: torch.Tensor | None = None,  # (B, T): 1 = real token, 0 = padding
        token_type_ids: torch.Tensor | None = None,  # (B, T) segment ids
        position_ids: torch.Tensor | None = None,  # (B, T)
        inputs_embeds: torch.Tensor | None = None,  # (B, T, H) instead of input_ids
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseModelOutputWithPooling:
        B, T = check_shapes(self.config, input_ids, inputs_embeds, attention_mask=attention_mask,
                            token_type_ids=token_type_ids, position_ids=position_ids)
        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        if self.config.is_decoder and attention_mask is None:  # the causal mask needs a (B, T) base
            attention_mask = torch.ones((B, T), dtype=torch.long, device=hidden_states.device)
        mask = extended_attention_mask(attention_mask, hidden_states.dtype, self.config.is_decoder)
        sequence_output, all_hidden, all_probs = self.encoder(
            hidden_states, mask, output_attentions, output_hidden_states)  # (B, T, H)
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        return BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=tuple(all_hidden) if all_hidden is not None else None,
            attentions=tuple(all_probs) if all_probs is not None else None,
        )


BertPreTrainedModel.base_model_class = BertModel  # the encoder task models build (see heads.py)


def check_shapes(config: BertConfig, input_ids=None, inputs_embeds=None, ndim: int = 2,
                 **companions) -> tuple[int, ...]:
    """Types and shapes of a model's inputs, before any kernel runs; returns the (B, T) shape
    (or (B, C, T) with ``ndim=3``). Only shapes are read, never values, so nothing waits on the
    device and the check compiles away; value ranges are ``checks.validate_inputs``' job."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids or inputs_embeds")
    layout = "(batch, seq_len)" if ndim == 2 else "(batch, num_choices, seq_len)"
    name = "input_ids" if input_ids is not None else "inputs_embeds"
    if input_ids is not None:
        if not isinstance(input_ids, torch.Tensor):
            raise TypeError(f"input_ids must be a torch.Tensor of token ids, got {type(input_ids).__name__}")
        if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool:
            raise TypeError(f"input_ids must hold integer token ids (torch.long), got {input_ids.dtype}")
        if input_ids.dim() != ndim:
            raise ValueError(f"input_ids must be {ndim}-D {layout}, got shape {tuple(input_ids.shape)}")
        shape = tuple(input_ids.shape)
    else:
        if inputs_embeds.dim() != ndim + 1 or inputs_embeds.shape[-1] != config.hidden_size:
            raise ValueError(f"inputs_embeds must be {layout[:-1]}, hidden_size={config.hidden_size}), "
                             f"got {tuple(inputs_embeds.shape)}")
        shape = tuple(inputs_embeds.shape[:-1])
    if 0 in shape:
        raise ValueError(f"{name} is empty (shape {shape}): need at least one sequence of one token")
    if shape[-1] > config.max_sequence_length:
        limit = f"max_position_embeddings={config.max_position_embeddings}"
        if config.position_ids_from_padding:  # RoBERTa: positions start at pad_token_id + 1
            limit += (f" minus RoBERTa's position offset pad_token_id + 1 = {config.pad_token_id + 1},"
                      f" i.e. {config.max_sequence_length} tokens")
        raise ValueError(f"sequence length {shape[-1]}, longer than {limit}: truncate the input "
                         f"(tokenizer(..., truncation=True, max_length={config.max_sequence_length}))")
    for other, tensor in companions.items():  # attention_mask, token_type_ids, position_ids
        if tensor is not None and tuple(tensor.shape) != shape:
            raise ValueError(f"{other} has shape {tuple(tensor.shape)} but {name} has shape {shape}")
    return shape
