"""Padding-free batches: the token-wise work of a padded batch runs on its real tokens only.

Every token-wise operation of a BERT layer (the Q/K/V and output projections, the feed-forward
block, LayerNorm, dropout) does not care which sequence a token belongs to, so it can run on the
N real tokens of a (B, T) batch instead of all B*T positions: a batch of ragged sentences stops
paying for its padding. Only attention mixes tokens, and it needs to know where each sequence
starts and ends (:class:`Packing`).

``padding_free(model)`` turns this on for any model of the package, in place: it swaps the class
of its encoder and of every self-attention module for a padding-free subclass. Parameters, state
dict and outputs at real tokens stay the same (padding positions come back as zeros). The plain
classes in modeling.py know nothing of this: the packing object simply travels through the
layers in the place of the attention mask.

Trap: which tokens are real is data, so packing reads the mask on the host (``nonzero``, the
longest length). This path therefore does not capture into one ``fullgraph`` compiled graph;
compile the layers alone (``fast.compile_layers``) if you want both.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .modeling import BertEncoder, BertSelfAttention


@dataclass
class Packing:
    """Padding-free layout of a padded (B, T) batch: its N real tokens side by side, (N, ...)."""

    indices: torch.Tensor  # (N,) flat positions b * T + t of the real tokens, in order
    cu_seqlens: torch.Tensor  # (B + 1,) int32: sequence b is rows cu_seqlens[b] : cu_seqlens[b + 1]
    max_seqlen: int
    batch: int
    seq_len: int
    additive_mask: torch.Tensor | None = None  # (B, 1, 1, T), for attention in the padded layout

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
    """torch's variable-length flash attention (CUDA, fp16/bf16), or None where torch lacks it."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


class PaddingFreeSelfAttention(BertSelfAttention):
    """Self-attention over (N, H) packed tokens when handed a :class:`Packing` as its mask.

    On CUDA in fp16/bf16, torch's variable-length flash kernel attends within each sequence
    straight from the packed layout. Elsewhere (CPU, fp32, attention dropout while training) the
    projections still run on the N real tokens, and q/k/v are scattered into a zero-padded
    (B, T) layout only for the attention product itself.
    """

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        if not isinstance(attention_mask, Packing):
            return super().forward(hidden_states, attention_mask, output_attentions)
        packing = attention_mask
        N, nh, hs = hidden_states.shape[0], self.num_attention_heads, self.attention_head_size
        # One (N, H) x (H, 3H) product instead of three, so that the padding below happens once;
        # the state dict keeps transformers' separate query/key/value.
        weight = torch.cat([self.query.weight, self.key.weight, self.value.weight])  # (3H, H)
        bias = torch.cat([self.query.bias, self.key.bias, self.value.bias])  # (3H,)
        qkv = F.linear(hidden_states, weight, bias)  # (N, 3H)
        varlen = _varlen_attention()
        if (varlen is not None and qkv.is_cuda and qkv.dtype in (torch.float16, torch.bfloat16)
                and not (self.training and self.dropout.p > 0)):
            q, k, v = qkv.view(N, 3, nh, hs).unbind(1)  # (N, nh, hs) each
            cu, longest = packing.cu_seqlens, packing.max_seqlen
            context = varlen(q, k, v, cu, cu, longest, longest, scale=self.scaling)  # (N, nh, hs)
            return context.reshape(N, self.all_head_size), None
        B, T = packing.batch, packing.seq_len
        # (N, 3H) -> (B, T, 3, nh, hs) -> 3 x (B, nh, T, hs)
        q, k, v = packing.pad(qkv).view(B, T, 3, nh, hs).permute(2, 0, 3, 1, 4).unbind(0)
        context, _ = self.attend(q, k, v, packing.additive_mask)  # (B, T, H)
        return packing.unpad(context), None  # (N, H)


class PaddingFreeEncoder:
    """Mixed in front of an encoder class (BERT's or MegatronBERT's): pack, run the layers on
    the real tokens, unpack. Given what packing cannot serve, it runs the padded layout."""

    def forward(self, hidden_states, attention_mask=None, output_attentions=False,
                output_hidden_states=False):
        reason = None
        if output_attentions:
            reason = "output_attentions=True"
        elif attention_mask is not None and attention_mask.shape[-2] != 1:
            reason = "a causal (is_decoder) model"
        if reason is not None:
            warnings.warn(f"padding_free=True is ignored for {reason}: running the padded layout",
                          stacklevel=3)
        if reason is not None or attention_mask is None:  # no mask: no padding to skip
            return super().forward(hidden_states, attention_mask, output_attentions,
                                   output_hidden_states)
        # The additive (B, 1, 1, T) mask is 0 at real tokens.
        packing = Packing.from_mask(attention_mask[:, 0, 0, :] == 0)
        packing.additive_mask = attention_mask
        hidden, all_hidden, _ = super().forward(packing.unpad(hidden_states), packing,
                                                output_hidden_states=output_hidden_states)
        all_hidden = [packing.pad(h) for h in all_hidden] if all_hidden is not None else None
        return packing.pad(hidden), all_hidden, None  # (B, T, H), zeros at padding


def padding_free(model: torch.nn.Module) -> torch.nn.Module:
    """Make ``model`` (any bertbook model) compute on real tokens only, in place; returns it."""
    swapped = 0
    for module in model.modules():
        if isinstance(module, BertEncoder) and not isinstance(module, PaddingFreeEncoder):
            cls = type(module)
            module.__class__ = type(f"PaddingFree{cls.__name__}", (PaddingFreeEncoder, cls), {})
            swapped += 1
        elif type(module) is BertSelfAttention:
            module.__class__ = PaddingFreeSelfAttention
    if not swapped:
        raise TypeError(f"padding_free needs a model with a BertEncoder, got {type(model).__name__}")
    return model
