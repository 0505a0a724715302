#!/usr/bin/env python3
"""Teacher alignments for guided-alignment training (Garg et al. 2019, fairseq ``transformer_align``).

eflomal is trained on the NMT **training pairs only** (``<state>/tok/train.{de,en}``, what
prepare_data.py wrote; never a gold sentence), both directions are symmetrized with
grow-diag-final-and by aligner's own atools-exact symmetrizer, and every word link is projected onto
the SentencePiece pieces fairseq trains on:

    word link (i, j)  ->  every (piece of source word i, piece of target word j)

fairseq's alignment files index the binarized subword tokens (0-based, ``</s>`` excluded), and its
collater silently drops the whole alignment of a sentence when one index is out of range, so the
pieces are counted from ``spm_enc/train.*`` themselves and every index is checked here. Word-level
alignment followed by projection is used instead of aligning the pieces directly (fairseq's own
recipe runs fast_align on BPE text): the teacher then sees the units the gold sets are made of, and
a target piece's supervision spreads evenly over the pieces of its source word, which aligner's
subword merge adds back up.

    .venv/bin/python eval/recipe/teacher_align.py --state ~/.cache/aligner/train/deen

Writes ``<state>/spm_enc/train.align`` (fairseq's ``--align-suffix align``), binarizes train and
valid with the existing dictionaries into ``<state>/bin_align`` (the guided model's data directory;
``bin/`` is left alone for the plain models), and records settings, counts and timings in
``<state>/teacher.json`` with a few projected lines for a hand check.

``--direction en-de`` (after a de-en run; eflomal is not run again) writes the teacher of a reverse
model: the same two eflomal directions with their roles swapped (eflomal's en->de links play the
forward model in grow-diag-final-and), projected onto en pieces x de pieces, in
``spm_enc/train.align.en-de``, binarized as en-de beside the de-en files in ``bin_align``
(report: ``teacher.en-de.json``).

``--step awi`` moves the supervision from the decoder step that predicts each target piece
(fairseq's convention, AWO) to the step that reads it as input (AWI, the step aligner's presets
read): link (i, j) becomes (i, j + 1), since the decoder's input at position j + 1 is piece j.
The last piece's links are dropped, because position ``len(pieces)`` (the one that predicts
``</s>``) is out of the range fairseq accepts, and one such index would make it skip the whole
pair. Written to ``spm_enc/train.align.awi`` (en-de: ``train.align.en-de.awi``), binarized into
``<state>/bin_align_awi``, report ``teacher.awi.json`` (``teacher.en-de.awi.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from eflomal_baseline import default_iterations, eflomal_line, parse_links, read_lines, run_eflomal, training_text, write_corpus  # noqa: E402
from prepare_data import binarize  # noqa: E402

from aligner.symmetrize import symmetrize  # noqa: E402

SYMMETRIZATION = "grow-diag-final-and"
DIRECTIONS = ("de-en", "en-de")
STEPS = ("awo", "awi")
WORD_START = "\u2581"


def piece_words(pieces: list[str]) -> list[int]:
    """The word index of every piece: a piece starting with '▁' opens a new word.

    prepare_data.py trains SentencePiece with the identity normalization on Moses tokens, so
    every token begins with a '▁' piece; a first piece without one still belongs to word 0.
    """
    words, word = [], -1
    for piece in pieces:
        if piece.startswith(WORD_START) or word < 0:
            word += 1
        words.append(word)
    return words


def project(links: set[tuple[int, int]], src_words: list[int], tgt_words: list[int]) -> list[tuple[int, int]]:
    """Word links onto pieces, sorted by target piece then source piece (fairseq reads any order)."""
    src_pieces: dict[int, list[int]] = {}
    tgt_pieces: dict[int, list[int]] = {}
    for piece, word in enumerate(src_words):
        src_pieces.setdefault(word, []).append(piece)
    for piece, word in enumerate(tgt_words):
        tgt_pieces.setdefault(word, []).append(piece)
    out = {(s, t) for i, j in links for s in src_pieces.get(i, ()) for t in tgt_pieces.get(j, ())}
    return sorted(out, key=lambda link: (link[1], link[0]))


def input_step(links: list[tuple[int, int]], target_pieces: int) -> list[tuple[int, int]]:
    """Links (source piece, target piece) as (source piece, decoder position that reads the piece).

    Position 0 reads ``</s>`` and gets no link; the last piece's position is dropped (see the
    module docstring), so every index stays below ``target_pieces``.
    """
    return [(i, j + 1) for i, j in links if j + 1 < target_pieces]


def transposed(links: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(j, i) for i, j in links]


def word_links(forward: str, reverse: str, direction: str) -> set[tuple[int, int]]:
    """The teacher's word links of one pair, source first in ``direction``.

    eflomal's two link files are both written de-en; its de->en links play the forward model
    for a de-en student, its en->de links for an en-de one (grow-diag-final-and is not symmetric
    in its two inputs).
    """
    if direction == "de-en":
        return symmetrize(parse_links(forward), parse_links(reverse), SYMMETRIZATION)
    return symmetrize(transposed(parse_links(reverse)), transposed(parse_links(forward)), SYMMETRIZATION)


def format_links(links: list[tuple[int, int]]) -> str:
    return " ".join(f"{i}-{j}" for i, j in links)


def teacher_input(state: Path) -> tuple[list[str], list[str]]:
    """The pairs the teacher is trained on: exactly the NMT training text, as eflomal reads it."""
    return ([eflomal_line(x) for x in training_text(state, "de")],
            [eflomal_line(x) for x in training_text(state, "en")])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", type=Path, default=Path.home() / ".cache/aligner/train/deen", help="prepare_data.py --out")
    parser.add_argument("--model", type=int, default=3, help="eflomal model: 1 IBM1, 2 +HMM, 3 +fertility")
    parser.add_argument("--n-samplers", type=int, default=3)
    parser.add_argument("--rel-iterations", type=float, default=1.0)
    parser.add_argument("--null-prior", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS for eflomal (both directions run in parallel)")
    parser.add_argument("--fairseq-bin", type=Path, default=HERE.parents[1] / ".venv" / "bin")
    parser.add_argument("--reuse", action="store_true", help="keep existing eflomal link files; only project and binarize")
    parser.add_argument("--train-limit", type=int, help="only the first N pairs (smoke tests)")
    parser.add_argument("--direction", choices=DIRECTIONS, default="de-en",
                        help="the guided model's direction; en-de reuses the de-en run's eflomal links")
    parser.add_argument("--step", choices=STEPS, default="awo",
                        help="the decoder step supervised: awo predicts the piece (fairseq's convention), awi reads it")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    state = args.state.expanduser()
    work = state / "teacher"
    started = time.time()

    src_lines, tgt_lines = teacher_input(state)
    src_lines, tgt_lines = src_lines[: args.train_limit], tgt_lines[: args.train_limit]
    forward_path, reverse_path = work / "train.forward.align", work / "train.reverse.align"
    corpus_src, corpus_tgt = work / "train.de", work / "train.en"
    first_run = args.direction == "de-en" and args.step == "awo"
    reuse = args.reuse or not first_run
    if not (reuse and forward_path.is_file() and reverse_path.is_file()):
        if not first_run:
            sys.exit(f"error: {forward_path} or {reverse_path} is missing: run the de-en teacher first")
        write_corpus(corpus_src, src_lines)
        write_corpus(corpus_tgt, tgt_lines)
        print(f"eflomal on {len(src_lines):,} training pairs ...", file=sys.stderr, flush=True)
        options = {"model": args.model, "n_samplers": args.n_samplers, "rel_iterations": args.rel_iterations,
                   "null_prior": args.null_prior}
        eflomal_seconds = run_eflomal(corpus_src, corpus_tgt, forward_path, reverse_path, options, verbose=False)
        print(f"eflomal done in {eflomal_seconds:.0f} s", file=sys.stderr, flush=True)
    else:
        eflomal_seconds = json.loads((state / "teacher.json").read_text())["eflomal"]["wall_time_s"]

    src_lang, tgt_lang = args.direction.split("-")
    if args.direction != "de-en":
        src_lines, tgt_lines = tgt_lines, src_lines
    forward, reverse = read_lines(forward_path), read_lines(reverse_path)
    src_pieces = read_lines(state / f"spm_enc/train.{src_lang}")[: args.train_limit]
    tgt_pieces = read_lines(state / f"spm_enc/train.{tgt_lang}")[: args.train_limit]
    if not (len(forward) == len(reverse) == len(src_pieces) == len(tgt_pieces) == len(src_lines)):
        sys.exit("error: the link files and spm_enc/train.* do not have one line per training pair")

    counts = {"pairs": len(src_lines), "word_links": 0, "piece_links": 0, "pairs_without_links": 0,
              "target_pieces": 0, "target_pieces_linked": 0}
    samples = []
    align_suffix = "align" if args.direction == "de-en" else f"align.{args.direction}"
    step_suffix = "" if args.step == "awo" else f".{args.step}"
    align_suffix += step_suffix
    align_file = state / f"spm_enc/train.{align_suffix}"
    with open(align_file, "w", encoding="utf-8", newline="\n") as out:
        for number, (fwd, rev, s_text, t_text, s_pieces, t_pieces) in enumerate(
                zip(forward, reverse, src_lines, tgt_lines, src_pieces, tgt_pieces), start=1):
            words = word_links(fwd, rev, args.direction)
            src_words, tgt_words = piece_words(s_pieces.split(" ")), piece_words(t_pieces.split(" "))
            if src_words[-1] + 1 != len(s_text.split(" ")) or tgt_words[-1] + 1 != len(t_text.split(" ")):
                sys.exit(f"error: line {number}: the pieces of spm_enc/train do not make the words of tok/train")
            links = project(words, src_words, tgt_words)
            if args.step == "awi":
                links = input_step(links, len(tgt_words))
            if any(i >= len(src_words) or j >= len(tgt_words) for i, j in links):
                sys.exit(f"error: line {number}: a projected link is out of range")
            counts["word_links"] += len(words)
            counts["piece_links"] += len(links)
            counts["pairs_without_links"] += not links
            counts["target_pieces"] += len(tgt_words)
            counts["target_pieces_linked"] += len({j for _, j in links})
            out.write(format_links(links) + "\n")
            if number in (1, 2, 1000, 50000) and len(samples) < 4:
                samples.append({"line": number, src_lang: s_text, tgt_lang: t_text, f"{src_lang}_pieces": s_pieces,
                                f"{tgt_lang}_pieces": t_pieces, "word_links": format_links(sorted(words)),
                                "piece_links": format_links(links)})

    binarize_started = time.time()
    out_bin = state / ("bin_align" if args.step == "awo" else f"bin_align_{args.step}")
    if out_bin.exists() and args.direction == "de-en":
        shutil.rmtree(out_bin)  # the en-de files, if any, came from the teacher replaced here
    dictionaries = {lang: state / "bin" / f"dict.{lang}.txt" for lang in ("de", "en")}
    binarize(state / "spm_enc", out_bin, args.fairseq_bin, True, 2, dictionaries, align_suffix=align_suffix,
             direction=(src_lang, tgt_lang))
    report = {
        "teacher": "eflomal on the NMT training pairs only (tok/train), symmetrized " + SYMMETRIZATION
                   + ("" if args.direction == "de-en" else ", its en->de links as the forward direction"),
        "direction": args.direction,
        "step": args.step,
        "projection": f"word link (i, j) -> all (piece of {src_lang} word i, piece of {tgt_lang} word j); 0-based, </s> excluded",
        "eflomal": {"model": args.model, "n_samplers": args.n_samplers, "rel_iterations": args.rel_iterations,
                    "null_prior": args.null_prior, "threads": args.threads,
                    "iterations": list(default_iterations(len(src_lines), args.model, args.rel_iterations)),
                    "wall_time_s": round(eflomal_seconds, 1)},
        "counts": counts,
        "samples": samples,
        "align_file": str(align_file.relative_to(state)),
        "bin": str(out_bin.relative_to(state)),
        "wall_time_s": {"total": round(time.time() - started, 1), "binarize": round(time.time() - binarize_started, 1)},
    }
    report_name = ("teacher" if args.direction == "de-en" else f"teacher.{args.direction}") + step_suffix + ".json"
    (state / report_name).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
