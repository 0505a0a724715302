"""The guided models' teacher links (eval/recipe/teacher_align.py), hand-checked.

A de-en student learns grow-diag-final-and of eflomal's de->en (forward) and en->de (reverse)
links; an en-de student the same two files with their roles swapped, source first in en-de.
"""

from __future__ import annotations

import sys

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def teacher():
    sys.path[:0] = [str(ROOT / "eval" / "recipe"), str(ROOT / "eval")]
    try:
        import teacher_align
    finally:
        del sys.path[:2]
    return teacher_align


def test_an_en_de_student_learns_the_swapped_roles_not_the_transposed_de_en_links(teacher):
    # de: two words, en: one. eflomal de->en links en 0 to de 0; en->de links de 1 to en 0 (both
    # files are written de-en). They share no link, so grow-diag adds nothing and final-and takes
    # the forward direction's link first; the other then finds en 0 taken.
    forward, reverse = "0-0", "1-0"
    assert teacher.word_links(forward, reverse, "de-en") == {(0, 0)}
    # for en->de the forward model is eflomal's en->de: its link (de 1, en 0) comes first, as (en 0, de 1)
    assert teacher.word_links(forward, reverse, "en-de") == {(0, 1)}


def test_agreed_links_are_the_same_either_way_up_to_the_transposition(teacher):
    forward, reverse = "0-0 1-2 2-1", "0-0 1-2 2-1 3-3"
    de_en = teacher.word_links(forward, reverse, "de-en")
    assert de_en == {(0, 0), (1, 2), (2, 1), (3, 3)}
    assert teacher.word_links(forward, reverse, "en-de") == {(j, i) for i, j in de_en}


def test_word_links_project_onto_every_piece_pair(teacher):
    # en "males ." = "▁mal es ▁."; de "männer ." = "▁männer ▁."
    en_words, de_words = teacher.piece_words(["\u2581mal", "es", "\u2581."]), teacher.piece_words(["\u2581männer", "\u2581."])
    assert en_words == [0, 0, 1] and de_words == [0, 1]
    assert teacher.project({(0, 0), (1, 1)}, en_words, de_words) == [(0, 0), (1, 0), (2, 1)]


def test_awi_supervision_moves_each_link_to_the_step_that_reads_the_piece(teacher):
    # target "▁two ▁men ▁." (3 pieces): the decoder reads </s> ▁two ▁men ▁. at positions 0..3, and
    # fairseq keeps a pair's links only if every target index is below 3, so the links of "▁."
    # (position 3) go; position 0 (reading </s>) never gets one.
    links = [(0, 0), (1, 1), (2, 1), (3, 2)]
    assert teacher.input_step(links, 3) == [(0, 1), (1, 2), (2, 2)]
    assert teacher.input_step([(0, 0)], 1) == []
