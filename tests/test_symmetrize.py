"""Symmetrization as fast_align's ``atools -c``: hand-worked grids, properties, and the CLI command.

Expected results were worked out by hand from clab/fast_align src/atools.cc: grow-diag visits the
union links not yet aligned in ascending (src, tgt) order, adds each one at once when one of its
words is unaligned and one of its eight neighbours is aligned, and repeats passes until one adds
nothing; the final steps then visit forward links, then reverse links, each in (src, tgt) order.
Links are (src, tgt), 0-based.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from aligner.cli import main
from aligner.errors import ConfigError
from aligner.symmetrize import SYMMETRIZATIONS, symmetrize

GROWING = ("grow-diag", "grow-diag-final", "grow-diag-final-and")


def test_intersect_and_union_are_the_set_operations():
    forward = {(0, 0), (1, 1), (2, 1)}
    reverse = {(0, 0), (1, 1), (1, 2)}
    assert symmetrize(forward, reverse, "intersect") == {(0, 0), (1, 1)}
    assert symmetrize(forward, reverse, "union") == {(0, 0), (1, 1), (2, 1), (1, 2)}


def test_grow_diag_adds_union_neighbours_that_cover_a_new_word():
    # Intersection (0,0) (1,1). Candidates in order: (1,2) covers tgt 2, next to (1,1): added;
    # (2,1) covers src 2, next to (1,1): added.
    forward = {(0, 0), (1, 1), (2, 1)}
    reverse = {(0, 0), (1, 1), (1, 2)}
    assert symmetrize(forward, reverse, "grow-diag") == {(0, 0), (1, 1), (2, 1), (1, 2)}


def test_grow_diag_visits_candidates_in_src_tgt_order_not_around_each_link():
    # Intersection (1,1); candidates (0,0) (0,1) (1,0). atools takes (0,0) first (corner of
    # (1,1), both words new); then (0,1) and (1,0) have both words aligned and are refused.
    # Growing around each aligned link with the sides before the corners (Koehn's pseudo-code,
    # Moses' symal) would instead add (1,0) and (0,1) and then refuse (0,0).
    forward = {(1, 1), (0, 0), (0, 1)}
    reverse = {(1, 1), (1, 0)}
    assert symmetrize(forward, reverse, "grow-diag") == {(0, 0), (1, 1)}
    # the final steps find every word aligned and add nothing
    assert symmetrize(forward, reverse, "grow-diag-final") == {(0, 0), (1, 1)}
    assert symmetrize(forward, reverse, "grow-diag-final-and") == {(0, 0), (1, 1)}


def test_grow_diag_link_added_in_a_pass_counts_for_the_rest_of_that_pass():
    # Intersection (0,0); candidates (0,1) (1,0) (1,1). (0,1) aligns tgt 1, (1,0) aligns src 1,
    # so (1,1) no longer covers a new word. Judging a whole pass against the alignment as it was
    # before the pass would have added all three.
    forward = {(0, 0), (0, 1), (1, 0)}
    reverse = {(0, 0), (1, 1)}
    assert symmetrize(forward, reverse, "grow-diag") == {(0, 0), (0, 1), (1, 0)}


def test_grow_diag_repeats_passes_until_nothing_is_added():
    # Intersection (2,2). Pass 1: (0,0) has no aligned neighbour yet; (1,1) touches (2,2): added.
    # Pass 2: (0,0) now touches (1,1): added. Pass 3 adds nothing.
    forward = {(0, 0), (1, 1), (2, 2)}
    reverse = {(2, 2)}
    assert symmetrize(forward, reverse, "grow-diag") == {(0, 0), (1, 1), (2, 2)}


def test_grow_diag_needs_an_intersection_to_start_from():
    forward, reverse = {(0, 0)}, {(1, 1)}
    assert symmetrize(forward, reverse, "grow-diag") == set()
    # the final steps need no neighbour: forward (0,0), then reverse (1,1), both words new
    assert symmetrize(forward, reverse, "grow-diag-final") == {(0, 0), (1, 1)}
    assert symmetrize(forward, reverse, "grow-diag-final-and") == {(0, 0), (1, 1)}


def test_grow_diag_ignores_links_two_cells_away():
    forward = {(0, 0), (2, 2)}
    reverse = {(0, 0)}
    assert symmetrize(forward, reverse, "grow-diag") == {(0, 0)}
    # final-and: (2,2) has both words unaligned
    assert symmetrize(forward, reverse, "grow-diag-final-and") == {(0, 0), (2, 2)}


def test_final_needs_one_word_unaligned_final_and_needs_both():
    # Intersection (0,0); (0,2) is not next to it, so grow-diag leaves it out. final adds it
    # (tgt 2 is unaligned); final-and does not (src 0 is aligned).
    forward = {(0, 0), (0, 2)}
    reverse = {(0, 0)}
    assert symmetrize(forward, reverse, "grow-diag") == {(0, 0)}
    assert symmetrize(forward, reverse, "grow-diag-final") == {(0, 0), (0, 2)}
    assert symmetrize(forward, reverse, "grow-diag-final-and") == {(0, 0)}


def test_final_and_is_not_a_subset_of_final():
    # Empty intersection. final: forward (0,0) added, (0,1) and (1,0) each cover a new word:
    # added; then reverse (1,1) has both words aligned: refused. final-and: (0,0) added, (0,1)
    # and (1,0) refused, reverse (1,1) has both words new: added.
    forward = {(0, 0), (0, 1), (1, 0)}
    reverse = {(1, 1)}
    assert symmetrize(forward, reverse, "grow-diag-final") == {(0, 0), (0, 1), (1, 0)}
    assert symmetrize(forward, reverse, "grow-diag-final-and") == {(0, 0), (1, 1)}


def test_final_takes_forward_links_before_reverse_links():
    # Empty intersection; (0,0) and (0,1) compete for src 0 under final-and: the forward one wins.
    assert symmetrize({(0, 0)}, {(0, 1)}, "grow-diag-final-and") == {(0, 0)}
    assert symmetrize({(0, 1)}, {(0, 0)}, "grow-diag-final-and") == {(0, 1)}
    # final lets the second in as it covers a new target word
    assert symmetrize({(0, 0)}, {(0, 1)}, "grow-diag-final") == {(0, 0), (0, 1)}


def test_final_visits_links_in_src_tgt_order_whatever_order_they_come_in():
    # (0,0) comes before (1,0) and takes tgt 0; the input order does not matter.
    assert symmetrize([(1, 0), (0, 0)], [], "grow-diag-final-and") == {(0, 0)}
    assert symmetrize([(0, 0), (1, 0)], [], "grow-diag-final-and") == {(0, 0)}


def test_empty_inputs():
    for method in SYMMETRIZATIONS:
        assert symmetrize(set(), set(), method) == set()


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown symmetrization 'gdfa'; choose from intersect, union"):
        symmetrize({(0, 0)}, {(0, 0)}, "gdfa")


# Outputs of atools.cc itself (clab/fast_align commit 9fc50a16, built with a minimal Array2D) on
# random lines where all five methods differ: forward, reverse, grow-diag, -final, -final-and.
ATOOLS_OUTPUTS = [
    ("0-3 0-1 5-0 4-1 4-4", "1-2 0-3 2-3 5-4 1-1 5-2 4-3", "0-1 0-3 1-2 2-3",
     "0-1 0-3 1-2 2-3 4-1 4-4 5-0", "0-1 0-3 1-2 2-3 4-4 5-0"),
    ("0-2 1-8 2-1 0-5 3-0 4-4", "2-1 4-4 0-3 4-0 2-6 4-3 2-4", "2-1 3-0 4-3 4-4",
     "0-2 0-5 1-8 2-1 2-6 3-0 4-3 4-4", "0-2 1-8 2-1 3-0 4-3 4-4"),
    ("6-3 6-0 3-0 5-6 1-2 0-1", "6-3 2-1 4-1 4-2 2-3 5-4 5-1", "5-4 6-3",
     "0-1 1-2 2-1 3-0 4-1 5-4 5-6 6-3", "0-1 1-2 3-0 5-4 6-3"),
    ("0-4 5-4 0-2 3-4 4-0", "0-4 0-2 2-2 0-1 5-4 3-0", "0-1 0-2 0-4 5-4",
     "0-1 0-2 0-4 2-2 3-4 4-0 5-4", "0-1 0-2 0-4 4-0 5-4"),
    ("2-0 5-3 4-0 0-3 5-1 0-0 4-2", "0-4 5-2 1-2 5-1 2-2 2-3 2-0 1-4", "2-0 4-0 4-2 5-1 5-3",
     "0-0 0-4 1-2 2-0 4-0 4-2 5-1 5-3", "0-4 2-0 4-0 4-2 5-1 5-3"),
    ("7-4 5-3 8-5 7-2 5-4 8-3", "4-0 5-5 5-4 0-1 7-3", "5-3 5-4 5-5",
     "0-1 4-0 5-3 5-4 5-5 7-2 8-3", "0-1 4-0 5-3 5-4 5-5 7-2"),
    ("3-3 3-0 7-2 5-5 7-0 2-0 2-1 0-3 3-4", "5-0 3-0 7-2 5-3 7-0 1-3 3-6", "2-0 2-1 3-0 7-0 7-2",
     "0-3 1-3 2-0 2-1 3-0 3-4 3-6 5-5 7-0 7-2", "0-3 2-0 2-1 3-0 5-5 7-0 7-2"),
    ("1-0 1-6 0-0 3-3 1-3 2-5 0-1", "2-5 0-2 1-5", "1-5 1-6 2-5",
     "0-0 0-1 0-2 1-3 1-5 1-6 2-5 3-3", "0-0 1-5 1-6 2-5 3-3"),
]


def _links(line: str) -> set[tuple[int, int]]:
    return {(int(i), int(j)) for i, j in (token.split("-") for token in line.split())}


@pytest.mark.parametrize("forward, reverse, grow_diag, final, final_and", ATOOLS_OUTPUTS)
def test_matches_atools_outputs(forward, reverse, grow_diag, final, final_and):
    forward, reverse = _links(forward), _links(reverse)
    assert symmetrize(forward, reverse, "grow-diag") == _links(grow_diag)
    assert symmetrize(forward, reverse, "grow-diag-final") == _links(final)
    assert symmetrize(forward, reverse, "grow-diag-final-and") == _links(final_and)


# --- properties on random link sets -------------------------------------------------------

link_sets = st.sets(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=20)


@settings(max_examples=300, deadline=None)
@given(link_sets, link_sets)
def test_every_method_lies_between_intersection_and_union(forward, reverse):
    intersection, union = forward & reverse, forward | reverse
    results = {method: symmetrize(forward, reverse, method) for method in SYMMETRIZATIONS}
    assert results["intersect"] == intersection and results["union"] == union
    for method in SYMMETRIZATIONS:
        assert intersection <= results[method] <= union, method
    # the final steps only add to grow-diag
    assert results["grow-diag"] <= results["grow-diag-final"]
    assert results["grow-diag"] <= results["grow-diag-final-and"]
    # grow-diag depends on the intersection and union only, so not on which input is forward
    assert symmetrize(reverse, forward, "grow-diag") == results["grow-diag"]


@settings(max_examples=100, deadline=None)
@given(link_sets)
def test_agreeing_directions_give_themselves(links):
    for method in SYMMETRIZATIONS:
        assert symmetrize(links, links, method) == links


# --- the command ----------------------------------------------------------------------------


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def inputs(tmp_path):
    forward = tmp_path / "fwd.align"
    reverse = tmp_path / "rev.align"
    # line 1: the final vs final-and example, with scores (dropped); line 2: empty; line 3: the
    # grow-diag order example
    forward.write_text("0-0:0.9000 0-2:0.5000\n\n1-1 0-0 0-1\n")
    reverse.write_text("0-0\n\n1-1 1-0\n")
    return str(forward), str(reverse)


def test_cli_default_is_grow_diag_final_and(inputs):
    forward, reverse = inputs
    result = run("symmetrize", "--forward", forward, "--reverse", reverse)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "0-0\n\n0-0 1-1\n"


@pytest.mark.parametrize(
    "method, expected",
    [
        ("intersect", "0-0\n\n1-1\n"),
        ("union", "0-0 0-2\n\n0-0 0-1 1-0 1-1\n"),
        ("grow-diag", "0-0\n\n0-0 1-1\n"),
        ("grow-diag-final", "0-0 0-2\n\n0-0 1-1\n"),
    ],
)
def test_cli_methods_write_sorted_pharaoh(inputs, tmp_path, method, expected):
    forward, reverse = inputs
    out = tmp_path / "sym.align"
    result = run("symmetrize", "--forward", forward, "--reverse", reverse, "--method", method, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_text() == expected


def test_cli_line_count_mismatch_names_both_files(inputs, tmp_path):
    forward, _ = inputs
    short = tmp_path / "short.align"
    short.write_text("0-0\n")
    out = tmp_path / "sym.align"
    result = run("symmetrize", "--forward", forward, "--reverse", str(short), "-o", str(out))
    assert result.exit_code == 1
    assert f"line counts differ: forward {forward} has 3 lines, reverse {short} has 1" in result.stderr
    assert not out.exists()


def test_cli_line_count_mismatch_on_a_pipe(inputs):
    _, reverse = inputs
    result = run("symmetrize", "--forward", "-", "--reverse", reverse, input="0-0\n\n1-1\n2-2\n")
    assert result.exit_code == 1
    assert f"<stdin>:4: {reverse} ended at line 3; <stdin> has more lines" in result.stderr
    # line 3: intersection (1,1), then reverse (1,0) grows from it
    assert result.stdout == "0-0\n\n1-0 1-1\n"


def test_cli_refuses_existing_output_unless_overwrite(inputs, tmp_path):
    forward, reverse = inputs
    out = tmp_path / "sym.align"
    out.write_text("precious\n")
    refused = run("symmetrize", "--forward", forward, "--reverse", reverse, "-o", str(out))
    assert refused.exit_code == 1 and "refusing to overwrite" in refused.stderr
    assert out.read_text() == "precious\n"
    replaced = run("symmetrize", "--forward", forward, "--reverse", reverse, "-o", str(out), "--overwrite")
    assert replaced.exit_code == 0 and out.read_text() == "0-0\n\n0-0 1-1\n"


def test_cli_refuses_to_write_over_an_input(inputs):
    forward, reverse = inputs
    result = run("symmetrize", "--forward", forward, "--reverse", reverse, "-o", forward, "--overwrite")
    assert result.exit_code == 1 and "output is also an input" in result.stderr
    assert open(forward).read().startswith("0-0:0.9000")


def test_cli_malformed_link_names_file_and_line(inputs, tmp_path):
    forward, _ = inputs
    bad = tmp_path / "bad.align"
    bad.write_text("0-0\n\n1:1\n")
    result = run("symmetrize", "--forward", forward, "--reverse", str(bad))
    assert result.exit_code == 1 and f"{bad}:3: malformed link '1:1'" in result.stderr


def test_cli_unknown_method_is_a_usage_error(inputs):
    forward, reverse = inputs
    result = run("symmetrize", "--forward", forward, "--reverse", reverse, "--method", "gdfa")
    assert result.exit_code == 2 and "gdfa" in result.stderr
