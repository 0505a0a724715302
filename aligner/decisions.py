"""Turning a word-level score matrix into links.

The matrix is (target words x source words + 1); the last column is the source ``</s>``.
NaN marks a word that produced no subword pieces: it is never linked. Each link carries
its share of the row's total over the candidate columns, a confidence in [0, 1].
"""

from __future__ import annotations

import numpy as np

from .io import ScoredLink

DECISIONS = ("argmax", "threshold")


def candidate_shares(scores: np.ndarray, eos_null: bool = True) -> np.ndarray:
    """Row-normalized scores over the candidate columns; NaN where a cell is no candidate.

    With ``eos_null`` the ``</s>`` column competes (and wins means "unaligned"); without
    it the column is dropped before normalizing. The result keeps the ``</s>`` column
    (all NaN when excluded) so column indices do not shift.
    """
    candidates = scores.astype(np.float64, copy=True)
    if not eos_null:
        candidates[:, -1] = np.nan
    totals = np.nansum(candidates, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, candidates / totals, 0.0)
    return np.where(np.isnan(candidates), np.nan, shares)


def argmax_links(scores: np.ndarray, eos_null: bool = True) -> list[ScoredLink]:
    """One link per target word to its best source word (the paper's decision).

    Ties go to the lowest source index. A target word whose best column is ``</s>``
    (with ``eos_null``) or that has no candidate at all gets no link.
    """
    shares = candidate_shares(scores, eos_null)
    candidates = ~np.isnan(shares)
    best = np.where(candidates, scores, -np.inf).argmax(axis=1)
    eos = scores.shape[1] - 1
    return [
        ScoredLink(int(src), tgt, float(shares[tgt, src]))
        for tgt, src in enumerate(best)
        if candidates[tgt].any() and src != eos
    ]


def threshold_links(scores: np.ndarray, threshold: float, eos_null: bool = True) -> list[ScoredLink]:
    """Every (source word, target word) whose row-normalized share is at least ``threshold``."""
    shares = candidate_shares(scores, eos_null)[:, :-1]
    with np.errstate(invalid="ignore"):
        tgt_idx, src_idx = np.nonzero(shares >= threshold)
    return [ScoredLink(int(s), int(t), float(shares[t, s])) for t, s in zip(tgt_idx, src_idx)]


def decide(scores: np.ndarray, decision: str, threshold: float, eos_null: bool) -> list[ScoredLink]:
    if decision == "argmax":
        return argmax_links(scores, eos_null)
    if decision == "threshold":
        return threshold_links(scores, threshold, eos_null)
    raise ValueError(f"unknown decision {decision!r}; choose from {', '.join(DECISIONS)}")
