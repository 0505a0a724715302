"""Subword-to-word merging of a score matrix (target pieces x source pieces).

A word's pieces are contiguous, so a word is a span ``(start, end)`` of piece indices.
A word that produced no pieces has an empty span; its row or column becomes NaN, which
the decisions treat as "no link".
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .choices import MERGES
Span = tuple[int, int]

_REDUCERS = {"sum": np.add, "mean": np.add, "max": np.maximum}


def spans_from_counts(pieces_per_word: Sequence[int]) -> list[Span]:
    spans, start = [], 0
    for count in pieces_per_word:
        spans.append((start, start + count))
        start += count
    return spans


def merge_axis(scores: np.ndarray, spans: Sequence[Span], how: str, axis: int) -> np.ndarray:
    """Reduce ``scores`` along ``axis`` over each span; an empty span gives NaN.

    The non-empty spans partition the pieces in order, so one ``reduceat`` does every word
    at once instead of a Python loop over words.
    """
    if how not in _REDUCERS:
        raise ValueError(f"unknown merge {how!r}; choose from {', '.join(MERGES)}")
    moved = np.moveaxis(scores, axis, 0)
    merged = np.full((len(spans),) + moved.shape[1:], np.nan, dtype=scores.dtype)
    filled = [word for word, (start, end) in enumerate(spans) if end > start]
    if filled:
        starts = np.array([spans[word][0] for word in filled])
        reduced = _REDUCERS[how].reduceat(moved, starts, axis=0)
        if how == "mean":
            counts = np.array([spans[word][1] - spans[word][0] for word in filled], dtype=scores.dtype)
            reduced = reduced / counts.reshape((-1,) + (1,) * (moved.ndim - 1))
        merged[filled] = reduced
    return np.moveaxis(merged, 0, axis)


def merge_to_words(
    scores: np.ndarray,
    src_spans: Sequence[Span],
    tgt_spans: Sequence[Span],
    src_merge: str = "sum",
    tgt_merge: str = "mean",
) -> np.ndarray:
    """(target pieces x source pieces + 1) -> (target words x source words + 1).

    The last column, the source ``</s>``, is kept as a column of its own: in the paper a
    target word whose best column is ``</s>`` stays unaligned. Defaults follow the paper:
    sum over a source word's pieces (attention mass), mean over a target word's pieces.
    """
    eos_column = scores[:, -1:]
    words = merge_axis(scores[:, :-1], src_spans, src_merge, axis=1)
    with_eos = np.concatenate([words, eos_column], axis=1)
    return merge_axis(with_eos, tgt_spans, tgt_merge, axis=0)
