"""The progress bar of ``aligner align``: tqdm on stderr, with the total when the input is a regular file.

The runner reports lines done after every batch (:data:`aligner.runner.corpus.Progress`); the bar
shows rate and, with a total, ETA. It is silent when stderr is not a terminal, and with -q.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TextIO


@contextmanager
def progress_bar(enabled: bool = True, stream: Optional[TextIO] = None) -> Iterator[Callable[[int, Optional[int]], None]]:
    from tqdm import tqdm

    stream = stream if stream is not None else sys.stderr
    with tqdm(desc="aligning", unit=" pairs", disable=not (enabled and stream.isatty()), file=stream, dynamic_ncols=True) as bar:

        def progress(done: int, total: Optional[int]) -> None:
            if total is not None and bar.total != total:
                bar.total = total
                bar.refresh()
            if done != bar.n:
                bar.update(done - bar.n)

        yield progress
