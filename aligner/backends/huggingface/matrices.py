"""Word-level score matrices from sentence pairs through the Hugging Face backend.

A small driver until the engine redesign wires the backend into the CLI: encode, sort by
length into batches, one forced-decoding pass per batch, then the project's own measures
and subword-to-word merge. The matrix of a pair is (target words x source words + 1): the
last column is the source ``</s>`` (the "no link" column, as in the fairseq path).
Language-code columns and rows are dropped: a language tag is never a word.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from ...batching import token_batches
from ...choices import STEPS, check_choice
from ...engine import EncodedPair
from ...measures import measure_scores
from ...merge import merge_to_words, spans_from_counts
from .backend import HFBatch, HFSeq2SeqBackend


def encode_pairs(backend: HFSeq2SeqBackend, pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[EncodedPair]:
    return [
        EncodedPair(index, backend.encode_words(src, "source"), backend.encode_words(tgt, "target"))
        for index, (src, tgt) in enumerate(pairs)
    ]


def piece_matrix(scores: np.ndarray, batch: HFBatch, pair: EncodedPair, step: str) -> np.ndarray:
    """(target pieces x source pieces + ``</s>``) rows and columns of one batch row's scores.

    The step whose input is the token before y_k predicts y_k (AWO); AWI takes the step
    whose input is y_k. With a decoder prefix ``</s> [tgt_lang]`` the first AWO row is
    the language token's step, so the rows start at ``target_start - 1``.
    """
    check_choice("step", step, STEPS)
    first = batch.target_start - (1 if step == "awo" else 0)
    rows = scores[first : first + len(pair.tgt.ids)]
    return rows[:, batch.source_start : batch.source_start + len(pair.src.ids) + 1]


def word_matrices(
    backend: HFSeq2SeqBackend,
    pairs: Sequence[tuple[Sequence[str], Sequence[str]]],
    layer: int,
    head: Optional[int] = None,
    measure: str = "weight",
    step: str = "awo",
    src_merge: str = "sum",
    tgt_merge: str = "mean",
    batch_size: int = 8,
    max_tokens: Optional[int] = None,
) -> list[Optional[np.ndarray]]:
    """One (target words x source words + 1) matrix per pair, in input order; None where a side has no pieces.

    ``layer`` and ``head`` are 0-based; ``head=None`` is the layer level (mean of weights,
    norm of the head sum).
    """
    encoded = encode_pairs(backend, pairs)
    runnable = sorted((p for p in encoded if not p.empty), key=lambda p: (max(len(p.src.ids), len(p.tgt.ids)), p.index))
    lengths = [max(len(p.src.ids), len(p.tgt.ids)) + 2 for p in runnable]
    results: list[Optional[np.ndarray]] = [None] * len(encoded)
    for span in token_batches(lengths, batch_size, max_tokens):
        group = runnable[span.start : span.stop]
        batch = backend.collate([(p.src, p.tgt) for p in group])
        decoding = backend.forced_decode(batch.src_ids, batch.src_mask, batch.decoder_input_ids, [layer], measure == "norm")
        internals = decoding.cross_attention[layer]
        values = None if internals.values is None else internals.values.float()
        with torch.inference_mode():
            scores = measure_scores(measure, internals.alpha, values, head).float().cpu().numpy()
        for row, pair in enumerate(group):
            matrix = piece_matrix(scores[row], batch, pair, step)
            results[pair.index] = merge_to_words(
                matrix,
                spans_from_counts(pair.src.pieces_per_word),
                spans_from_counts(pair.tgt.pieces_per_word),
                src_merge,
                tgt_merge,
            )
    return results
