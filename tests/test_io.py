"""Reading text, Pharaoh and gold files; the errors name file and line."""

import io

import pytest

from aligner.errors import InputError
from aligner.io import (
    ScoredLink,
    count_lines,
    format_pharaoh,
    iter_lines,
    parse_gold,
    parse_pharaoh,
    read_bitext,
    read_parallel,
    split_words,
)


def test_split_words_on_ascii_space_only():
    assert split_words("a  b\u3000c ") == ("a", "b\u3000c")
    assert split_words("") == ()


def test_lines_split_on_newline_only_with_crlf_and_bom():
    raw = "\ufeffeins\r\nzwei\x0bdrei\u2028vier\nfünf".encode("utf-8")
    assert list(iter_lines(io.BytesIO(raw), "x")) == ["eins", "zwei\x0bdrei\u2028vier", "fünf"]


def test_bom_only_stripped_on_first_line():
    raw = "a\n\ufeffb\n".encode("utf-8")
    assert list(iter_lines(io.BytesIO(raw), "x")) == ["a", "\ufeffb"]


def test_invalid_utf8_names_line():
    with pytest.raises(InputError, match=r"^x:2: invalid UTF-8"):
        list(iter_lines(io.BytesIO(b"ok\n\xff\n"), "x"))


def test_count_lines_counts_last_line_without_newline(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(b"a\nb")
    assert count_lines(str(path)) == 2
    path.write_bytes(b"a\nb\n")
    assert count_lines(str(path)) == 2
    path.write_bytes(b"")
    assert count_lines(str(path)) == 0


def test_parallel_line_count_mismatch_reported_up_front(tmp_path):
    src, tgt = tmp_path / "s", tmp_path / "t"
    src.write_text("a\nb\nc\n")
    tgt.write_text("x\ny\n")
    pairs = read_parallel(str(src), str(tgt))
    with pytest.raises(InputError, match="has 3 lines.*has 2"):
        next(pairs)


def test_bitext_without_separator_names_line(tmp_path):
    path = tmp_path / "b"
    path.write_text("a b ||| x y\nno separator here\n")
    pairs = read_bitext(str(path))
    assert next(pairs).tgt == ("x", "y")
    with pytest.raises(InputError, match=rf"^{path}:2: expected one '\|\|\|'"):
        next(pairs)


def test_pharaoh_round_trip_sorted():
    links = [ScoredLink(2, 0, 0.5), ScoredLink(0, 1, 0.25)]
    assert format_pharaoh(links) == "0-1 2-0"
    assert format_pharaoh(links, scores=True) == "0-1:0.2500 2-0:0.5000"
    assert [(l.src, l.tgt, l.score) for l in parse_pharaoh("0-1:0.25 2-0")] == [(0, 1, 0.25), (2, 0, None)]


@pytest.mark.parametrize("bad", ["0-", "a-b", "1_2", "1-2-3", "1-2:x"])
def test_malformed_pharaoh_link(bad):
    with pytest.raises(InputError, match=r"h:7: malformed link"):
        parse_pharaoh(f"0-0 {bad}", "h", 7)


@pytest.mark.parametrize("bad", ["1x2", "1-", "p1"])
def test_malformed_gold_link(bad):
    with pytest.raises(InputError, match=r"g:3: malformed gold link"):
        parse_gold(f"1-1 {bad}", path="g", number=3)


def test_zero_index_in_one_based_gold():
    with pytest.raises(InputError, match=r"g:1: .*index 0"):
        parse_gold("0-1", path="g", number=1)
