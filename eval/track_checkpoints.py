#!/usr/bin/env python3
"""Alignment quality over training: a dev-set sweep of every new fairseq checkpoint.

For each interval checkpoint (checkpoint_<epoch>_<updates>.pt) and checkpoint_last.pt in a
fairseq save directory whose update count is not yet in the results JSON, the model is loaded
in-process (no bundle is written), the AER of every decoder layer x {weight, norm} x {awi, awo}
is measured on the development gold set deen_bicici100 (not the deen test set, so that choosing
a checkpoint or layer from this curve does not touch the test set), and the results are appended
to the JSON and the markdown table rewritten.

    .venv/bin/python eval/track_checkpoints.py       # ~/.cache/aligner/train/deen/ckpt_de_en

Run it again whenever new checkpoints appeared; it only evaluates what is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
STATE = Path.home() / ".cache/aligner/train/deen"
INTERVAL = re.compile(r"checkpoint_(\d+)_(\d+)\.pt")


@dataclass(frozen=True)
class Candidate:
    path: Path
    updates_from_name: Optional[int]  # None for checkpoint_last.pt: only the file knows


# ---------------------------------------------------------------- finding checkpoints


def find_candidates(save_dir: Path, min_age_s: float) -> list[Candidate]:
    """Interval checkpoints (by update count) and checkpoint_last.pt.

    Files younger than ``min_age_s`` are left for the next run: fairseq writes the interval
    checkpoint atomically (tmp file + rename) but then *copies* it to checkpoint_last.pt and
    checkpoint_best.pt, so a fresh checkpoint_last.pt may still be half written.
    """
    now = time.time()
    found = []
    for path in sorted(save_dir.glob("checkpoint_*.pt")):
        match = INTERVAL.fullmatch(path.name)
        if match is None and path.name != "checkpoint_last.pt":
            continue  # checkpoint_best.pt and epoch checkpoints are copies of others
        if now - path.stat().st_mtime < min_age_s:
            print(f"skip {path.name}: modified less than {min_age_s:.0f} s ago", file=sys.stderr)
            continue
        found.append(Candidate(path, int(match.group(2)) if match else None))
    return sorted(found, key=lambda c: (c.updates_from_name is None, c.updates_from_name or 0))


# ---------------------------------------------------------------- checkpoint metadata


def _number(value: Any) -> Optional[float]:
    """A float from a plain number or a 0-d tensor (fairseq's meters hold both)."""
    if value is None:
        return None
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        return None


def valid_meters(extra_state: dict) -> dict[str, float]:
    """Validation loss / nll_loss as fairseq's 'valid' meters hold them at save time, if present.

    The meters are (priority, key, type, state) tuples; an AverageMeter's value is sum / count.
    fairseq's logged ppl is 2 ** nll_loss (losses are in base 2).
    """
    meters = ((extra_state.get("metrics") or {}).get("valid")) or []
    found: dict[str, float] = {}
    for entry in meters:
        if not isinstance(entry, (tuple, list)) or len(entry) != 4:
            continue
        _, key, kind, state = entry
        if kind == "AverageMeter" and key in ("loss", "nll_loss") and isinstance(state, dict):
            total, count = _number(state.get("sum")), _number(state.get("count"))
            if total is not None and count:
                found[key] = round(total / count, 3)
    if "nll_loss" in found:
        found["ppl"] = round(2 ** found["nll_loss"], 2)
    return found


def checkpoint_metadata(path: Path) -> dict[str, Any]:
    """num_updates, epoch and validation figures of a checkpoint, read with aligner's safe loader."""
    from aligner.backends.fairseq.checkpoint import read_checkpoint

    state = read_checkpoint(path)
    history = (state.get("optimizer_history") or [{}])[-1]
    extra = state.get("extra_state") or {}
    meta: dict[str, Any] = {
        "num_updates": history.get("num_updates"),
        "epoch": (extra.get("train_iterator") or {}).get("epoch"),
        "val_loss": _number(extra.get("val_loss")),  # the best_checkpoint_metric of this save (loss)
    }
    meta.update({f"valid_{k}": v for k, v in valid_meters(extra).items()})
    return meta


def log_validation(save_dir: Path) -> dict[int, dict[str, float]]:
    """Validation lines of the save directory's train.log, by num_updates (loss, nll_loss, ppl).

    A second source for the same figures: the log has them even where the meters in the
    checkpoint were reset.
    """
    log = save_dir / "train.log"
    found: dict[int, dict[str, float]] = {}
    if not log.is_file():
        return found
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if "| valid on 'valid' subset" not in line:
            continue
        fields = dict(re.findall(r"\| (\w+) ([-0-9.e+]+)", line))
        if "num_updates" in fields:
            found[int(float(fields["num_updates"]))] = {k: float(fields[k]) for k in ("loss", "nll_loss", "ppl") if k in fields}
    return found


# ---------------------------------------------------------------- the dev set


def load_dev_set(src: Path, tgt: Path, gold: Path, zero_based: bool, reverse: bool = False):
    """Pairs and gold links, with gold links outside their sentence dropped and counted.

    deen_bicici100 line 63 has the link 12-16 for a 13-word English sentence; `aligner score
    --drop-invalid` drops it the same way (aligner.evaluation.select.load_gold_set).
    """
    from aligner.evaluation.select import load_gold_set

    dev = load_gold_set(str(src), str(tgt), str(gold), not zero_based, drop_invalid=True)
    if reverse:  # a target-to-source model: sides swapped, gold transposed
        dev = dev.reversed()
    return dev.pairs, dev.golds, dev.dropped_links


# ---------------------------------------------------------------- one checkpoint


def evaluate(path: Path, args: argparse.Namespace, pairs, golds) -> dict[str, Any]:
    """Sweep one checkpoint: AER, precision and recall per layer x measure x step (layer level)."""
    from aligner.config import AlignConfig
    from aligner.pipeline import Aligner
    from aligner.evaluation.sweep import run_sweep

    config = AlignConfig(
        path=path,
        data_dir=args.data_dir,
        sentencepiece_model=args.spm,
        lowercase=True,
        source_lang=args.source_lang,
        target_lang=args.target_lang,
        device="cpu",
        batch_size=args.batch_size,
    )
    aligner = Aligner(config)
    result = run_sweep(aligner, pairs, golds, per_head=args.heads, measures=("weight", "norm"))  # the curve compares the paper's two measures; eval/deen_measures.py has the rest
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    heads: dict[str, dict[str, list[list[float]]]] = {}
    for row in sorted(result.rows, key=lambda r: (r.layer, r.head or 0)):
        if row.head is not None:
            per_layer = heads.setdefault(row.step, {}).setdefault(row.measure, [])
            if len(per_layer) < row.layer:
                per_layer.append([])
            per_layer[row.layer - 1].append(round(row.aer, 5))
            continue
        cell = table.setdefault(row.step, {}).setdefault(row.measure, {"aer": [], "precision": [], "recall": []})
        cell["aer"].append(round(row.aer, 5))
        cell["precision"].append(round(row.precision, 5))
        cell["recall"].append(round(row.recall, 5))
    return {
        "sha256": aligner.engine.info.sha256,
        "signature": result.signature,
        "layers": aligner.engine.info.decoder_layers,
        "sweep": table,
        **({"heads": heads} if heads else {}),
    }


# ---------------------------------------------------------------- results files


def read_results(path: Path) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"entries": []}


def best_layer(aers: list[float]) -> tuple[int, float]:
    """(1-based layer, AER) of the lowest AER; the lower layer wins a tie."""
    index = min(range(len(aers)), key=lambda i: (aers[i], i))
    return index + 1, aers[index]


def best_head(per_layer: list[list[float]]) -> tuple[int, int, float]:
    """(1-based layer, 1-based head, AER) of the lowest per-head AER; lower layer, then head, wins a tie."""
    cells = [(aer, layer, head) for layer, row in enumerate(per_layer, 1) for head, aer in enumerate(row, 1)]
    aer, layer, head = min(cells)
    return layer, head, aer


def pct(value: Optional[float]) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def markdown(results: dict[str, Any], json_name: str) -> str:
    entries = sorted(results["entries"], key=lambda e: e["num_updates"])
    layers = max((e["layers"] for e in entries), default=0)
    with_heads = any("heads" in e for e in entries)
    # step `full` (the pass without the causal mask) is swept for checkpoints trained with it
    full = any("full" in e["sweep"] for e in entries)
    layer_columns = [("awi", "norm"), ("awi", "weight"), ("awo", "norm")] + ([("full", "norm"), ("full", "weight")] if full else [])
    head_columns = [("awo", "weight"), ("awo", "norm"), ("awi", "weight"), ("awi", "norm")] if with_heads else []
    head_columns += [("full", "weight"), ("full", "norm")] if with_heads and full else []
    dev = results.get("dev_set", {})
    lines = [
        f"# {results.get('direction', 'de->en')} training curve: alignment quality per checkpoint",
        "",
        f"AER (%) on the development set {dev.get('name', '')} ({dev.get('pairs', '?')} pairs, sure links only, "
        f"{dev.get('dropped_gold_links', 0)} out-of-range gold link dropped), layer level, argmax per target word "
        "with `</s>` as null, sum/mean subword merging; lower is better. Written by `eval/track_checkpoints.py`; "
        f"every layer x {{weight, norm}} x {{AWI, AWO{', FULL' if full else ''}}} is in `{json_name}`."
        + (" FULL: the row predicting each target piece in a decoder pass without the causal mask (`--step full`)." if full else "")
        + (" The model translates the gold set's target into its source: text sides swapped, gold links transposed."
           if results.get("reversed") else ""),
        "",
        "| updates | checkpoint | valid loss | valid ppl | "
        + "".join(f"best {step.upper()} {measure} | " for step, measure in layer_columns)
        + "".join(f"best head {step.upper()} {measure} | " for step, measure in head_columns)
        + " | ".join(f"AWI norm L{l}" for l in range(1, layers + 1))
        + " |",
        "|---" * (4 + len(layer_columns) + len(head_columns) + layers) + "|",
    ]
    for e in entries:
        sweep = e["sweep"]
        cells = [str(e["num_updates"]), e["checkpoint"], fmt(e.get("valid_loss")), fmt(e.get("valid_ppl"), 2)]
        for step, measure in layer_columns:
            if step not in sweep:
                cells.append("")
                continue
            layer, aer = best_layer(sweep[step][measure]["aer"])
            cells.append(f"L{layer}: {pct(aer)}")
        for step, measure in head_columns:
            if "heads" in e and step in e["heads"]:
                layer, head, aer = best_head(e["heads"][step][measure])
                cells.append(f"L{layer}H{head}: {pct(aer)}")
            else:
                cells.append("")
        cells += [pct(a) for a in sweep["awi"]["norm"]["aer"]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Valid loss / ppl: fairseq's label-smoothed loss and 2^nll_loss (base 2) on the validation pairs, "
              "from train.log or the checkpoint."]
    if entries:
        lines += ["", f"`{entries[-1]['signature']}`"]
    return "\n".join(lines) + "\n"


def fmt(value: Optional[float], digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def to_json(results: dict[str, Any]) -> str:
    """Indented JSON with each list of numbers on one line (a per-layer list reads as a table row)."""
    text = json.dumps(results, indent=1)
    return re.sub(r"\[\s+([-0-9.eE+,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n"


def write_results(path: Path, results: dict[str, Any]) -> None:
    """JSON and markdown, each written to a temporary file and renamed, so a crash leaves the old ones."""
    results["entries"].sort(key=lambda e: e["num_updates"])
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, text in ((path, to_json(results)), (path.with_suffix(".md"), markdown(results, path.name))):
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    data = Path(os.environ.get("ALIGNER_DATA", "/work/shared/data"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--save-dir", type=Path, default=STATE / "ckpt_de_en", help="fairseq --save-dir")
    parser.add_argument("--data-dir", type=Path, default=STATE / "bin", help="fairseq-preprocess output (dict.<lang>.txt)")
    parser.add_argument("--spm", type=Path, default=STATE / "spm/spm.model", help="SentencePiece model of the training run")
    parser.add_argument("-s", "--source-lang", default="de")
    parser.add_argument("-t", "--target-lang", default="en")
    parser.add_argument("--src", type=Path, default=data / "gold/deen_bicici100/test.de")
    parser.add_argument("--tgt", type=Path, default=data / "gold/deen_bicici100/test.en")
    parser.add_argument("--gold", type=Path, default=data / "gold/deen_bicici100/de-en.wa")
    parser.add_argument("--gold-one-based", action="store_true", help="gold indices start at 1 (deen_bicici100's are 0-based)")
    parser.add_argument("--results", type=Path, default=HERE / "results/deen-training-curve.json",
                        help="JSON to append to; the .md beside it is rewritten")
    parser.add_argument("--reverse", action="store_true",
                        help="the model translates --tgt into --src (en->de on the default set): swap the sides, transpose the gold")
    parser.add_argument("--min-age", type=float, default=60.0, help="skip checkpoints modified less than this many seconds ago")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the training job needs the other core)")
    parser.add_argument("--heads", action="store_true",
                        help="also every head of every layer (a guided-alignment model supervises one head)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from aligner.errors import AlignerError

    results = read_results(args.results)
    measured_at = {e["num_updates"]: time.mktime(time.strptime(e["evaluated_at"], "%Y-%m-%d %H:%M:%S")) for e in results["entries"]}
    pairs, golds, dropped = load_dev_set(args.src, args.tgt, args.gold, not args.gold_one_based, args.reverse)
    results["direction"] = f"{args.source_lang}->{args.target_lang}"
    results["reversed"] = args.reverse
    results.pop("json_name", None)  # written by an earlier version; the file's own name is used now
    results["dev_set"] = {"name": args.gold.parent.name, "gold": str(args.gold), "pairs": len(pairs),
                          "dropped_gold_links": dropped}
    from_log = log_validation(args.save_dir)
    new = 0
    def known(updates: Optional[int], path: Path) -> bool:
        """Measured already, after this file was written; a checkpoint of a run redone (a resumed run
        that lost its last saves, say) replaces the entry of the run it repeats."""
        return updates in measured_at and measured_at[updates] >= path.stat().st_mtime

    for candidate in find_candidates(args.save_dir, args.min_age):
        if known(candidate.updates_from_name, candidate.path):
            continue  # known from the name alone: no need to read 150 MB
        start = time.time()
        try:
            meta = checkpoint_metadata(candidate.path)
            if known(meta["num_updates"], candidate.path):
                continue  # checkpoint_last.pt when its interval twin was already measured
            measured = evaluate(candidate.path, args, pairs, golds)
        except AlignerError as exc:  # e.g. a checkpoint still being copied: try again next run
            print(f"skip {candidate.path.name}: {exc}", file=sys.stderr)
            continue
        logged = from_log.get(meta["num_updates"], {})
        entry = {
            "checkpoint": candidate.path.name,
            **meta,
            "valid_loss": logged.get("loss", meta.get("valid_loss", meta.get("val_loss"))),
            "valid_nll_loss": logged.get("nll_loss", meta.get("valid_nll_loss")),
            "valid_ppl": logged.get("ppl", meta.get("valid_ppl")),
            **measured,
            "evaluated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "wall_time_s": round(time.time() - start, 1),
        }
        results["entries"] = [e for e in results["entries"] if e["num_updates"] != meta["num_updates"]] + [entry]
        measured_at[meta["num_updates"]] = time.time()
        write_results(args.results, results)  # after each checkpoint: a long backlog survives interruption
        new += 1
        best = best_layer(measured["sweep"]["awi"]["norm"]["aer"])
        print(f"{candidate.path.name}: {meta['num_updates']} updates, AWI norm best L{best[0]} AER {pct(best[1])}, "
              f"{entry['wall_time_s']} s")
    if new == 0:
        if args.results.is_file():
            write_results(args.results, results)  # refresh the markdown (e.g. after a format change)
        print("no new checkpoints", file=sys.stderr)


if __name__ == "__main__":
    main()
