"""Turning a word-level score matrix into links.

The matrix is (target words x source words + 1); the last column is the source ``</s>``.
NaN marks a word that produced no subword pieces: it is never linked. Each link carries
its share of its row's total over the candidate columns (of its column's total, for the
source-side decisions), a confidence in [0, 1].
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from .choices import DECISIONS, GROWN_DECISIONS, NORMALIZATIONS, SYMMETRIZATIONS, check_choice
from .errors import ConfigError
from .io import ScoredLink
from .symmetrize import symmetrize_scored


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
    rows = np.flatnonzero(candidates.any(axis=1) & (best != scores.shape[1] - 1))
    return [ScoredLink(src, tgt, share) for tgt, src, share in zip(rows.tolist(), best[rows].tolist(), shares[rows, best[rows]].tolist())]


def column_shares(scores: np.ndarray) -> np.ndarray:
    """Column-normalized scores of the source words over target words (``</s>`` column dropped)."""
    words = scores[:, :-1].astype(np.float64)
    totals = np.nansum(words, axis=0, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, words / totals, 0.0)
    return np.where(np.isnan(words), np.nan, shares)


def source_argmax_links(scores: np.ndarray) -> list[ScoredLink]:
    """One link per source word to its best target word; ties go to the lowest target index."""
    shares = column_shares(scores)
    candidates = ~np.isnan(shares)
    best = np.where(candidates, scores[:, :-1], -np.inf).argmax(axis=0)
    columns = np.flatnonzero(candidates.any(axis=0))
    return [ScoredLink(src, tgt, share) for src, tgt, share in zip(columns.tolist(), best[columns].tolist(), shares[best[columns], columns].tolist())]


def agreement_links(scores: np.ndarray, eos_null: bool = True) -> list[ScoredLink]:
    """Links that are the best in their row and in their column (argmax both ways on one matrix)."""
    by_source = {(link.src, link.tgt) for link in source_argmax_links(scores)}
    return [link for link in argmax_links(scores, eos_null) if (link.src, link.tgt) in by_source]


def grown_links(scores: np.ndarray, method: str, eos_null: bool = True) -> list[ScoredLink]:
    """The row argmax and the column argmax of one matrix symmetrized by ``method`` (grow-diag, ...).

    The row argmax plays the forward model (it goes first in the final steps), the column
    argmax the reverse one.

    Agreement alone (``argmax-both``) is precise but misses many links; growing it into the
    union by the neighbour heuristics recovers links either direction found next to agreed
    ones. A link keeps its row share, its column share, or their mean when both found it.
    """
    return symmetrize_scored(argmax_links(scores, eos_null), source_argmax_links(scores), method)


def threshold_links(scores: np.ndarray, threshold: float, eos_null: bool = True, normalize: str = "rows") -> list[ScoredLink]:
    """Every (source word, target word) whose share of its row (or column) is at least ``threshold``."""
    shares = candidate_shares(scores, eos_null)[:, :-1] if normalize == "rows" else column_shares(scores)
    with np.errstate(invalid="ignore"):
        tgt_idx, src_idx = np.nonzero(shares >= threshold)
    return [ScoredLink(int(s), int(t), float(shares[t, s])) for t, s in zip(tgt_idx, src_idx)]


def fold_residual(scores: np.ndarray, residual_null: bool, eos_null: bool) -> np.ndarray:
    """A (target x source + ``</s>`` + residual) matrix as the decisions take it: (target x source + 1).

    By default the residual column is dropped (the ALTI+ authors' decision). With
    ``residual_null`` it competes like ``</s>``: the null column becomes the larger of the two
    (only the residual when ``eos_null`` is off), so that a row whose best column is the
    residual gets no link.
    """
    words, eos, residual = scores[:, :-2], scores[:, -2:-1], scores[:, -1:]
    if not residual_null:
        return scores[:, :-1]
    null = np.fmax(eos, residual) if eos_null else residual
    return np.concatenate([words, null], axis=1)


def decide(scores: np.ndarray, decision: str, threshold: float, eos_null: bool, normalize: str = "rows") -> list[ScoredLink]:
    if decision == "argmax":
        return argmax_links(scores, eos_null)
    if decision == "argmax-source":
        return source_argmax_links(scores)
    if decision == "argmax-both":
        return agreement_links(scores, eos_null)
    if decision in GROWN_DECISIONS:
        return grown_links(scores, GROWN_DECISIONS[decision], eos_null)
    if decision == "threshold":
        return threshold_links(scores, threshold, eos_null, normalize)
    raise ValueError(f"unknown decision {decision!r}; choose from {', '.join(DECISIONS)}")


def is_punctuation(word: str) -> bool:
    """Every character in a Unicode punctuation category (P*)."""
    return bool(word) and all(unicodedata.category(character).startswith("P") for character in word)


def link_final_punctuation(links: list[ScoredLink], src_words: int, tgt_words: int, score: float) -> list[ScoredLink]:
    """Link the two sentence-final punctuation tokens to each other and to nothing else.

    The caller checks that both sentences end in punctuation and passes the pair's score;
    the rule fixes a frequent error of attention-based alignment, whose final-token rows
    and columns are often diffuse.
    """
    last_src, last_tgt = src_words - 1, tgt_words - 1
    kept = [link for link in links if link.src != last_src and link.tgt != last_tgt]
    return kept + [ScoredLink(last_src, last_tgt, score)]


@dataclass(frozen=True)
class DecisionRule:
    """How a word matrix becomes links: a pure, hashable value applied by :meth:`links`.

    ``symmetrize`` is how a forward and a reverse model's links combine, when there are two.
    """

    decision: str = "argmax"
    threshold: float = 0.5
    normalize: str = "rows"  # threshold on shares of a target word's row or of a source word's column
    eos_null: bool = True
    final_punct: bool = False  # link sentence-final punctuation to each other only
    residual_null: bool = False  # residual measures: a row whose best column is the residual stays unaligned
    symmetrize: str = "grow-diag-final-and"

    def __post_init__(self) -> None:
        for name, allowed in (("decision", DECISIONS), ("normalize", NORMALIZATIONS), ("symmetrize", SYMMETRIZATIONS)):
            check_choice(name, getattr(self, name), allowed)
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold is a share of the row, in [0, 1]; got {self.threshold}")

    def links(self, matrix: np.ndarray, final_punctuation: bool = False, extra_columns: int = 1, residual: bool = False) -> list[ScoredLink]:
        """The decision on one pair's word matrix, then the final-punctuation rule.

        ``final_punctuation``: both sentences end in punctuation; ``extra_columns``: columns after
        the source words (the ``</s>``); ``residual``: the matrix ends in a residual column
        (after the ``</s>``, not counted in ``extra_columns``), folded by :func:`fold_residual`.
        """
        return self.punctuated(*self.decided(matrix, residual), final_punctuation, extra_columns)

    def decided(self, matrix: np.ndarray, residual: bool = False) -> tuple[np.ndarray, list[ScoredLink]]:
        """The matrix the decision reads (residual folded) and its links, before the final-punctuation rule."""
        if residual:
            matrix = fold_residual(matrix, self.residual_null, self.eos_null)
        return matrix, decide(matrix, self.decision, self.threshold, self.eos_null, self.normalize)

    def punctuated(self, matrix: np.ndarray, links: list[ScoredLink], final_punctuation: bool, extra_columns: int = 1) -> list[ScoredLink]:
        """``links`` decided on ``matrix``, with the final-punctuation rule when it is on and applies."""
        if not (self.final_punct and final_punctuation):
            return links
        tgt_words, src_words = matrix.shape[0], matrix.shape[1] - extra_columns
        share = candidate_shares(matrix[-1:], self.eos_null)[0, src_words - 1]  # of the last row only
        return link_final_punctuation(links, src_words, tgt_words, 0.0 if np.isnan(share) else float(share))
