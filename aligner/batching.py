"""Grouping length-sorted pairs into batches under a pair count and a token budget."""

from __future__ import annotations

from typing import Optional, Sequence


def token_batches(lengths: Sequence[int], batch_size: int, max_tokens: Optional[int] = None) -> list[range]:
    """Consecutive index ranges of ``lengths`` (sorted ascending for little padding).

    A batch holds at most ``batch_size`` items and, with ``max_tokens``, at most that many
    padded tokens: items x the longest length in the batch (fairseq's rule). An item longer
    than the budget on its own still gets a batch of one.
    """
    batches, start, longest = [], 0, 0
    for index, length in enumerate(lengths):
        longest_with = max(longest, length)
        size = index - start + 1
        if index > start and (size > batch_size or (max_tokens is not None and size * longest_with > max_tokens)):
            batches.append(range(start, index))
            start, longest_with = index, length
        longest = longest_with
    if start < len(lengths):
        batches.append(range(start, len(lengths)))
    return batches
