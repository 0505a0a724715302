"""Merging and decisions on small hand-written matrices (target rows x source columns + </s>)."""

import numpy as np
import pytest

from aligner.decisions import argmax_links, candidate_shares, threshold_links
from aligner.io import ScoredLink
from aligner.merge import merge_to_words, spans_from_counts

NAN = np.nan


def links(found):
    return [(link.src, link.tgt) for link in found]


def test_merge_sums_source_pieces_and_averages_target_pieces():
    # 3 target pieces (words: [0,1], [2]) x 3 source pieces (words: [0], [1,2]) + </s>
    scores = np.array(
        [
            [0.1, 0.2, 0.3, 0.4],
            [0.3, 0.2, 0.1, 0.4],
            [0.5, 0.0, 0.25, 0.25],
        ]
    )
    merged = merge_to_words(scores, spans_from_counts([1, 2]), spans_from_counts([2, 1]), "sum", "mean")
    # source word 1 = pieces 1+2; target word 0 = mean of rows 0 and 1; </s> column kept
    expected = np.array([[0.2, 0.4, 0.4], [0.5, 0.25, 0.25]])
    np.testing.assert_allclose(merged, expected)


def test_merge_max_and_empty_word():
    scores = np.array([[0.1, 0.6, 0.3], [0.2, 0.5, 0.3]])
    merged = merge_to_words(scores, spans_from_counts([2, 0]), spans_from_counts([0, 2]), "max", "max")
    assert np.isnan(merged[0]).all()  # target word without pieces
    np.testing.assert_allclose(merged[1, [0, 2]], [0.6, 0.3])
    assert np.isnan(merged[1, 1])  # source word without pieces


def test_argmax_one_link_per_target_word_with_share_as_score():
    scores = np.array([[0.6, 0.2, 0.2], [0.1, 0.5, 0.4]])
    found = argmax_links(scores)
    assert found == [ScoredLink(0, 0, pytest.approx(0.6)), ScoredLink(1, 1, pytest.approx(0.5))]


def test_argmax_on_eos_means_unaligned():
    scores = np.array([[0.2, 0.1, 0.7], [0.1, 0.5, 0.4]])
    assert links(argmax_links(scores)) == [(1, 1)]


def test_no_eos_null_excludes_eos_and_renormalizes():
    scores = np.array([[0.2, 0.1, 0.7]])
    found = argmax_links(scores, eos_null=False)
    assert links(found) == [(0, 0)]
    assert found[0].score == pytest.approx(0.2 / 0.3)


def test_argmax_ties_go_to_lowest_index():
    scores = np.array([[0.4, 0.4, 0.2]])
    assert links(argmax_links(scores)) == [(0, 0)]


def test_argmax_skips_nan_rows_and_columns():
    scores = np.array([[NAN, 0.1, 0.2, 0.1], [NAN, NAN, NAN, NAN]])
    assert links(argmax_links(scores)) == [(2, 0)]


def test_threshold_on_row_shares():
    scores = np.array([[2.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 3.0]])
    # row shares: [0.5, 0.25, 0.25, 0] and [0, 0.25, 0, 0.75]; </s> never linked
    assert links(threshold_links(scores, 0.25)) == [(0, 0), (1, 0), (2, 0), (1, 1)]
    assert links(threshold_links(scores, 0.3)) == [(0, 0)]
    # without </s> as a candidate, row 1 becomes [0, 1, 0]
    assert links(threshold_links(scores, 0.3, eos_null=False)) == [(0, 0), (1, 1)]


def test_candidate_shares_zero_row():
    shares = candidate_shares(np.zeros((1, 3)))
    np.testing.assert_array_equal(shares, [[0.0, 0.0, 0.0]])


# --- source-side, agreement, column thresholds, final punctuation -------------------------

from aligner.decisions import agreement_links, decide, grown_links, is_punctuation, link_final_punctuation, source_argmax_links  # noqa: E402


def test_source_argmax_one_link_per_source_word_with_column_share():
    # columns: src0 = [0.6, 0.1] -> tgt0 (share 6/7); src1 = [0.3, 0.3] -> tie, lowest tgt 0; </s> never
    scores = np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]])
    found = source_argmax_links(scores)
    assert links(found) == [(0, 0), (1, 0)]
    assert found[0].score == pytest.approx(0.6 / 0.7) and found[1].score == pytest.approx(0.5)


def test_agreement_keeps_links_best_both_ways():
    # rows: tgt0 -> src0, tgt1 -> src0 (0.5 > 0.4); columns: src0 -> tgt0 (0.6 > 0.5), src1 -> tgt1
    scores = np.array([[0.6, 0.2, 0.2], [0.5, 0.4, 0.1]])
    assert links(agreement_links(scores)) == [(0, 0)]


def test_grow_diag_grows_the_agreement_into_neighbouring_links_of_either_direction():
    # rows: tgt0 -> src0, tgt1 -> src0; columns: src0 -> tgt1 (0.7 > 0.6), src1 -> tgt0 (0.3 > 0.2).
    # Agreement is (0, 1) alone; (0, 0) touches it vertically and (1, 0) diagonally, each with a
    # word still unaligned, so both grow in.
    scores = np.array([[0.6, 0.3, 0.1], [0.7, 0.2, 0.1]])
    assert links(agreement_links(scores)) == [(0, 1)]
    for decision in ("argmax-grow-diag", "argmax-grow-diag-final-and"):
        assert links(decide(scores, decision, 0.5, True)) == [(0, 0), (0, 1), (1, 0)]
    found = {(link.src, link.tgt): link.score for link in grown_links(scores, "grow-diag")}
    # (0, 1) is found both ways: the mean of its row share 0.7 and its column share 0.7 / 1.3
    assert found[(0, 1)] == pytest.approx((0.7 + 0.7 / 1.3) / 2)
    assert found[(0, 0)] == pytest.approx(0.6) and found[(1, 0)] == pytest.approx(0.3 / 0.5)


def test_grow_diag_leaves_lone_links_and_final_and_takes_them_when_both_words_are_free():
    # rows: tgt0 -> src0, tgt1 -> src1, tgt2 and tgt3 -> </s> (no link); columns: src0 -> tgt0,
    # src1 -> tgt1, src2 -> tgt3, src3 -> tgt2. (2, 3) and (3, 2) touch no agreed link: grow-diag
    # leaves them, the final-and step adds each (both of its words are unaligned).
    scores = np.array(
        [
            [0.9, 0.0, 0.0, 0.0, 0.1],
            [0.0, 0.9, 0.0, 0.0, 0.1],
            [0.0, 0.0, 0.0, 0.2, 0.8],
            [0.0, 0.0, 0.05, 0.1, 0.85],
        ]
    )
    assert links(decide(scores, "argmax-grow-diag", 0.5, True)) == [(0, 0), (1, 1)]
    assert links(decide(scores, "argmax-grow-diag-final-and", 0.5, True)) == [(0, 0), (1, 1), (2, 3), (3, 2)]


def test_threshold_on_column_shares():
    scores = np.array([[3.0, 1.0, 9.0], [1.0, 1.0, 0.0]])
    # column shares: src0 = [0.75, 0.25], src1 = [0.5, 0.5]; the </s> column plays no part
    assert links(threshold_links(scores, 0.5, normalize="columns")) == [(0, 0), (1, 0), (1, 1)]


@pytest.mark.parametrize("word, expected", [(".", True), ("?!", True), ("«", True), ("-", True), ("a.", False), ("", False), ("$", False)])
def test_punctuation_is_unicode_category_p(word, expected):
    assert is_punctuation(word) is expected


def test_final_punctuation_links_only_each_other():
    found = [ScoredLink(0, 0, 0.9), ScoredLink(2, 1, 0.4), ScoredLink(1, 2, 0.5)]
    # 3 source words, 3 target words: the last ones are (2, 2); 2-1 and 1-2 touch them and go
    assert [(l.src, l.tgt, l.score) for l in link_final_punctuation(found, 3, 3, 0.25)] == [(0, 0, 0.9), (2, 2, 0.25)]
