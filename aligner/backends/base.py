"""The interface every model backend implements, and what it reports about its model."""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Optional, Protocol, Sequence

from ..choices import ALL_STEPS, STEPS

if TYPE_CHECKING:
    import torch

    from ..contributions import SubLayer
    from ..engine import EncodedPair

SIDES = ("source", "target")


@dataclass(frozen=True, slots=True)
class EncodedSentence:
    """Dictionary ids of a sentence's pieces, and how many pieces each word produced.

    Compact int arrays rather than tuples of Python ints: a chunk holds thousands of these.
    """

    ids: array
    pieces_per_word: array
    unknown_pieces: int

    @property
    def empty_words(self) -> int:
        return sum(1 for count in self.pieces_per_word if count == 0)


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
    # tokens a side's row holds besides its pieces: fairseq's </s>; Hugging Face's </s> and language tags
    source_specials: int = 1
    target_specials: int = 1
    # trained with fairseq's --full-context-alignment: the dev grid and sweeps add the "full" step
    full_context_alignment: bool = False

    @property
    def steps(self) -> tuple[str, ...]:
        """The steps a sweep or dev grid reads: the causal ones, and ``full`` for a model trained for it."""
        return ALL_STEPS if self.full_context_alignment else STEPS

    @property
    def model_id(self) -> str:
        """``name@sha256[:8]``: the model as a signature names it."""
        return f"{self.name}@{self.sha256[:8]}"


@dataclass
class CrossAttention:
    """One decoder layer's encoder-decoder attention over a batch.

    ``alpha``: (batch, heads, decoder steps, source), rows sum to 1 over real source tokens.
    ``values``: (batch, heads, source, model_dim), ``f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h``, or
    None when not asked for; the output-projection bias is left out because it is the same for
    every source token. Decoder steps are ``</s> y1 .. yn`` and the source is ``x1 .. xm </s>``, right-padded.
    """

    alpha: "torch.Tensor"
    values: Optional["torch.Tensor"]
    # The residual r_i, b_O and the LayerNorm after the sub-layer (post-norm), for the measures
    # of aligner.contributions; None when the values were not asked for.
    block: Optional["SubLayer"] = None


class Backend(Protocol):
    """A loaded model: subword encoding of words, and the cross-attention of a forced pass."""

    info: ModelInfo
    device: "torch.device"
    forward_calls: int  # teacher-forced passes run so far (one per batch)

    def encode(self, words: Sequence[str], side: str) -> "EncodedSentence":
        """Dictionary ids and pieces per word of one sentence of ``side`` (source or target)."""
        ...

    def cross_attention(
        self, pairs: Sequence["EncodedPair"], layers: Collection[int], need_values: bool, full_context: bool = False
    ) -> dict[int, CrossAttention]:
        """One forward pass over a batch: the cross-attention of each 0-based decoder layer asked for.

        ``full_context``: the pass without the causal mask (step ``full``); a backend that
        cannot run it raises :class:`~aligner.errors.ConfigError`.
        """
        ...


@dataclass
class ForcedDecoding:
    """What a backend's model returns from one teacher-forced pass."""

    cross_attention: dict[int, CrossAttention]  # 0-based decoder layer -> internals
    features: Optional["torch.Tensor"]  # final decoder states, only when every layer ran
