"""Losses: multi-similarity over the batch's identities, and a pull towards the
base model's embeddings so general accuracy is not forgotten."""

from __future__ import annotations

import torch


def multi_similarity(
    embeddings: torch.Tensor,
    identity: torch.Tensor,
    alpha: float = 2.0,
    beta: float = 50.0,
    margin: float = 0.5,
    not_negative: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-similarity loss (Wang et al., 2019) without mining: every other face of
    the anchor's identity is a positive, every face of another identity a negative
    (except where ``not_negative``: pairs that may be one person after all).
    ``embeddings`` are unit vectors."""
    sim = embeddings @ embeddings.T
    same = identity[:, None] == identity[None, :]
    eye = torch.eye(len(identity), dtype=torch.bool, device=embeddings.device)
    positive, negative = same & ~eye, ~same
    if not_negative is not None:
        negative = negative & ~not_negative
    pos = torch.log1p((torch.exp(-alpha * (sim - margin)) * positive).sum(1)) / alpha
    neg = torch.log1p((torch.exp(beta * (sim - margin)) * negative).sum(1)) / beta
    anchors = positive.any(1)
    if not bool(anchors.any()):
        return (neg * 0.0).sum()
    return (pos + neg)[anchors].mean()


def keep_close(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between new and old unit embeddings of the same faces."""
    return ((new - old) ** 2).sum(1).mean()
