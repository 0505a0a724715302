"""Symmetrizing two directional word alignments, exactly as fast_align's ``atools -c`` does.

Both inputs are sets of 0-based ``(src, tgt)`` links: the forward model's output as is, and the
reverse model's output already transposed to source-target order (what ``fast_align -r`` writes).
The result is a new set of ``(src, tgt)`` links.

The heuristics follow clab/fast_align ``src/atools.cc`` step by step, including its order of
visiting links, because grow-diag and the final steps are greedy: a link added early can block a
later one, so the visiting order is part of the result, and it is not the order of Koehn's
pseudo-code or of Moses' ``symal``.

atools reads each line into a grid of ``(max index + 1)`` per side and sizes the working grid as
the larger of the two. Those bounds only clip neighbour look-ups at cells that can never hold a
link, so the result depends on the link sets alone; no sentence lengths are needed.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

from .choices import SYMMETRIZATIONS
from .errors import ConfigError
from .io import ScoredLink

Link = tuple[int, int]

# atools' RefineCommand lists the four sides, DiagCommand appends the four corners. The order does
# not matter (the test is "any neighbour is aligned"), but these are all eight cells around a link.
NEIGHBORS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1))


class _Refinement:
    """The alignment being grown, with the words it covers on each side (atools' ``res_``)."""

    def __init__(self, seed: set[Link]):
        self.links: set[Link] = set()
        self.src_aligned: set[int] = set()
        self.tgt_aligned: set[int] = set()
        for link in seed:
            self.add(link)

    def add(self, link: Link) -> None:
        self.links.add(link)
        self.src_aligned.add(link[0])
        self.tgt_aligned.add(link[1])

    def neighbor_aligned(self, link: Link) -> bool:
        i, j = link
        return any((i + di, j + dj) in self.links for di, dj in NEIGHBORS)

    def neither_aligned(self, link: Link) -> bool:
        return link[0] not in self.src_aligned and link[1] not in self.tgt_aligned

    def one_or_both_unaligned(self, link: Link) -> bool:
        return link[0] not in self.src_aligned or link[1] not in self.tgt_aligned

    def koehn_aligned(self, link: Link) -> bool:
        return self.one_or_both_unaligned(link) and self.neighbor_aligned(link)


def _grow_diag(state: _Refinement, union: set[Link]) -> None:
    """atools' non-idempotent ``Grow(KoehnAligned, un_)``.

    Candidates are the union links not yet aligned, visited in ascending (src, tgt) order (a
    ``std::set`` of pairs). A link is added the moment it qualifies, so it already counts, as a
    neighbour and as covering its words, for the candidates after it in the same pass. Passes
    repeat over the links still left until one adds nothing, so growth also reaches "backwards"
    (towards lower indices) one pass at a time.
    """
    pending = sorted(union - state.links)
    while pending:
        added = False
        for link in pending:
            if state.koehn_aligned(link):
                state.add(link)
                added = True
        if not added:
            return
        pending = [link for link in pending if link not in state.links]


def _final(state: _Refinement, adds: set[Link], qualifies: Callable[[Link], bool]) -> None:
    """atools' idempotent ``Grow(pred, adds)``: one pass over one direction, in (src, tgt) order.

    No neighbour is needed here; each link added at once covers its words for the later ones.
    """
    for link in sorted(adds):
        if link not in state.links and qualifies(link):
            state.add(link)


def symmetrize(forward: Iterable[Link], reverse: Iterable[Link], method: str) -> set[Link]:
    """Combine a forward and a reverse alignment (both ``(src, tgt)``, 0-based) by ``method``.

    - ``intersect``, ``union``: the set operations.
    - ``grow-diag``: start from the intersection; repeatedly add a union link that has an aligned
      neighbour among its eight surrounding cells and leaves at least one of its two words newly
      aligned (see :func:`_grow_diag` for the visiting order).
    - ``grow-diag-final``: then add a forward link, then a reverse link, if at least one of its
      words is still unaligned (no neighbour needed) -- forward first, so the result is not
      symmetric in its two arguments.
    - ``grow-diag-final-and``: the same, but only when both of its words are still unaligned.
    """
    forward, reverse = set(forward), set(reverse)
    if method not in SYMMETRIZATIONS:
        raise ConfigError(f"unknown symmetrization {method!r}; choose from {', '.join(SYMMETRIZATIONS)}")
    if method == "intersect":
        return forward & reverse
    union = forward | reverse
    if method == "union":
        return union
    state = _Refinement(forward & reverse)
    _grow_diag(state, union)
    if method == "grow-diag-final":
        _final(state, forward, state.one_or_both_unaligned)
        _final(state, reverse, state.one_or_both_unaligned)
    elif method == "grow-diag-final-and":
        _final(state, forward, state.neither_aligned)
        _final(state, reverse, state.neither_aligned)
    return state.links


def invert(links: Iterable[Link]) -> set[Link]:
    """Transpose one alignment, ``(src, tgt)`` -> ``(tgt, src)``: as ``atools -c invert`` does."""
    return {(tgt, src) for src, tgt in links}


def symmetrize_scored(forward: Sequence[ScoredLink], backward: Sequence[ScoredLink], method: str) -> list[ScoredLink]:
    """Scored links of two directions, both already in ``(src, tgt)`` order, combined by ``method``.

    A link found in both directions scores the mean of its two scores; links come sorted.
    """
    scores: dict[Link, list[float]] = {}
    for link in (*forward, *backward):
        scores.setdefault((link.src, link.tgt), []).append(link.score)  # type: ignore[arg-type]
    chosen = symmetrize([(link.src, link.tgt) for link in forward], [(link.src, link.tgt) for link in backward], method)
    return [ScoredLink(i, j, float(sum(scores[(i, j)]) / len(scores[(i, j)]))) for i, j in sorted(chosen)]


def symmetrize_directions(forward: Sequence[ScoredLink], reverse: Sequence[ScoredLink], method: str) -> list[ScoredLink]:
    """The one path from a forward and a reverse model's links to symmetrized links.

    ``reverse`` are the reverse (target-to-source) model's links on the swapped pair, so its
    ``src`` indexes our target; they are transposed to source-target order before combining.
    """
    return symmetrize_scored(forward, [ScoredLink(link.tgt, link.src, link.score) for link in reverse], method)
