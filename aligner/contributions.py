"""Cross-attention measures that look at the whole sub-layer: the residual, b_O and the LayerNorm.

Pure functions on tensors. For target position i of one decoder layer (shapes as in
:mod:`aligner.measures`):

- ``T_ij = sum_h alpha^h_ij f^h(x_j)``, ``f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h`` (b_V in);
- ``r_i``: the residual, the decoder stream entering the cross-attention sub-layer;
- ``z_i = sum_j T_ij + r_i + b_O``: the sub-layer's sum before its LayerNorm;
- post-norm layers: ``L(v) = gamma * (v - mean(v)) / sqrt(Var(z_i) + eps)`` with the biased
  variance and epsilon inside the square root, as the model's LayerNorm computes it, so that
  ``LN(z_i) = sum_j L(T_ij) + L(r_i) + L(b_O) + beta`` exactly. Pre-norm layers have no
  LayerNorm after the cross-attention: there ``L`` is the identity and ``beta`` is absent.
- ``y_i`` is the sub-layer's output: ``LN(z_i)`` (post-norm) or ``z_i`` (pre-norm).

Every measure returns (batch, target, source + 1): the source columns, then the residual.
b_O and beta are never attributed; they stay inside ``y_i``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

if TYPE_CHECKING:
    import torch

RESIDUAL_COLUMN = "residual"
# Elements of one (batch x target x source-chunk x dim) block: 2^19 float32 = 2 MiB, about one
# core's L2, so that the product, |y - L(T)| and its sum run in cache. Against 2^24 (64 MiB) on
# 600 newstest pairs with the ALTI+ default, in one process: 1.12x faster in float32 (8.40 ->
# 7.50 s) and 1.37x with bfloat16 (4.95 -> 3.61 s), the same links.
CHUNK_ELEMENTS = 1 << 19


@dataclass(frozen=True)
class SubLayer:
    """What the measures need of one cross-attention sub-layer beyond alpha and f(x).

    ``residual``: (batch, target, dim) r_i; ``out_bias``: (dim,) b_O; ``gamma``, ``beta``, ``eps``:
    the LayerNorm after the sub-layer in post-norm models, None in pre-norm ones.
    """

    residual: "torch.Tensor"
    out_bias: "torch.Tensor"
    gamma: Optional["torch.Tensor"] = None
    beta: Optional["torch.Tensor"] = None
    eps: float = 1e-5

    @property
    def post_norm(self) -> bool:
        return self.gamma is not None

    def float(self) -> "SubLayer":
        """The same in float32 (the measures run in float32 whatever the model's dtype)."""
        gamma, beta = (None if t is None else t.float() for t in (self.gamma, self.beta))
        return SubLayer(self.residual.float(), self.out_bias.float(), gamma, beta, self.eps)


def pre_norm_sum(alpha: torch.Tensor, values: torch.Tensor, block: SubLayer) -> torch.Tensor:
    """``z_i = sum_j T_ij + r_i + b_O``: (batch, target, dim)."""
    import torch

    return torch.einsum("bhts,bhsd->btd", alpha.to(values.dtype), values) + block.residual + block.out_bias


def row_scale(z: torch.Tensor, block: SubLayer) -> torch.Tensor:
    """``sqrt(Var(z_i) + eps)`` (biased variance, as LayerNorm), (batch, target, 1); ones in pre-norm."""
    import torch

    if not block.post_norm:
        return torch.ones_like(z[..., :1])
    return (z.var(dim=-1, unbiased=False, keepdim=True) + block.eps).sqrt()


def centered(v: torch.Tensor, block: SubLayer) -> torch.Tensor:
    """``gamma * (v - mean(v))``: the LayerNorm linearization before its division by the row scale."""
    if block.gamma is None:
        return v
    return block.gamma * (v - v.mean(dim=-1, keepdim=True))


def layer_output(z: torch.Tensor, block: SubLayer, scale: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``y_i``: the LayerNorm of z (post-norm) or z itself (pre-norm); ``scale``: z's row scale if already known."""
    if block.gamma is None or block.beta is None:
        return z
    return centered(z, block) / (row_scale(z, block) if scale is None else scale) + block.beta


def normalize_rows(scores: torch.Tensor) -> torch.Tensor:
    """Each row divided by its sum; a row whose sum is 0 stays all 0 (no division by zero)."""
    import torch

    totals = scores.sum(dim=-1, keepdim=True)
    return torch.where(totals > 0, scores / torch.where(totals > 0, totals, torch.ones_like(totals)), torch.zeros_like(scores))


def l1_contributions(y: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
    """``max(0, ||y_i||_1 - ||y_i - p_ij||_1)`` of (batch, target, dim) y and (batch, target, n, dim) parts."""
    return (y.abs().sum(dim=-1, keepdim=True) - (y.unsqueeze(2) - parts).abs().sum(dim=-1)).clamp_min(0)


def source_chunks(alpha: torch.Tensor, values: torch.Tensor, chunk_elements: int = CHUNK_ELEMENTS) -> Iterator[torch.Tensor]:
    """``T_ij`` (batch, target, chunk, dim) over consecutive chunks of source positions, bounded in memory."""
    import torch

    batch, heads, target, source = alpha.shape
    dim = values.size(-1)
    width = max(1, chunk_elements // max(1, batch * target * dim))
    for start in range(0, source, width):
        stop = min(source, start + width)
        # one (target x heads) @ (heads x dim) product per (pair, source position): a batched matmul,
        # 1.5x faster here than the einsum it equals, which permutes its inputs first
        weights = alpha[..., start:stop].to(values.dtype).permute(0, 3, 2, 1).reshape(-1, target, heads)
        vectors = values[:, :, start:stop].transpose(1, 2).reshape(-1, heads, dim)
        yield torch.bmm(weights, vectors).view(batch, stop - start, target, dim).transpose(1, 2)


def alti_scores(alpha: torch.Tensor, values: torch.Tensor, block: SubLayer, chunk_elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
    """ALTI+ contributions of one cross-attention sub-layer (Ferrando et al. 2022), sources + residual.

    ``c_ij = max(0, ||y_i||_1 - ||y_i - L(T_ij)||_1)``, the residual's with ``L(r_i)``; each row
    normalized to sum 1 (a row where every contribution clips to 0 stays 0).
    """
    import torch

    z = pre_norm_sum(alpha, values, block)
    scale = row_scale(z, block)
    y = layer_output(z, block, scale)
    # L is linear with one scale per target row, so L(T_ij) = sum_h (alpha^h_ij / scale_i) L'(f^h(x_j)),
    # L' the centering and gamma: done once on the (batch, heads, source, dim) values and folded into
    # alpha, each chunk of L(T_ij) is one product, and |y_i - L(T_ij)| is taken in place in it. The
    # (batch, target, source, dim) blocks are the cost of this measure (4-5x faster than centering
    # and scaling every block, the same contributions to float32 rounding).
    scaled_alpha = alpha.to(values.dtype) / scale.unsqueeze(1)
    y_l1 = y.abs().sum(dim=-1, keepdim=True)
    columns = [
        (y_l1 - parts.sub_(y.unsqueeze(2)).abs_().sum(dim=-1)).clamp_min(0)
        for parts in source_chunks(scaled_alpha, centered(values, block), chunk_elements)
    ]
    columns.append(l1_contributions(y, (centered(block.residual, block) / scale).unsqueeze(2)))
    return normalize_rows(torch.cat(columns, dim=-1))


def res_norm_scores(alpha: torch.Tensor, values: torch.Tensor, block: SubLayer) -> torch.Tensor:
    """AttnRes-N for cross-attention (Kobayashi et al. 2021): ``||T_ij||_2``, then ``||r_i||_2``."""
    import torch

    from .measures import layer_norm_scores

    residual = torch.linalg.vector_norm(block.residual, dim=-1, keepdim=True)
    return torch.cat([layer_norm_scores(alpha, values), residual.to(alpha.dtype)], dim=-1)


def res_ln_norm_scores(alpha: torch.Tensor, values: torch.Tensor, block: SubLayer) -> torch.Tensor:
    """AttnResLn-N: ``||L(T_ij)||_2``, then ``||L(r_i)||_2``; equals AttnRes-N in pre-norm layers.

    ``L`` is linear in the values with a per-row scale, so ``||L(T_ij)|| = ||sum_h alpha^h_ij
    gamma (f^h - mean f^h)|| / sqrt(Var(z_i) + eps)``: the norm measure's Gram shortcut on the
    centered, gamma-scaled values, then one division per target row.
    """
    import torch

    from .measures import layer_norm_scores

    scale = row_scale(pre_norm_sum(alpha, values, block), block)
    sources = layer_norm_scores(alpha, centered(values, block)) / scale.to(alpha.dtype)
    residual = torch.linalg.vector_norm(centered(block.residual, block), dim=-1, keepdim=True) / scale
    return torch.cat([sources, residual.to(alpha.dtype)], dim=-1)


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``1 - cos(a, b)`` over the last axis, as ``||a/|a| - b/|b|||^2 / 2`` (no cancellation near 0)."""
    import torch

    unit_a = a / torch.linalg.vector_norm(a, dim=-1, keepdim=True).clamp_min(1e-30)
    unit_b = b / torch.linalg.vector_norm(b, dim=-1, keepdim=True).clamp_min(1e-30)
    return (unit_a - unit_b).square().sum(dim=-1) / 2


def value_zeroing_scores(alpha: torch.Tensor, values: torch.Tensor, block: SubLayer, chunk_elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
    """Value zeroing (Mohebbi et al. 2023) of the cross-attention sub-layer, sources + residual.

    Zeroing source j's value vector ``x_j W_V + b_V`` in every head removes exactly ``T_ij`` from
    ``z_i`` (the softmax does not see the values), so the perturbed outputs of all j are
    ``y(z_i - T_ij)``, computed in source chunks instead of one recomputation per position.
    Score = cosine distance to the clean ``y_i``; the residual column zeroes ``r_i`` instead.
    Rows are normalized over sources + residual.
    """
    import torch

    z = pre_norm_sum(alpha, values, block)
    y = layer_output(z, block)
    columns = [cosine_distance(y.unsqueeze(2), layer_output(z.unsqueeze(2) - chunk, block)) for chunk in source_chunks(alpha, values, chunk_elements)]
    columns.append(cosine_distance(y, layer_output(z - block.residual, block)).unsqueeze(-1))
    return normalize_rows(torch.cat(columns, dim=-1))


CONTRIBUTIONS = {
    "alti-xattn": alti_scores,
    "attn-res-norm": res_norm_scores,
    "attn-res-ln-norm": res_ln_norm_scores,
    "value-zeroing": value_zeroing_scores,
}


def contribution_scores(measure: str, alpha: torch.Tensor, values: torch.Tensor, block: SubLayer) -> torch.Tensor:
    if measure not in CONTRIBUTIONS:
        raise ValueError(f"unknown contribution measure {measure!r}; choose from {', '.join(CONTRIBUTIONS)}")
    return CONTRIBUTIONS[measure](alpha, values, block)
