"""One-call helpers in the spirit of ``transformers.pipeline``, small enough to read.

``fill_mask`` is ``pipeline("fill-mask")`` for our models: tokenize a text with one ``[MASK]``,
run the model once, softmax over the vocabulary at that position, keep the ``top_k`` tokens.

    fill_mask(model, tokenizer, "The [MASK] rose sharply.", top_k=3)
    -> [{"token": 4600, "token_str": "shares", "score": 0.21, "sequence": "the shares rose ..."}, ...]
"""

from __future__ import annotations

import torch


def _mask_position(input_ids: torch.Tensor, mask_token_id: int, text: str) -> int:
    """The index of the single [MASK] in a (T,) row of ids; ValueError when there is not one."""
    positions = (input_ids == mask_token_id).nonzero(as_tuple=True)[0]  # (n_masks,)
    if len(positions) != 1:
        raise ValueError(f"text must contain exactly one mask token, found {len(positions)} "
                         f"in {text!r}")
    return int(positions[0])


def _vocabulary_logits(outputs) -> torch.Tensor:
    """The MLM logits of a model's output: ``logits`` (ForMaskedLM) or ``prediction_logits``
    (ForPreTraining)."""
    for name in ("logits", "prediction_logits"):
        logits = getattr(outputs, name, None)
        if logits is not None:
            return logits
    raise TypeError(f"the model's output has no MLM logits: {type(outputs).__name__}")


@torch.no_grad()
def fill_mask(model: torch.nn.Module, tokenizer, text: str, top_k: int = 5) -> list[dict]:
    """The ``top_k`` most probable tokens at the one ``[MASK]`` of ``text``, best first.

    Each answer is a dict like transformers' fill-mask pipeline returns: ``token`` (the id),
    ``token_str``, ``score`` (its probability) and ``sequence`` (the text with the mask filled
    in, decoded without special tokens). The model runs in eval mode (dropout off) on its own
    device and is put back in the mode it was in.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    mask_id = tokenizer.mask_token_id
    enc = tokenizer(text, return_tensors="pt")
    position = _mask_position(enc["input_ids"][0], mask_id, text)
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in enc.items()
              if k in ("input_ids", "attention_mask", "token_type_ids")}
    was_training = model.training
    model.eval()
    try:
        logits = _vocabulary_logits(model(**inputs))  # (1, T, V)
    finally:
        model.train(was_training)
    probs = logits[0, position].float().softmax(dim=-1)  # (V,)
    top = probs.topk(min(top_k, probs.numel()))
    answers = []
    for token_id, score in zip(top.indices.tolist(), top.values.tolist()):
        filled = enc["input_ids"][0].clone()
        filled[position] = token_id
        answers.append({
            "token": token_id,
            "token_str": tokenizer.convert_ids_to_tokens(token_id),
            "score": score,
            "sequence": tokenizer.decode(filled.tolist(), skip_special_tokens=True),
        })
    return answers
