"""The engine: the one holder of a loaded model. Encode, batch, and read word-level score matrices.

Every driver (align, sweep, select, plot, analysis) goes through an :class:`Engine`; the model
family behind it is a :class:`~aligner.backends.base.Backend`. The engine applies the pure steps
(measures, row selection, subword merging) to what the backend's forward pass returns, so a new
backend brings only its forward pass and its encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Collection, Iterator, Mapping, Optional, Sequence

import numpy as np
import torch

from .backends import load_backend
from .backends.base import SIDES, Backend, CrossAttention, ModelInfo
from .batching import token_batches
from .choices import FULL_CONTEXT_STEP, RESIDUAL_MEASURES
from .contributions import RESIDUAL_COLUMN
from .decisions import is_punctuation
from .errors import ConfigError, InputError
from .extraction import ScoreRequest
from .io import SentencePair
from .measures import measure_scores
from .merge import merge_axis, merge_to_words, spans_from_counts
from .backends.base import EncodedSentence

if TYPE_CHECKING:
    from .config import ModelSource

EXTRA_COLUMNS = ("</s>",)  # the word matrices' columns after the source words, in order
RESIDUAL_EXTRA_COLUMNS = ("</s>", RESIDUAL_COLUMN)  # the same for the residual measures


def extra_columns(measure: str) -> tuple[str, ...]:
    return RESIDUAL_EXTRA_COLUMNS if measure in RESIDUAL_MEASURES else EXTRA_COLUMNS


@dataclass(slots=True)
class EncodedPair:
    index: int  # 0-based position in the input
    src: EncodedSentence
    tgt: EncodedSentence
    too_long: bool = False  # longer than the model's positions and skipped (--skip-long)
    final_punctuation: bool = False  # both sentences end in a punctuation token

    @property
    def empty(self) -> bool:
        return not self.src.ids or not self.tgt.ids

    @property
    def runnable(self) -> bool:
        return not self.empty and not self.too_long

    @property
    def src_words(self) -> int:
        return len(self.src.pieces_per_word)

    @property
    def tgt_words(self) -> int:
        return len(self.tgt.pieces_per_word)


@dataclass(frozen=True)
class WordScores(Mapping[ScoreRequest, np.ndarray]):
    """One pair's word-level matrices by request: (target words x source words + extra columns).

    ``extra_columns`` names the columns after the source words: the source ``</s>``, and for the
    residual measures (:data:`~aligner.choices.RESIDUAL_MEASURES`) the residual after it.
    """

    matrices: dict[ScoreRequest, np.ndarray]
    extra_columns: tuple[str, ...] = field(default=EXTRA_COLUMNS)

    def columns_after_source(self, request: ScoreRequest) -> tuple[str, ...]:
        """The names of ``request``'s columns after the source words."""
        return extra_columns(request.measure)

    def __getitem__(self, request: ScoreRequest) -> np.ndarray:
        return self.matrices[request]

    def __iter__(self) -> Iterator[ScoreRequest]:
        return iter(self.matrices)

    def __len__(self) -> int:
        return len(self.matrices)


def select_rows(scores: np.ndarray, target_pieces: int, step: str) -> np.ndarray:
    """Rows for the target pieces from a (decoder steps x source) matrix.

    Decoder input is ``</s> y1 .. yn``: the step with input ``</s>`` predicts y1. AWO (and
    ``full``, AWO of the pass without the causal mask) gives y_k the row that predicts it
    (k-1); AWI the row where it is the input (k). Either way the row of the final ``</s>`` is dropped.
    """
    start = 1 if step == "awi" else 0
    return scores[start : start + target_pieces]


def word_matrix(scores: np.ndarray, pair: EncodedPair, request: ScoreRequest) -> np.ndarray:
    """One pair's (target words x source words + ``</s>`` [+ residual]) matrix from its batch row.

    The residual measures' batch rows end in the residual column, after the source padding.
    """
    rows = select_rows(scores, len(pair.tgt.ids), request.step)
    piece_matrix = rows[:, : len(pair.src.ids) + 1]
    tgt_spans = spans_from_counts(pair.tgt.pieces_per_word)
    words = merge_to_words(piece_matrix, spans_from_counts(pair.src.pieces_per_word), tgt_spans, request.src_merge, request.tgt_merge)
    if request.measure not in RESIDUAL_MEASURES:
        return words
    # The residual belongs to a target piece, like the </s> column: merged over target pieces only.
    residual = merge_axis(rows[:, -1:], tgt_spans, request.tgt_merge, axis=0)
    return np.concatenate([words, residual], axis=1)


def _float(tensor: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return None if tensor is None else tensor.float()


def _scores(request: ScoreRequest, cross: CrossAttention) -> np.ndarray:
    """One request's float32 scores of a batch: one device-to-host copy per request, not per pair."""
    if request.measure in RESIDUAL_MEASURES and cross.block is None:
        # A backend that does not report the sub-layer's residual and LayerNorm.
        raise ConfigError(f"--measure {request.measure} is not available for this model's backend: it reports no residual")
    block = None if cross.block is None else cross.block.float()
    return measure_scores(request.measure, cross.alpha, _float(cross.values), request.head, block).float().cpu().numpy()


class Engine:
    """A loaded model behind a :class:`Backend`, and the steps from words to word-level matrices.

    >>> engine = Engine.load(ModelSource(), device="cpu")  # doctest: +SKIP
    """

    def __init__(self, backend: Backend):
        self.backend = backend

    @classmethod
    def load(cls, source: "ModelSource", device: str = "auto", dtype: str = "float32") -> "Engine":
        return cls(load_backend(source, device, dtype))

    @property
    def info(self) -> ModelInfo:
        return self.backend.info

    @property
    def device(self) -> torch.device:
        return self.backend.device

    def check_indices(self, layers: Collection[int], heads: Collection[int] = ()) -> None:
        """Refuse 1-based layers and heads that the model does not have."""
        info = self.info
        for layer in layers:
            if not 1 <= layer <= info.decoder_layers:
                raise ConfigError(f"layer {layer} does not exist: the decoder has {info.decoder_layers} layers")
        for head in heads:
            if not 1 <= head <= info.heads:
                raise ConfigError(f"head {head} does not exist: the decoder layers have {info.heads} heads")

    def encode(self, index: int, pair: SentencePair, skip_long: bool = False) -> EncodedPair:
        """Pieces of both sides; a side longer than the model's positions raises, naming its side and line."""
        encoded = EncodedPair(
            index,
            self.backend.encode(pair.src, "source"),
            self.backend.encode(pair.tgt, "target"),
            final_punctuation=bool(pair.src and pair.tgt) and is_punctuation(pair.src[-1]) and is_punctuation(pair.tgt[-1]),
        )
        info = self.info
        sides = zip(SIDES, (len(encoded.src.ids), len(encoded.tgt.ids)), (info.max_source_positions, info.max_target_positions), (info.source_specials, info.target_specials))
        for side, pieces, limit, specials in sides:
            if pieces + specials > limit:
                if skip_long:
                    encoded.too_long = True
                    break
                raise InputError(
                    f"{side} sentence has {pieces} subword pieces plus {'</s>' if specials == 1 else f'{specials} special tokens'}, "
                    f"more than the model's {limit} positions "
                    "(--skip-long writes an empty line for such pairs instead)",
                    line=index + 1,
                    side=side,
                )
        return encoded

    def batches(self, pairs: Sequence[EncodedPair], batch_size: int, max_tokens: Optional[int] = None) -> list[list[EncodedPair]]:
        """Length-sorted batches under ``batch_size`` and ``max_tokens`` (ties keep input order)."""
        by_length = sorted(pairs, key=lambda p: (max(len(p.src.ids), len(p.tgt.ids)), p.index))
        lengths = [max(len(p.src.ids), len(p.tgt.ids)) + 1 for p in by_length]
        return [by_length[r.start : r.stop] for r in token_batches(lengths, batch_size, max_tokens)]

    def cross_attention(
        self, batch: Sequence[EncodedPair], layers: Collection[int], need_values: bool = True, full_context: bool = False
    ) -> dict[int, CrossAttention]:
        """The backend's cross-attention of 0-based ``layers`` for one batch (one forward pass)."""
        with torch.inference_mode():
            return self.backend.cross_attention(batch, layers, need_values, full_context)

    def piece_scores(self, batch: Sequence[EncodedPair], requests: Sequence[ScoreRequest]) -> dict[ScoreRequest, np.ndarray]:
        """(batch, decoder steps, source [+ residual]) float32 scores of each request.

        One forward pass, and a second without the causal mask when step ``full`` is asked for
        beside the others.
        """
        scores: dict[ScoreRequest, np.ndarray] = {}
        with torch.inference_mode():
            for full_context in sorted({request.step == FULL_CONTEXT_STEP for request in requests}):
                group = [request for request in requests if (request.step == FULL_CONTEXT_STEP) == full_context]
                need_values = any(request.measure != "weight" for request in group)
                attention = self.backend.cross_attention(batch, {request.layer for request in group}, need_values, full_context)
                scores.update((request, _scores(request, attention[request.layer])) for request in group)
        return {request: scores[request] for request in requests}

    def word_scores(self, batch: Sequence[EncodedPair], requests: Sequence[ScoreRequest]) -> list[WordScores]:
        """Word-level matrices of each pair of a batch of runnable pairs, per request."""
        batch_scores = self.piece_scores(batch, requests)
        return [
            WordScores({request: word_matrix(scores[row], pair, request) for request, scores in batch_scores.items()})
            for row, pair in enumerate(batch)
        ]
