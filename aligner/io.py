"""Reading parallel text, Pharaoh alignments and gold sets; writing Pharaoh lines.

Text is pre-tokenized: lines end at ``\\n`` only (a trailing ``\\r`` is dropped, and a
byte-order mark on line 1), tokens are separated by runs of ASCII space only, because
gold sets carry other white space (U+3000) inside tokens. Every error names file and line.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import stat
import sys
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator, Optional, Sequence

from .errors import STDIN_NAME, InputError, display_name

STDIN = "-"
BOM = "\ufeff"

Link = tuple[int, int]


@dataclass(frozen=True, slots=True)
class SentencePair:
    """A source and a target sentence as words: ``SentencePair(("Das", "Haus"), ("The", "house"))``.

    A plain string is refused rather than read as its characters; :meth:`from_text` splits
    pre-tokenized text on ASCII spaces, as the input files are read.
    """

    src: tuple[str, ...]
    tgt: tuple[str, ...]

    def __post_init__(self) -> None:
        for side in ("src", "tgt"):
            words = getattr(self, side)
            if isinstance(words, str):
                raise TypeError(
                    f"SentencePair {side} is a string ({words[:40]!r}); give its words, e.g. {tuple(split_words(words))[:3]!r}, "
                    "or use SentencePair.from_text(src, tgt), which splits on ASCII spaces"
                )
            if not isinstance(words, tuple):
                object.__setattr__(self, side, tuple(words))

    @classmethod
    def from_text(cls, src: str, tgt: str) -> "SentencePair":
        """A pair from two pre-tokenized lines, words split on runs of ASCII space (as in the files)."""
        return cls(split_words(src), split_words(tgt))


def split_words(line: str) -> tuple[str, ...]:
    return tuple(token for token in line.split(" ") if token)


def _open_binary(path: str) -> BinaryIO:
    if path == STDIN:
        if sys.stdin is None:  # started with stdin closed (`<&-`)
            raise InputError("cannot read: standard input is closed", STDIN_NAME)
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", path) from None


def iter_lines(stream: BinaryIO, name: str, first_number: int = 1) -> Iterator[str]:
    """Decoded lines of a binary stream, split on ``\\n`` only; ``first_number`` is the first line's number."""
    for number, raw in enumerate(stream, start=first_number):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"invalid UTF-8 at byte {exc.start} of the line ({raw[exc.start:exc.start + 4]!r})", name, number
            ) from None
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
        if number == 1 and line.startswith(BOM):
            line = line[1:]
        yield line


def read_lines(path: str, offset: int = 0, first_number: int = 1) -> Iterator[str]:
    """Lines of a file (or ``-`` for stdin), from byte ``offset``, which must start line ``first_number``."""
    stream = _open_binary(path)
    if offset:
        stream.seek(offset)
    try:
        yield from iter_lines(stream, path, first_number)
    finally:
        if path != STDIN:
            stream.close()


def is_regular_file(path: str) -> bool:
    if path == STDIN:
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def newline_offsets(path: str | os.PathLike) -> Iterator[int]:
    """The one newline scanner: the byte offset just after each ``\\n`` of a file, in order."""
    position = 0
    with _open_binary(str(path)) as stream:
        while block := stream.read(1 << 20):
            start = 0
            while (found := block.find(b"\n", start)) != -1:
                yield position + found + 1
                start = found + 1
            position += len(block)


def file_sha256(path: str | os.PathLike) -> str:
    """The one file hasher: SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def count_lines(path: str) -> int:
    """Number of lines as :func:`read_lines` yields them (a last line without ``\\n`` counts)."""
    return chunk_offsets(path, 1 << 62)[1]


def chunk_offsets(path: str, chunk_size: int) -> tuple[list[int], int]:
    """Byte offsets where lines 1, chunk_size + 1, 2 chunk_size + 1, ... start, and the line count (one newline scan)."""
    offsets, lines, last = [0], 0, 0
    for last in newline_offsets(path):
        lines += 1
        if lines % chunk_size == 0:
            offsets.append(last)
    size = os.stat(path).st_size
    if offsets[-1] == size and len(offsets) > 1:
        offsets.pop()  # the file ends exactly at a chunk boundary
    # As read_lines: a last line without a newline counts.
    return (offsets if size else []), lines + (size > last)


def read_parallel(src_path: str, tgt_path: str) -> Iterator[SentencePair]:
    """Pairs from two line-aligned files.

    Regular files are counted before anything is yielded, so a mismatch is reported
    before any output exists; pipes are checked line by line and fail at the first
    line that has no partner, after every earlier pair has been yielded.
    """
    if is_regular_file(src_path) and is_regular_file(tgt_path):
        src_count, tgt_count = count_lines(src_path), count_lines(tgt_path)
        if src_count != tgt_count:
            raise InputError(
                f"line counts differ: source {src_path} has {src_count} lines, target {tgt_path} has {tgt_count}"
            )
    src_lines, tgt_lines = read_lines(src_path), read_lines(tgt_path)
    number = 0
    while True:
        src = next(src_lines, None)
        tgt = next(tgt_lines, None)
        number += 1
        if src is None and tgt is None:
            return
        if src is None:
            raise InputError(f"source {display_name(src_path)} ended at line {number - 1}; target has more lines", tgt_path, number)
        if tgt is None:
            raise InputError(f"target {display_name(tgt_path)} ended at line {number - 1}; source has more lines", src_path, number)
        yield SentencePair(split_words(src), split_words(tgt))


def parse_bitext_line(line: str, path: str, number: int, separator: str = "|||") -> SentencePair:
    parts = line.split(separator)
    if len(parts) == 2 and _glued(parts):
        # `a ||||| b` or `a|||b`: a separator glued to other characters is not one token, and
        # guessing which three bars are meant would put `||` into a sentence.
        raise InputError(f"'{separator}' must stand alone between spaces, as in 'source {separator} target'", path, number)
    if len(parts) != 2:
        found = "no" if len(parts) == 1 else str(len(parts) - 1)
        raise InputError(f"expected one '{separator}' between source and target, found {found}", path, number)
    return SentencePair(split_words(parts[0]), split_words(parts[1]))


def _glued(parts: list[str]) -> bool:
    left, right = parts
    return bool(left) and left[-1] != " " or bool(right) and right[0] != " "


def read_pairs(inputs: Sequence[str]) -> Iterator[SentencePair]:
    """Pairs from (source, target) files or from one ``source ||| target`` file (``-``: stdin)."""
    if len(inputs) == 2:
        if inputs[0] == STDIN and inputs[1] == STDIN:
            raise InputError("source and target cannot both be stdin ('-'): give one of them as a file, or use -i with 'source ||| target' lines")
        return read_parallel(inputs[0], inputs[1])
    if len(inputs) == 1:
        return read_bitext(inputs[0])
    raise InputError(f"expected (source, target) files or one 'source ||| target' file, got {len(inputs)} inputs")


def file_of_side(side: Optional[str], inputs: Sequence[str]) -> str:
    """The file that holds ``side`` (source or target) of pairs read from ``inputs``.

    ``inputs`` is (source, target) or a single ``source ||| target`` file; ``-`` is stdin.
    """
    name = inputs[1] if side == "target" and len(inputs) == 2 else inputs[0]
    return display_name(name)


def read_bitext(path: str) -> Iterator[SentencePair]:
    """Pairs from one file of ``source ||| target`` lines (the fast_align input format)."""
    for number, line in enumerate(read_lines(path), start=1):
        yield parse_bitext_line(line, path, number)


def read_pair_range(paths: Sequence[str], offsets: Sequence[int], first_line: int, count: int) -> list[SentencePair]:
    """``count`` pairs from line ``first_line`` (1-based), which starts at ``offsets`` in each file.

    ``paths`` is (source, target) or a single ``source ||| target`` file.
    """
    streams = [itertools.islice(read_lines(path, offset, first_line), count) for path, offset in zip(paths, offsets)]
    if len(paths) == 1:
        return [parse_bitext_line(line, paths[0], number) for number, line in enumerate(streams[0], start=first_line)]
    return [SentencePair(split_words(src), split_words(tgt)) for src, tgt in zip(*streams)]


# --- alignments -------------------------------------------------------------------------

# ASCII digits only: Python's \d and int() also accept other scripts' digits.
_PHARAOH_LINK = re.compile(r"([0-9]+)-([0-9]+)(?::([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?))?")
_GOLD_LINK = re.compile(r"([0-9]+)([-p?])([0-9]+)")


@dataclass(frozen=True, slots=True)
class ScoredLink:
    src: int
    tgt: int
    score: Optional[float] = None


def parse_pharaoh(line: str, path: str = "<string>", number: Optional[int] = None) -> list[ScoredLink]:
    """Links of one Pharaoh line: ``i-j`` or ``i-j:score``, 0-based, source first."""
    links = []
    for token in split_words(line):
        match = _PHARAOH_LINK.fullmatch(token)
        if match is None:
            raise InputError(f"malformed link {token!r} (expected i-j or i-j:score)", path, number)
        score = None if match.group(3) is None else float(match.group(3))
        links.append(ScoredLink(int(match.group(1)), int(match.group(2)), score))
    return links


def read_pharaoh(path: str) -> Iterator[list[ScoredLink]]:
    for number, line in enumerate(read_lines(path), start=1):
        yield parse_pharaoh(line, path, number)


def format_pharaoh(links: Iterable[ScoredLink], scores: bool = False) -> str:
    ordered = sorted(links, key=lambda link: (link.src, link.tgt))
    if scores:
        return " ".join(f"{link.src}-{link.tgt}:{link.score:.4f}" for link in ordered)
    return " ".join(f"{link.src}-{link.tgt}" for link in ordered)


@dataclass(frozen=True)
class GoldLinks:
    """One sentence pair's gold links, 0-based (src, tgt). ``possible`` includes ``sure``."""

    sure: frozenset[Link]
    possible: frozenset[Link]


def parse_gold(
    line: str,
    one_based: bool = True,
    reverse: bool = False,
    path: str = "<string>",
    number: Optional[int] = None,
) -> GoldLinks:
    """Links of one gold line: ``i-j`` sure, ``ipj`` or ``i?j`` possible."""
    sure: set[Link] = set()
    possible: set[Link] = set()
    offset = 1 if one_based else 0
    for token in split_words(line):
        match = _GOLD_LINK.fullmatch(token)
        if match is None:
            raise InputError(f"malformed gold link {token!r} (expected i-j, ipj or i?j)", path, number)
        first, second = int(match.group(1)), int(match.group(3))
        if one_based and (first == 0 or second == 0):
            raise InputError(
                f"gold link {token!r} has index 0 but the gold is read as 1-based (use --gold-zero-based)", path, number
            )
        link = (second - offset, first - offset) if reverse else (first - offset, second - offset)
        (sure if match.group(2) == "-" else possible).add(link)
    return GoldLinks(frozenset(sure), frozenset(sure | possible))


def read_gold(path: str, one_based: bool = True, reverse: bool = False) -> list[GoldLinks]:
    return [parse_gold(line, one_based, reverse, path, number) for number, line in enumerate(read_lines(path), start=1)]


DROP_REMEDY = " (use --drop-invalid to drop such links)"
GOLD_REMEDY = ": gold of another pair, or read with the wrong --gold-zero-based / --reverse-gold"


def check_link_range(
    links: Sequence[Link],
    src_len: int,
    tgt_len: int,
    path: Optional[str],
    number: int,
    drop: bool,
    name: str = "link",
    remedy: str = DROP_REMEDY,
) -> tuple[list[Link], int]:
    """The one range check: links inside a ``src_len x tgt_len`` pair; out-of-range ones raise, or are dropped and counted.

    ``name`` and ``remedy`` word the error (what the links are, what to do about them).
    """
    kept = [(i, j) for i, j in links if i < src_len and j < tgt_len]
    if len(kept) != len(links) and not drop:
        bad = next((i, j) for i, j in links if i >= src_len or j >= tgt_len)
        raise InputError(
            f"{name} {bad[0]}-{bad[1]} (0-based) is out of range for a pair of {src_len} source and {tgt_len} target words{remedy}",
            path,
            number,
        )
    return kept, len(links) - len(kept)


def check_gold_range(
    gold: GoldLinks, src_len: int, tgt_len: int, path: str, number: int, drop: bool
) -> tuple[GoldLinks, int]:
    """A gold line's links inside a ``src_len x tgt_len`` pair, and how many were dropped (see :func:`check_link_range`)."""
    sure, _ = check_link_range(sorted(gold.sure), src_len, tgt_len, path, number, drop)
    possible, dropped = check_link_range(sorted(gold.possible), src_len, tgt_len, path, number, drop)
    return GoldLinks(frozenset(sure), frozenset(possible)), dropped
