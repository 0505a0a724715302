"""Statistics that explain when vector norms and attention weights disagree.

Kobayashi et al. (2020) found that norms beat weights because a head's weight and the norm of
what it mixes in, ``||f(x_j)||``, are negatively correlated: tokens that collect much weight (in
NMT the source ``</s>``, punctuation) carry small vectors, so the norm discounts them. These
functions measure that mechanism on one sentence's cross-attention, so a model whose norms do not
beat its weights can be checked for whether the mechanism is there at all, and whether its
attention is still diffuse (an untrained model's rows are close to uniform).

Shapes follow :mod:`aligner.measures`: ``alpha`` is (heads, target, source) for one sentence,
``values`` (heads, source, model_dim); padding is already cut off.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from aligner.measures import layer_norm_scores

if TYPE_CHECKING:
    import torch

    from aligner.backends.base import CrossAttention
    from aligner.pipeline import Aligner, EncodedPair


def entropy_ratio(rows: torch.Tensor) -> torch.Tensor:
    """Entropy of each probability row over the entropy of a uniform row of the same length.

    1 means the row says nothing about where to look; a one-hot row gives 0. Rows over a
    single source position have no uncertainty to measure and give 0.
    """
    import torch

    width = rows.shape[-1]
    if width < 2:
        return torch.zeros(rows.shape[:-1], dtype=rows.dtype)
    entropy = -torch.where(rows > 0, rows * rows.log(), torch.zeros_like(rows)).sum(-1)
    return entropy / math.log(width)


def last_column_share(scores: torch.Tensor) -> torch.Tensor:
    """Each row's share of its total on the last column (the source ``</s>``)."""
    return scores[..., -1] / scores.sum(-1)


def weight_norm_correlation(alpha: torch.Tensor, values: torch.Tensor) -> float:
    """Mean over heads of Pearson's r between ``alpha^h_ij`` and ``||f^h(x_j)||`` over all (i, j).

    Heads whose weights or norms do not vary (r undefined) are left out; NaN if none is left.
    """
    import torch

    norms = torch.linalg.vector_norm(values, dim=-1)  # (heads, source)
    correlations = []
    for head in range(alpha.shape[0]):
        weights = alpha[head].reshape(-1).double()
        sizes = norms[head].unsqueeze(0).expand_as(alpha[head]).reshape(-1).double()
        if weights.numel() < 2 or float(weights.std()) == 0.0 or float(sizes.std()) == 0.0:
            continue
        correlations.append(float(torch.corrcoef(torch.stack([weights, sizes]))[0, 1]))
    return float(np.mean(correlations)) if correlations else float("nan")


@dataclass
class LayerAttentionStats:
    """Means over every target row (every teacher-forced step) of a corpus, for one decoder layer."""

    layer: int  # 1-based
    entropy_ratio: float  # of the head-mean weights, the weight baseline's rows
    eos_weight_share: float
    eos_norm_share: float
    weight_norm_correlation: float  # mean over sentences
    # The residual's share of each row (aligner.contributions): how little the source matters here.
    residual_alti_share: float = float("nan")  # of the ALTI+ contributions (alti-xattn)
    residual_norm_share: float = float("nan")  # of the AttnRes-N norms


@dataclass
class _Accumulator:
    rows: int = 0
    entropy: float = 0.0
    eos_weight: float = 0.0
    eos_norm: float = 0.0
    correlations: list[float] = field(default_factory=list)
    residual_alti: float = 0.0
    residual_norm: float = 0.0


def sentence_stats(alpha: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Per-row entropy ratio, ``</s>`` weight share, ``</s>`` norm share, and r for one sentence."""
    weights = alpha.mean(dim=0)
    norms = layer_norm_scores(alpha.unsqueeze(0), values.unsqueeze(0))[0]
    return entropy_ratio(weights), last_column_share(weights), last_column_share(norms), weight_norm_correlation(alpha, values)


def residual_shares(cross: CrossAttention) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, target) shares of the residual column in the ALTI+ and the AttnRes-N rows of one layer.

    Padded source positions have zero weight, so they add nothing to either row.
    """
    from aligner.contributions import alti_scores, res_norm_scores

    if cross.values is None or cross.block is None:
        raise ValueError("the residual's share needs the value vectors and the sub-layer (need_values=True)")
    alpha, values, block = cross.alpha.float(), cross.values.float(), cross.block.float()
    alti, norms = alti_scores(alpha, values, block), res_norm_scores(alpha, values, block)
    return alti[..., -1].cpu(), last_column_share(norms).cpu()


def attention_statistics(aligner: Aligner, pairs: Iterable[EncodedPair]) -> list[LayerAttentionStats]:
    """:class:`LayerAttentionStats` of every decoder layer over ``pairs`` (at piece level)."""
    layers = range(aligner.engine.info.decoder_layers)
    totals = {layer: _Accumulator() for layer in layers}
    for batch in aligner.batches([pair for pair in pairs if pair.runnable]):
        attention = aligner.engine.cross_attention(batch, layers, need_values=True)
        for layer in layers:
            cross = attention[layer]
            assert cross.values is not None  # asked for above
            alpha, values = cross.alpha.float().cpu(), cross.values.float().cpu()
            residual_alti, residual_norm = residual_shares(cross)
            for row, pair in enumerate(batch):
                sources, steps = len(pair.src.ids) + 1, len(pair.tgt.ids) + 1
                entropy, eos_weight, eos_norm, r = sentence_stats(alpha[row, :, :steps, :sources], values[row, :, :sources])
                total = totals[layer]
                total.rows += steps
                total.entropy += float(entropy.sum())
                total.eos_weight += float(eos_weight.sum())
                total.eos_norm += float(eos_norm.sum())
                total.residual_alti += float(residual_alti[row, :steps].sum())
                total.residual_norm += float(residual_norm[row, :steps].sum())
                if not math.isnan(r):
                    total.correlations.append(r)
    return [
        LayerAttentionStats(
            layer + 1,
            total.entropy / total.rows,
            total.eos_weight / total.rows,
            total.eos_norm / total.rows,
            float(np.mean(total.correlations)) if total.correlations else float("nan"),
            total.residual_alti / total.rows,
            total.residual_norm / total.rows,
        )
        for layer, total in totals.items()
        if total.rows
    ]


def statistics_markdown(stats: Sequence[LayerAttentionStats]) -> str:
    lines = [
        "| layer | entropy / uniform (weights) | `</s>` share, weights | `</s>` share, norms | r(alpha, norm of f(x)) "
        "| residual share, ALTI+ | residual share, AttnRes-N |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in stats:
        lines.append(
            f"| L{s.layer} | {s.entropy_ratio:.2f} | {s.eos_weight_share * 100:.1f}% | {s.eos_norm_share * 100:.1f}% | "
            f"{s.weight_norm_correlation:+.2f} | {s.residual_alti_share * 100:.1f}% | {s.residual_norm_share * 100:.1f}% |"
        )
    return "\n".join(lines)
