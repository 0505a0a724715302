"""eval/results/deen-best.md: each model's best setting, the best symmetrized, and eflomal, chosen on dev.

    python eval/deen_best.py --forward plain=DE_EN_CKPT --forward guided=GUIDED_CKPT [--reverse [guided=]EN_DE_CKPT] \
        [--data-dir BIN --spm SPM.model] [--jobs 2]

Settings (layers, measure, step, decision, and for two models the symmetrization method) are
chosen on the separate dev set deen_bicici100 (100 pairs, sure links) by `aligner.evaluation.select`, the
code behind `aligner sweep --select --reverse-path`, and reported on all 508 RWTH test pairs, so
the numbers line up with deen.md. eflomal (eval/results/eflomal.json: the identical corpus plus
the test text, both directions, grow-diag-final-and with our symmetrizer) stands beside them.
The chosen settings are written as presets for `aligner align --preset`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Optional

import torch

from aligner.config import AlignConfig
from aligner.pipeline import Aligner
from aligner.evaluation.select import GoldSet, load_gold_set, select_settings

ROOT = Path(__file__).resolve().parents[1]


def eflomal_rows(path: Path) -> list[str]:
    if not path.is_file():
        return ["(eflomal results not found: run `make eflomal-baseline`)"]
    scores = json.loads(path.read_text())["scores"]
    lines = ["| eflomal links | dev AER | test AER | test P | test R |", "|---|---|---|---|---|"]
    for method in ("forward", "reverse", "grow-diag-final-and"):
        dev, test = scores["deen_bicici100"][method], scores["deen"][method]
        lines.append(f"| {method} | {dev['aer'] * 100:.1f} | {test['aer'] * 100:.1f} | {test['precision'] * 100:.1f} | {test['recall'] * 100:.1f} |")
    return lines


def gold_sets() -> tuple[GoldSet, GoldSet]:
    """The dev set (deen_bicici100, sure links) and the test set (RWTH deen, sure + possible)."""
    gold = Path(os.environ.get("ALIGNER_DATA", ROOT.parent / "shared" / "data")) / "gold"
    test = load_gold_set(str(gold / "deen/deen.lc.src"), str(gold / "deen/deen.lc.tgt"), str(gold / "deen/deen.talp"))
    dev = load_gold_set(str(gold / "deen_bicici100/test.de"), str(gold / "deen_bicici100/test.en"),
                        str(gold / "deen_bicici100/de-en.wa"), one_based=False, drop_invalid=True)
    return replace(dev, description="deen_bicici100 (100 pairs)"), replace(test, description="deen (508 pairs)")


def select_one(path: Path, reverse_path: Optional[Path], data_dir: Optional[Path], spm: Optional[Path], dev: GoldSet, test: GoldSet):
    """One forward model's selection (symmetrized too, with ``reverse_path``), in a process of its own."""
    torch.set_num_threads(1)

    def aligner(model: Path, source: str, target: str) -> Aligner:
        return Aligner(AlignConfig(path=model, data_dir=data_dir, sentencepiece_model=spm, lowercase=True,
                                   source_lang=source, target_lang=target, device="cpu"))

    reverse = aligner(reverse_path, "en", "de") if reverse_path is not None else None
    return select_settings(aligner(path, "de", "en"), dev, test, reverse)


def reverse_option(value: Optional[str], forward_names: list[str]) -> tuple[Optional[str], Optional[Path]]:
    """(forward name, path) of ``--reverse [NAME=]PATH``; without a known NAME, the first forward model."""
    if value is None:
        return None, None
    name, separator, path = value.partition("=")
    if separator and name in forward_names:
        return name, Path(path)
    return forward_names[0], Path(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--forward", required=True, action="append", metavar="NAME=PATH",
                        help="a de->en checkpoint or bundle, named (plain=..., guided=...); repeatable")
    parser.add_argument("--reverse", metavar="[NAME=]PATH",
                        help="en->de checkpoint or bundle: also symmetrized with the --forward named NAME (default: the first)")
    parser.add_argument("--data-dir", type=Path, help="fairseq data dir with the dictionaries (for bare checkpoints)")
    parser.add_argument("--spm", type=Path, help="SentencePiece model (for bare checkpoints)")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "deen-best")
    parser.add_argument("--note", default="", help="model status to print above the table")
    parser.add_argument("--jobs", type=int, default=1, help="models selected at once, one process each (one thread each)")
    args = parser.parse_args()
    dev, test = gold_sets()

    forwards = []
    for item in args.forward:
        name, _, path = item.partition("=")
        if not path:
            parser.error(f"--forward {item}: give NAME=PATH")
        forwards.append((name, Path(path)))
    reverse_of, reverse = reverse_option(args.reverse, [name for name, _ in forwards])
    started = time.perf_counter()
    reports, presets = [], []
    jobs = [(path, reverse if name == reverse_of else None, args.data_dir, args.spm, dev, test) for name, path in forwards]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        for (name, path), (report, chosen) in zip(forwards, pool.map(select_one, *zip(*jobs))):
            reports.append((name, path, report))
            presets += [(f"{name}.{kind}" if kind != "forward" else name, selection, signature) for kind, selection, signature in chosen]
    seconds = time.perf_counter() - started

    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"forward": {name: str(path) for name, path in forwards}, "reverse": str(reverse) if reverse else None,
              "dev": dev.description, "test": test.description, "seconds": round(seconds, 1), "presets": {}}
    for kind, selection, signature in presets:
        preset = selection.preset(f"{args.out.name}.{kind}", dev.description, signature)
        args.out.with_suffix(f".{kind}.preset.json").write_text(json.dumps(preset, indent=1) + "\n", encoding="utf-8")
        record["presets"][kind] = preset
    command = "python eval/deen_best.py " + " ".join(f"--forward {name}={path}" for name, path in forwards)
    command += f" --reverse {reverse_of}={reverse}" if reverse else ""
    text = "\n".join([
        "# German-English: each model's best setting, symmetrized, and eflomal",
        "",
        f"Every setting is chosen on the dev set ({dev.description}, sure links only) and reported on the test set "
        f"({test.description}, RWTH gold, sure + possible). AER, precision and recall in %, corpus level; lower AER is better. "
        f"Command: `{command}` ({seconds:.0f} s on CPU).",
        "",
        args.note,
        "",
        *[line for name, path, report in reports
          for line in (f"## {name} (de->en: `{path}`)" + (f", symmetrized with en->de `{reverse}`" if reverse and name == reverse_of else ""),
                       "", report.rstrip("\n"), "")],
        "## eflomal on the identical corpus plus the test text (eflomal.md)",
        "",
        *eflomal_rows(ROOT / "eval" / "results" / "eflomal.json"),
        "",
        "eflomal's settings are fixed (grow-diag-final-and as the issue asks), not chosen on the dev set.",
        "",
        "Presets: " + ", ".join(f"`{args.out.name}.{kind}.preset.json`" for kind, _, _ in presets)
        + " (`aligner align --path DE_EN [--reverse-path EN_DE] --preset FILE`).",
        "",
    ])
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
