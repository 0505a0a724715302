"""Token-level scores from one decoder layer's cross-attention.

Shapes: ``alpha`` is (batch, heads, target, source) attention weights; ``values`` is
(batch, heads, source, model_dim), the per-head transformed vectors
``f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h`` (Kobayashi et al. 2020). Results are
(batch, target, source).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # torch is imported where it is used, so that the CLI's --help stays fast
    import torch

    from .contributions import SubLayer

from .choices import MEASURES, RESIDUAL_MEASURES


def weight_scores(alpha: torch.Tensor, head: Optional[int] = None) -> torch.Tensor:
    """The attention weights: one head's, or their mean over heads (the layer-level baseline)."""
    return alpha.mean(dim=1) if head is None else alpha[:, head]


def head_norm_scores(alpha: torch.Tensor, values: torch.Tensor, head: int) -> torch.Tensor:
    """``||alpha^h_ij f^h(x_j)|| = alpha^h_ij ||f^h(x_j)||``, as alpha is a non-negative scalar."""
    import torch

    return alpha[:, head] * torch.linalg.vector_norm(values[:, head], dim=-1).unsqueeze(1)


def layer_norm_scores(alpha: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``||sum_h alpha^h_ij f^h(x_j)||`` without building the (target, source, dim) vectors.

    The squared norm of the head sum is the quadratic form ``a^T G a`` of the head weights
    ``a = alpha[:, :, i, j]`` with the per-source-token Gram matrix
    ``G_hg = <f^h(x_j), f^g(x_j)>``, which costs heads^2 x dim per source token once,
    instead of target x dim per pair of tokens.
    """
    import torch

    gram = torch.einsum("bhsd,bgsd->bshg", values, values)
    # Contract one head index at a time: the largest intermediate is alpha's size, never
    # (heads x heads x target x source).
    half = torch.einsum("bhts,bshg->bgts", alpha, gram)
    squared = (half * alpha).sum(dim=1)
    # Rounding can leave a tiny negative where the true value is 0.
    return squared.clamp_min(0).sqrt()


def norm_scores(alpha: torch.Tensor, values: torch.Tensor, head: Optional[int] = None) -> torch.Tensor:
    return layer_norm_scores(alpha, values) if head is None else head_norm_scores(alpha, values, head)


def measure_scores(
    measure: str, alpha: torch.Tensor, values: Optional[torch.Tensor], head: Optional[int] = None, block: Optional["SubLayer"] = None
) -> torch.Tensor:
    """(batch, target, source) scores; the residual measures add the residual as a last column."""
    if measure in RESIDUAL_MEASURES:
        if values is None or block is None:
            raise ValueError(f"the {measure} measure needs the value vectors and the sub-layer's residual")
        if head is not None:
            raise ValueError(f"the {measure} measure has no per-head form")
        from .contributions import contribution_scores

        return contribution_scores(measure, alpha, values, block)
    if measure == "weight":
        return weight_scores(alpha, head)
    if measure == "norm":
        if values is None:
            raise ValueError("the norm measure needs the value vectors f(x)")
        return norm_scores(alpha, values, head)
    raise ValueError(f"unknown measure {measure!r}; choose from {', '.join(MEASURES)}")
