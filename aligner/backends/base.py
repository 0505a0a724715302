"""The interface every model backend implements, and what it reports about its model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Optional, Protocol, Sequence

if TYPE_CHECKING:
    import torch

    from ..engine import EncodedPair
    from ..subword import EncodedSentence

SIDES = ("source", "target")


@dataclass(frozen=True)
class ModelInfo:
    """What the engine and the signature need to know of a loaded model."""

    name: str
    sha256: str
    decoder_layers: int
    heads: int  # per decoder layer
    max_source_positions: int
    max_target_positions: int
    lowercase: bool
    subword: str  # how words were split, for the signature
    dtype: str  # of the weights and activations: float32, float16 or bfloat16

    @property
    def model_id(self) -> str:
        """``name@sha256[:8]``: the model as a signature names it."""
        return f"{self.name}@{self.sha256[:8]}"


@dataclass
class CrossAttention:
    """One decoder layer's encoder-decoder attention over a batch.

    ``alpha``: (batch, heads, decoder steps, source), rows sum to 1 over real source tokens.
    ``values``: (batch, heads, source, model_dim), ``f^h(x_j)``, or None when not asked for.
    Decoder steps are ``</s> y1 .. yn`` and the source is ``x1 .. xm </s>``, right-padded.
    """

    alpha: "torch.Tensor"
    values: Optional["torch.Tensor"]


class Backend(Protocol):
    """A loaded model: subword encoding of words, and the cross-attention of a forced pass."""

    info: ModelInfo
    device: "torch.device"
    forward_calls: int  # teacher-forced passes run so far (one per batch)

    def encode(self, words: Sequence[str], side: str) -> "EncodedSentence":
        """Dictionary ids and pieces per word of one sentence of ``side`` (source or target)."""
        ...

    def cross_attention(
        self, pairs: Sequence["EncodedPair"], layers: Collection[int], need_values: bool
    ) -> dict[int, CrossAttention]:
        """One forward pass over a batch: the cross-attention of each 0-based decoder layer asked for."""
        ...
