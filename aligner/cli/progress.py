"""The progress bar of ``aligner align``: tqdm on stderr, with the total when the input is a regular file.

The runner reports lines done after every batch (:data:`aligner.runner.corpus.Progress`); the bar
shows rate and, with a total, ETA. It is silent when stderr is not a terminal, and with -q.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TextIO


@contextmanager
def progress_bar(enabled: bool = True, stream: Optional[TextIO] = None) -> Iterator[Callable[[int, Optional[int]], None]]:
    from tqdm import tqdm

    stream = stream if stream is not None else sys.stderr
    shown = enabled and stream.isatty()
    columns, lines = _size(stream) if shown else (None, None)
    with tqdm(desc="aligning", unit=" pairs", disable=not shown, file=stream, ncols=columns, nrows=lines) as bar:

        def progress(done: int, total: Optional[int]) -> None:
            if total is not None and bar.total != total:
                bar.total = total
                bar.refresh()
            if done != bar.n:
                bar.update(done - bar.n)

        yield progress


def _size(stream: TextIO) -> tuple[int, int]:
    """The terminal's columns and lines; 80 x 24 where it reports none (a fresh pseudo-terminal says 0 x 0, and tqdm then draws nothing)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        return 80, 24
    return size.columns or 80, size.lines or 24
