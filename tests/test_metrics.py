"""AER, precision, recall and F1 on hand-counted cases, including every empty case."""

import pytest

from aligner.io import GoldLinks, parse_gold
from aligner.evaluation.metrics import AlignmentCounts, score_alignments, scores_from_counts


def gold(sure=(), possible_only=()):
    return GoldLinks(frozenset(sure), frozenset(sure) | frozenset(possible_only))


def test_hand_counted_corpus():
    # pair 1: A={0-0,1-1,2-1}, S={0-0,1-1}, P=S+{2-2}: |A∩S|=2, |A∩P|=2
    # pair 2: A={0-1}, S={0-0}, P=S+{0-1}: |A∩S|=0, |A∩P|=1
    # corpus: |A|=4 |S|=3 |A∩S|=2 |A∩P|=3 -> AER = 1 - 5/7, P = 3/4, R = 2/3
    result = score_alignments(
        [[(0, 0), (1, 1), (2, 1)], [(0, 1)]],
        [gold({(0, 0), (1, 1)}, {(2, 2)}), gold({(0, 0)}, {(0, 1)})],
    )
    assert result.aer == pytest.approx(1 - 5 / 7)
    assert result.precision == pytest.approx(3 / 4)
    assert result.recall == pytest.approx(2 / 3)
    assert result.f1 == pytest.approx(2 * (3 / 4) * (2 / 3) / (3 / 4 + 2 / 3))
    assert result.counts == AlignmentCounts(hypothesis=4, sure=3, possible=5, hit_sure=2, hit_possible=3)


def test_corpus_level_not_mean_of_sentences():
    # sentence AERs 0 and 1 would average 0.5; the corpus AER weighs by link counts.
    result = score_alignments([[(0, 0), (1, 1), (2, 2)], [(0, 0)]], [gold({(0, 0), (1, 1), (2, 2)}), gold({(1, 1)})])
    assert result.aer == pytest.approx(1 - 6 / 8)


def test_empty_hypothesis_gives_zero_precision_and_aer_one():
    aer, precision, recall, f1 = scores_from_counts(AlignmentCounts(hypothesis=0, sure=2, possible=2))
    assert (aer, precision, recall, f1) == (1.0, 0.0, 0.0, 0.0)


def test_empty_sure_gives_zero_recall():
    # only possible links in gold; A hits one of them
    result = score_alignments([[(0, 0)]], [gold((), {(0, 0)})])
    assert result.recall == 0.0
    assert result.precision == 1.0
    assert result.aer == pytest.approx(1 - (0 + 1) / (1 + 0))  # = 0


def test_nothing_proposed_nothing_to_find():
    result = score_alignments([[]], [gold()])
    assert (result.aer, result.precision, result.recall, result.f1) == (0.0, 0.0, 0.0, 0.0)


def test_f1_zero_when_precision_and_recall_zero():
    result = score_alignments([[(0, 1)]], [gold({(0, 0)})])
    assert result.f1 == 0.0
    assert result.aer == 1.0


def test_possible_only_gold_line():
    parsed = parse_gold("1p1 2?2")
    assert parsed.sure == frozenset()
    assert parsed.possible == {(0, 0), (1, 1)}


def test_gold_one_based_zero_based_and_reversed():
    assert parse_gold("1-2 3p1").sure == {(0, 1)}
    assert parse_gold("1-2 3p1").possible == {(0, 1), (2, 0)}
    assert parse_gold("0-1", one_based=False).sure == {(0, 1)}
    assert parse_gold("1-2 3p1", reverse=True).possible == {(1, 0), (0, 2)}


def test_sure_link_also_listed_possible_counts_once_as_sure():
    parsed = parse_gold("1-1 1p1")
    assert parsed.sure == {(0, 0)} and parsed.possible == {(0, 0)}
