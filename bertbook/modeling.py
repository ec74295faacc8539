"""The BERT encoder: embeddings, self-attention, encoder layers, pooler and `BertModel`.

Class and parameter names follow ``transformers.models.bert.modeling_bert`` so the two can be
read side by side and state dicts load both ways without renaming. Shapes in comments use

    B batch, T sequence length, H hidden size, nh heads, hs head size (H = nh * hs), I intermediate size

Two layouts share this code (``config.pre_layernorm``):

    post-LN (BERT):          x = LN(x + Attn(x));        x = LN(x + FFN(x))
    pre-LN (MegatronBERT):   x = x + Attn(LN(x));        x = x + FFN(LN(x));   final LN after the stack

In the pre-LN layout the sub-modules are named as in ``transformers``' MegatronBERT
(``attention.ln``, ``ln``, ``encoder.ln``), so its checkpoints load with no key mapping.

RoBERTa's encoder is this code too (``config.position_ids_from_padding``): only where the
position ids come from changes (:func:`create_position_ids_from_input_ids`). ``RobertaModel``
is ``BertModel`` under RoBERTa's state-dict prefix (``roberta.``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .config import BertConfig

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
    """Base of the output dataclasses: attribute access by HF's field names, and like HF's
    ``ModelOutput`` also ``out[0]`` / ``out["logits"]`` / ``out.to_tuple()`` over the fields that are set."""

    def to_tuple(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None)

    def __getitem__(self, key):
        if isinstance(key, str):
            return getattr(self, key)
        return self.to_tuple()[key]

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: torch.Tensor  # (B, T, H)
    pooler_output: torch.Tensor | None = None  # (B, H)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # L + 1 tensors of (B, T, H): embeddings, then each layer
    attentions: tuple[torch.Tensor, ...] | None = None  # L tensors of (B, nh, T, T): softmax probabilities


# ----------------------------------------------------------------------------- input checks


def check_input_ids(input_ids: torch.Tensor, config: BertConfig, name: str = "input_ids", ndim: int = 2) -> None:
    """Reject bad ids before any kernel runs: an out-of-range id on CUDA is a device-side assert that
    kills the process, and on CPU an IndexError with no hint of which input was wrong."""
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(input_ids).__name__}")
    if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool or input_ids.is_complex():
        raise TypeError(f"{name} must hold integer token ids (torch.long), got dtype {input_ids.dtype}")
    if input_ids.dim() != ndim:
        shape = "(batch, seq_len)" if ndim == 2 else "(batch, num_choices, seq_len)"
        raise ValueError(f"{name} must be {ndim}-D {shape}, got shape {tuple(input_ids.shape)}")
    if input_ids.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(input_ids.shape)}): need at least one sequence of one token")
    seq_len = input_ids.shape[-1]
    if seq_len > config.max_sequence_length:
        raise ValueError(
            f"{name} has sequence length {seq_len}, longer than {_length_limit(config)}: truncate the input "
            f"(e.g. tokenizer(..., truncation=True, max_length={config.max_sequence_length}))"
        )
    lo, hi = int(input_ids.min()), int(input_ids.max())
    if lo < 0 or hi >= config.vocab_size:
        raise ValueError(f"{name} must be in [0, vocab_size={config.vocab_size}), got values in [{lo}, {hi}]")


def _length_limit(config: BertConfig) -> str:
    """The longest allowed input, in words: RoBERTa's first position is pad_token_id + 1, not 0."""
    limit = f"max_position_embeddings={config.max_position_embeddings}"
    if config.position_ids_from_padding:
        limit += (f" minus RoBERTa's position offset pad_token_id + 1 = {config.pad_token_id + 1}, "
                  f"i.e. {config.max_sequence_length} tokens")
    return limit


def check_companion(tensor: torch.Tensor | None, input_ids_shape: torch.Size, name: str, upper: int | None = None) -> None:
    """``attention_mask`` / ``token_type_ids`` / ``position_ids`` must have exactly the ids' shape (no broadcast)."""
    if tensor is None:
        return
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tuple(tensor.shape) != tuple(input_ids_shape):
        raise ValueError(f"{name} has shape {tuple(tensor.shape)} but input_ids has shape {tuple(input_ids_shape)}")
    if upper is not None and tensor.numel():
        if tensor.dtype.is_floating_point:
            raise TypeError(f"{name} must hold integer ids, got dtype {tensor.dtype}")
        lo, hi = int(tensor.min()), int(tensor.max())
        if lo < 0 or hi >= upper:
            raise ValueError(f"{name} must be in [0, {upper}), got values in [{lo}, {hi}]")


# ----------------------------------------------------------------------------- embeddings


def create_position_ids_from_input_ids(input_ids: torch.Tensor, padding_idx: int) -> torch.Tensor:
    """RoBERTa's position ids (fairseq's ``make_positions``): real tokens are numbered
    ``padding_idx + 1, padding_idx + 2, ...`` in order, and every padding token gets ``padding_idx``.

    With ``padding_idx=1``: ids ``[0, 713, 2, 1, 1]`` -> positions ``[2, 3, 4, 1, 1]``. Traps: which
    tokens are padding is read from the *ids* (``== padding_idx``), not from the attention mask; and
    a left-padded sequence still starts at ``padding_idx + 1``, so its positions do not depend on
    how much padding the batch needed.
    """
    mask = input_ids.ne(padding_idx).long()  # (B, T): 1 = real token
    return torch.cumsum(mask, dim=1) * mask + padding_idx  # (B, T)


class BertEmbeddings(nn.Module):
    """word + position + token type (segment) embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_ids_from_padding = config.position_ids_from_padding
        self.padding_idx = config.pad_token_id
        # RoBERTa: padding sits at position pad_token_id, a row that starts at zero and gets no gradient.
        position_padding_idx = config.pad_token_id if config.position_ids_from_padding else None
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size,
                                                padding_idx=position_padding_idx)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        # MegatronBERT (pre-LN) has no LayerNorm here: each layer normalises its own input.
        self.LayerNorm = None if config.pre_layernorm else nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # Not saved in the state dict (persistent=False), as in HF.
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,  # (B, T)
        token_type_ids: torch.Tensor | None = None,  # (B, T), 0 for segment A, 1 for segment B
        position_ids: torch.Tensor | None = None,  # (B, T) or None for 0..T-1
        inputs_embeds: torch.Tensor | None = None,  # (B, T, H) instead of input_ids
    ) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T, H)
        B, T = inputs_embeds.shape[:2]
        if position_ids is None:
            if not self.position_ids_from_padding:
                position_ids = self.position_ids[:, :T]  # (1, T): 0..T-1, broadcast over the batch
            elif input_ids is not None:
                position_ids = create_position_ids_from_input_ids(input_ids, self.padding_idx)  # (B, T)
            else:
                # RoBERTa given embeddings: padding cannot be seen, so every token counts (as in HF).
                first = self.padding_idx + 1
                position_ids = self.position_ids[:, first:first + T]  # (1, T)
        if token_type_ids is None:
            token_type_ids = torch.zeros((B, T), dtype=torch.long, device=inputs_embeds.device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids) + self.position_embeddings(position_ids)
        if self.LayerNorm is not None:
            embeddings = self.LayerNorm(embeddings)
        return self.dropout(embeddings)  # (B, T, H)


# ----------------------------------------------------------------------------- attention


def extended_attention_mask(
    attention_mask: torch.Tensor | None, batch: int, seq_len: int, dtype: torch.dtype, device: torch.device, causal: bool = False
) -> torch.Tensor | None:
    """Turn a (B, T) 1/0 padding mask into the additive mask that attention adds to its scores.

    Returns (B, 1, 1, T) — or (B, 1, T, T) when ``causal`` — with 0 where a query may look and the
    dtype's most negative finite value where it may not, or ``None`` when nothing is masked.

    Trap: we add ``finfo(dtype).min`` rather than ``-inf``. After softmax both give exactly 0 weight
    to padding, but a row whose keys are *all* masked would become NaN with -inf (0/0), whereas
    with the finite minimum it degrades to a uniform average. In fp16 the minimum is -65504, so
    the mask must be built in the scores' dtype, never in fp32 and cast later.
    """
    if attention_mask is None and not causal:
        return None
    neg = torch.finfo(dtype).min
    allowed = torch.ones((batch, 1, 1, seq_len), dtype=torch.bool, device=device)
    if attention_mask is not None:
        if bool(attention_mask.all()) and not causal:
            return None  # no padding: let SDPA pick its fastest kernel
        allowed = attention_mask[:, None, None, :].to(torch.bool)  # (B, 1, 1, T)
    if causal:
        lower = torch.ones((seq_len, seq_len), dtype=torch.bool, device=device).tril()  # (T, T): query i sees keys <= i
        allowed = allowed & lower  # (B, 1, T, T)
    return torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, neg)


@dataclass
class Packing:
    """Padding-free layout of a padded (B, T) batch: its N real tokens side by side, (N, ...).

    Every token-wise operation (the Q/K/V and output projections, the feed-forward block,
    LayerNorm, dropout) does not care which sequence a token belongs to, so it runs on the N real
    tokens instead of all B*T positions: a batch of ragged sentences stops paying for its padding.
    Only attention mixes tokens, and it needs to know where each sequence starts and ends.
    """

    indices: torch.Tensor  # (N,) flat positions b * T + t of the real tokens, in order
    cu_seqlens: torch.Tensor  # (B + 1,) int32: sequence b is packed rows cu_seqlens[b] : cu_seqlens[b + 1]
    max_seqlen: int
    batch: int
    seq_len: int

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor) -> "Packing":
        B, T = attention_mask.shape
        mask = attention_mask.to(torch.bool)
        indices = mask.reshape(-1).nonzero(as_tuple=True)[0]  # (N,)
        lengths = mask.sum(dim=1, dtype=torch.int32)  # (B,)
        cu = F.pad(lengths.cumsum(0, dtype=torch.int32), (1, 0))  # (B + 1,)
        return cls(indices, cu, int(lengths.max()), B, T)

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (N, ...)"""
        return x.reshape(self.batch * self.seq_len, *x.shape[2:]).index_select(0, self.indices)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, T, ...), zeros at the padding positions."""
        out = x.new_zeros(self.batch * self.seq_len, *x.shape[1:])
        out.index_copy_(0, self.indices, x)
        return out.view(self.batch, self.seq_len, *x.shape[1:])


def _varlen_attention():
    """torch's variable-length flash attention (CUDA, fp16/bf16), or None where this torch lacks it."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


class BertSelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention.

    Two paths compute the same numbers: ``eager`` writes out softmax(Q K^T / sqrt(hs) + mask) V,
    ``sdpa`` calls ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels: flash /
    memory-efficient on CUDA). The probabilities are only materialised by the eager path, so
    ``output_attentions=True`` always takes it.
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
        return x.view(B, T, self.num_attention_heads, self.attention_head_size).transpose(1, 2)  # (B, nh, T, hs)

    def forward(
        self,
        hidden_states: torch.Tensor,  # (B, T, H), or (N, H) with packing
        attention_mask: torch.Tensor | None = None,  # additive, (B, 1, 1 or T, T), see extended_attention_mask
        output_attentions: bool = False,
        packing: Packing | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if packing is not None:
            return self.forward_packed(hidden_states, attention_mask, packing)
        B, T, _ = hidden_states.shape
        q = self.split_heads(self.query(hidden_states))  # (B, nh, T, hs)
        k = self.split_heads(self.key(hidden_states))  # (B, nh, T, hs)
        v = self.split_heads(self.value(hidden_states))  # (B, nh, T, hs)
        return self.attend(q, k, v, attention_mask, output_attentions)

    def attend(self, q, k, v, attention_mask, output_attentions=False):
        """softmax(q k^T * scale + mask) v for (B, nh, T, hs) inputs -> ((B, T, H), probabilities or None)."""
        B, _, T, _ = q.shape
        dropout_p = self.dropout.p if self.training else 0.0

        if self.attn_implementation == "sdpa" and not output_attentions:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask, dropout_p=dropout_p, scale=self.scaling)
            probs = None
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) * self.scaling  # (B, nh, T, T)
            if attention_mask is not None:
                scores = scores + attention_mask  # padding keys get the dtype's minimum
            probs = scores.softmax(dim=-1)  # (B, nh, T, T): each query's weights over keys sum to 1
            context = torch.matmul(self.dropout(probs), v)  # (B, nh, T, hs)
        context = context.transpose(1, 2).reshape(B, T, self.all_head_size)  # (B, T, H): heads side by side
        return context, probs

    def forward_packed(self, hidden_states, attention_mask, packing: Packing):
        """Padding-free attention over (N, H) packed tokens.

        On CUDA in fp16/bf16, torch's variable-length flash kernel attends within each sequence
        directly from the packed layout. Elsewhere (CPU, fp32, attention dropout while training) the
        projections still run on the N real tokens, and q/k/v are scattered into a zero-padded
        (B, T) layout only for the attention product itself.
        """
        N = hidden_states.shape[0]
        nh, hs = self.num_attention_heads, self.attention_head_size
        # One (N, H) x (H, 3H) product instead of three, so that the padding below happens once.
        # The concatenated weight is built from the three Linear layers on every call: the state
        # dict keeps HF's query/key/value layout, and gradients flow back to each of them.
        weight = torch.cat([self.query.weight, self.key.weight, self.value.weight])  # (3H, H)
        bias = torch.cat([self.query.bias, self.key.bias, self.value.bias])  # (3H,)
        qkv = F.linear(hidden_states, weight, bias)  # (N, 3H)
        varlen = _varlen_attention()
        use_varlen = (
            varlen is not None and qkv.is_cuda and qkv.dtype in (torch.float16, torch.bfloat16)
            and not (self.training and self.dropout.p > 0)
        )
        if use_varlen:
            q, k, v = qkv.view(N, 3, nh, hs).unbind(1)  # (N, nh, hs) each
            context = varlen(q, k, v, packing.cu_seqlens, packing.cu_seqlens,
                             packing.max_seqlen, packing.max_seqlen, scale=self.scaling)  # (N, nh, hs)
            return context.reshape(N, self.all_head_size), None
        B, T = packing.batch, packing.seq_len
        q, k, v = packing.pad(qkv).view(B, T, 3, nh, hs).permute(2, 0, 3, 1, 4).unbind(0)  # (B, nh, T, hs) each
        context, _ = self.attend(q, k, v, attention_mask)  # (B, T, H)
        return packing.unpad(context), None  # (N, H)


class BertSelfOutput(nn.Module):
    """Project the heads back to H, dropout, add the residual (and LayerNorm in the post-LN layout)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = None if config.pre_layernorm else nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.dense(hidden_states))  # (B, T, H)
        if self.LayerNorm is None:
            return input_tensor + hidden_states  # pre-LN: plain residual
        return self.LayerNorm(hidden_states + input_tensor)  # post-LN: normalise after the residual


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        # pre-LN only: the LayerNorm that MegatronBERT applies to the attention's input.
        if config.pre_layernorm:
            self.ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False, packing=None):
        attn_input = self.ln(hidden_states) if hasattr(self, "ln") else hidden_states
        context, probs = self.self(attn_input, attention_mask, output_attentions, packing)
        # The residual is the layer's input *before* the pre-LN, as in MegatronBERT.
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
    """Second half of the feed-forward block: I -> H, dropout, residual (and LayerNorm when post-LN)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = None if config.pre_layernorm else nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.dense(hidden_states))  # (B, T, H)
        if self.LayerNorm is None:
            return input_tensor + hidden_states
        return self.LayerNorm(hidden_states + input_tensor)


class BertLayer(nn.Module):
    """One encoder layer: self-attention block, then feed-forward block."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        if config.pre_layernorm:
            self.ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)  # before the feed-forward
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False, packing=None):
        attention_output, probs = self.attention(hidden_states, attention_mask, output_attentions, packing)  # (B, T, H)
        ffn_input = self.ln(attention_output) if hasattr(self, "ln") else attention_output
        layer_output = self.output(self.intermediate(ffn_input), attention_output)  # (B, T, H)
        return layer_output, probs


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])
        if config.pre_layernorm:
            # Pre-LN leaves the residual stream un-normalised: MegatronBERT adds one final LayerNorm.
            self.ln = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False, output_hidden_states=False,
                packing=None):
        all_hidden = [hidden_states] if output_hidden_states else None  # the embeddings come first
        all_probs = [] if output_attentions else None
        for layer in self.layer:
            hidden_states, probs = layer(hidden_states, attention_mask, output_attentions, packing)
            if output_hidden_states:
                all_hidden.append(hidden_states)
            if output_attentions:
                all_probs.append(probs)
        if hasattr(self, "ln"):
            hidden_states = self.ln(hidden_states)
            if output_hidden_states:
                # As transformers' MegatronBERT: the last entry is the *normalised* final state.
                all_hidden[-1] = hidden_states
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
    """Shared by every model: weight initialisation, ``from_pretrained`` and ``save_pretrained``."""

    base_model_prefix = "bert"
    # State-dict keys that alias another parameter (the tied MLM decoder); not written to disk.
    tied_weights_keys: tuple[str, ...] = ()

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"config must be a bertbook.BertConfig, got {type(config).__name__}")
        self.config = config

    def init_weights(self) -> None:
        """Initialise as BERT does (and as ``transformers`` does), then tie weights."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.padding_idx is not None:
                    with torch.no_grad():
                        module.weight[module.padding_idx].zero_()
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        self.tie_weights()

    def tie_weights(self) -> None:
        """Overridden by models with an MLM decoder; nothing to tie otherwise."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_parameters(self) -> int:
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())

    @classmethod
    def from_pretrained(cls, name_or_path, *, config: BertConfig | None = None, output_loading_info: bool = False, **config_overrides):
        """Load an HF-format folder (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``).

        ``config_overrides`` replace config fields (``num_labels=5``, ``attn_implementation="eager"``...).
        Missing and unexpected weights are reported as a warning, as in ``transformers``.
        """
        from .loading import load_pretrained  # local import: modeling.py stays usable on its own

        return load_pretrained(cls, name_or_path, config=config, output_loading_info=output_loading_info, **config_overrides)

    def save_pretrained(self, folder) -> None:
        """Write ``config.json`` + ``model.safetensors`` that ``transformers`` loads with no missing keys."""
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

    def _use_padding_free(self, attention_mask, mask, output_attentions) -> bool:
        """Pack only when asked for (``config.padding_free``), when there is padding to save, and when
        nothing needs the padded layout: attention probabilities and the causal mask do."""
        if not (self.config.padding_free and mask is not None and attention_mask is not None):
            return False
        if output_attentions or self.config.is_decoder:
            # Same numbers either way; say once that the fast path was not taken.
            why = "output_attentions=True" if output_attentions else "a causal (is_decoder) model"
            warnings.warn(f"padding_free=True is ignored for {why}: running the padded layout", stacklevel=3)
            return False
        return True

    def forward(
        self,
        input_ids: torch.Tensor | None = None,  # (B, T) token ids
        attention_mask: torch.Tensor | None = None,  # (B, T) 1 = real token, 0 = padding
        token_type_ids: torch.Tensor | None = None,  # (B, T) segment ids
        position_ids: torch.Tensor | None = None,  # (B, T)
        inputs_embeds: torch.Tensor | None = None,  # (B, T, H)
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseModelOutputWithPooling:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if input_ids is not None:
            check_input_ids(input_ids, self.config)
            shape = input_ids.shape
        else:
            if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != self.config.hidden_size:
                raise ValueError(
                    f"inputs_embeds must be (batch, seq_len, hidden_size={self.config.hidden_size}), "
                    f"got {tuple(inputs_embeds.shape)}"
                )
            if inputs_embeds.shape[0] == 0 or inputs_embeds.shape[1] == 0:
                raise ValueError(f"inputs_embeds is empty (shape {tuple(inputs_embeds.shape)})")
            if inputs_embeds.shape[1] > self.config.max_sequence_length:
                raise ValueError(
                    f"sequence length {inputs_embeds.shape[1]} is longer than {_length_limit(self.config)}"
                )
            shape = inputs_embeds.shape[:2]
        check_companion(attention_mask, shape, "attention_mask")
        check_companion(token_type_ids, shape, "token_type_ids", upper=self.config.type_vocab_size)
        check_companion(position_ids, shape, "position_ids", upper=self.config.max_position_embeddings)

        embedding_output = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)  # (B, T, H)
        B, T = shape
        if attention_mask is not None and bool(attention_mask.all()):
            # No padding anywhere: drop the all-zero additive mask, so that SDPA may pick its
            # mask-free kernels (transformers does the same). The numbers do not change.
            attention_mask = None
        mask = extended_attention_mask(
            attention_mask, B, T, embedding_output.dtype, embedding_output.device, causal=self.config.is_decoder
        )
        packing = None
        if self._use_padding_free(attention_mask, mask, output_attentions):
            packing = Packing.from_mask(attention_mask)
            embedding_output = packing.unpad(embedding_output)  # (N, H): real tokens only
        sequence_output, all_hidden, all_probs = self.encoder(
            embedding_output, mask, output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            packing=packing,
        )
        if packing is not None:
            # Back to (B, T, H). Padding positions hold zeros here, whereas the padded path leaves
            # (meaningless) numbers there: compare the two at real tokens only.
            sequence_output = packing.pad(sequence_output)
            all_hidden = [packing.pad(h) for h in all_hidden] if all_hidden is not None else None
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        return BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=tuple(all_hidden) if all_hidden is not None else None,
            attentions=tuple(all_probs) if all_probs is not None else None,
        )


# ----------------------------------------------------------------------------- RoBERTa


def check_roberta_config(config: BertConfig, name: str) -> None:
    """The RoBERTa classes exist for RoBERTa checkpoints: their positions must be RoBERTa's."""
    if isinstance(config, BertConfig) and not config.position_ids_from_padding:
        raise ValueError(
            f"{name} needs a RoBERTa config (position_ids_from_padding=True, as a config.json with "
            f"model_type 'roberta' gives): build it with BertConfig.for_roberta(...), or use the Bert* class"
        )


class RobertaModel(BertModel):
    """RoBERTa's encoder: ``BertModel`` with RoBERTa's config (padding-aware positions) and its
    checkpoints' prefix, ``roberta.`` (task models hold it as ``self.roberta``). Same state-dict keys
    as transformers' ``RobertaModel``, pooler included."""

    base_model_prefix = "roberta"

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        check_roberta_config(config, type(self).__name__)
        super().__init__(config, add_pooling_layer=add_pooling_layer)
