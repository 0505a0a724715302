#!/usr/bin/env python3
"""A fairseq training checkpoint made from a shipped aligner bundle, so training survives a new machine.

Only the repository survives a change of machine, and the bundle it ships holds the weights
(float16, no optimizer state) and the training history fairseq keeps. This writes
``<save dir>/warm_start.pt`` from it:

- the weights in float32 (fairseq restores the tied output projection and the sinusoidal
  positions' dummy buffer itself when it loads them);
- **no optimizer state**: Adam's moments start from zero (the bundle never had them);
- the update count and the position in the epoch the bundle records, so that the inverse-sqrt
  schedule continues at ``lr * sqrt(warmup / updates)`` instead of warming up again, and the data
  order continues where the exported run was. Stock fairseq-train only continues the update count
  together with an optimizer state, so ``extra_state["aligner_warm_start"]`` carries it, and
  ``fairseq_train.py`` (the entry point train.sh runs) applies it after loading.

train.sh runs this only when the save dir has no ``checkpoint_last.pt``, and passes the result as
``--continue-once``: fairseq loads it on the first launch only; every later launch resumes from its
own ``checkpoint_last.pt``. The vocabulary must be the bundle's (``prepare_data.py --bundle``):
this script refuses a data directory whose dictionaries differ.

``--reverse-direction`` starts the model of the other direction (en->de from the de->en bundle):
with one joint vocabulary and all embeddings shared, every weight has the shape the reverse
model needs, and its encoder already embeds the new source language. The data differ, so the
epoch restarts (``--next-epoch``); the update count, hence the learning rate, continues.

    .venv/bin/python eval/recipe/warm_start.py data/models/deen-small SAVE_DIR --data-dir STATE/bin \
        --criterion label_smoothed_cross_entropy
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import torch  # noqa: E402

from aligner.backends.fairseq.checkpoint import read_checkpoint  # noqa: E402
from aligner.io import file_sha256  # noqa: E402

# fairseq's criterion class names, as optimizer_history records them.
CRITERIA = {
    "label_smoothed_cross_entropy": "LabelSmoothedCrossEntropyCriterion",
    "label_smoothed_cross_entropy_with_alignment": "LabelSmoothedCrossEntropyCriterionWithAlignment",
}
WARM_START_FILE = "warm_start.pt"


def bundle_training(bundle: Path, info: dict, state: dict) -> dict:
    """What the bundle says about its training: aligner.json's (``info``) ``training`` block if it
    has one, else the update count and iterator position fairseq's history in the checkpoint records."""
    history = (state.get("optimizer_history") or [{}])[-1]
    iterator = (state.get("extra_state") or {}).get("train_iterator") or {}
    training = dict(info.get("training") or {})
    training.setdefault("updates", history.get("num_updates"))
    if not isinstance(training["updates"], int) or training["updates"] < 0:
        raise SystemExit(f"warm_start.py: {bundle}: the bundle records no update count")
    return {"updates": training["updates"], "train_iterator": iterator, "name": info.get("name", bundle.name)}


def check_vocabulary(bundle: Path, data_dir: Path, langs: tuple[str, str]) -> None:
    for lang in langs:
        ours, theirs = data_dir / f"dict.{lang}.txt", bundle / f"dict.{lang}.txt"
        if not ours.is_file() or ours.read_bytes() != theirs.read_bytes():
            raise SystemExit(
                f"warm_start.py: {ours} is not the bundle's {theirs}; prepare the data with "
                f"`prepare_data.py --bundle {bundle}` so the vocabulary is the one the weights were trained on")


def check_joint_vocabulary(bundle: Path, langs: tuple[str, str]) -> None:
    """A model starts the reverse direction only if its two sides share one vocabulary: its
    encoder then already embeds the new source language (as its decoder did)."""
    first, second = (bundle / f"dict.{lang}.txt" for lang in langs)
    if first.read_bytes() != second.read_bytes():
        raise SystemExit(f"warm_start.py: {first} and {second} differ: only a model with one joint vocabulary "
                         "can start the reverse direction")


def continued_iterator(iterator: dict, next_epoch: bool) -> dict:
    """The exported run's position in its epoch, or the start of its next epoch.

    fairseq skips ahead to the recorded position only if the batches are the same as the exported
    run's (it refuses otherwise), so data binarized differently must start a new epoch.
    """
    if not iterator:
        return {"epoch": 1, "iterations_in_epoch": 0, "version": 2, "shuffle": True}
    if next_epoch:
        return {**iterator, "epoch": iterator.get("epoch", 0) + 1, "iterations_in_epoch": 0}
    return dict(iterator)


def warm_start_state(state: dict, training: dict, criterion: str, bundle_hash: str, next_epoch: bool = False) -> dict:
    weights = {key: tensor.float() if tensor.is_floating_point() else tensor for key, tensor in state["model"].items()}
    updates = training["updates"]
    return {
        "model": weights,
        "cfg" if state.get("cfg") is not None else "args": state.get("cfg") if state.get("cfg") is not None else state["args"],
        "optimizer_history": [{
            "criterion_name": CRITERIA[criterion],
            "optimizer_name": "FairseqAdam",
            "lr_scheduler_state": {"best": None},
            "num_updates": updates,
        }],
        "extra_state": {
            "train_iterator": continued_iterator(training["train_iterator"], next_epoch),
            "aligner_warm_start": {"num_updates": updates, "bundle": training["name"], "bundle_sha256": bundle_hash},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("save_dir", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True, help="the fairseq data directory training will read")
    parser.add_argument("-s", "--source-lang", default="de")
    parser.add_argument("-t", "--target-lang", default="en")
    parser.add_argument("--criterion", choices=sorted(CRITERIA), default="label_smoothed_cross_entropy")
    parser.add_argument("--next-epoch", action="store_true",
                        help="start the epoch after the bundle's instead of continuing its position (data other than the exported run's)")
    parser.add_argument("--reverse-direction", action="store_true",
                        help="the bundle translates -t into -s: start the reverse model from it (joint vocabulary only; implies --next-epoch)")
    args = parser.parse_args()

    if (args.save_dir / "checkpoint_last.pt").exists():
        raise SystemExit(f"warm_start.py: {args.save_dir} already has checkpoint_last.pt; training resumes from that")
    info = json.loads((args.bundle / "aligner.json").read_text(encoding="utf-8"))
    wanted = (args.target_lang, args.source_lang) if args.reverse_direction else (args.source_lang, args.target_lang)
    if (info.get("source_lang"), info.get("target_lang")) != wanted:
        raise SystemExit(f"warm_start.py: {args.bundle} is a {info.get('source_lang')}->{info.get('target_lang')} model, "
                         f"not {wanted[0]}->{wanted[1]}")
    check_vocabulary(args.bundle, args.data_dir, (args.source_lang, args.target_lang))
    if args.reverse_direction:
        check_joint_vocabulary(args.bundle, (args.source_lang, args.target_lang))
    checkpoint = args.bundle / info["checkpoint"]
    state = read_checkpoint(checkpoint)
    training = bundle_training(args.bundle, info, state)
    warm = warm_start_state(state, training, args.criterion, file_sha256(checkpoint), args.next_epoch or args.reverse_direction)
    if args.reverse_direction:
        warm["extra_state"]["aligner_warm_start"]["from_direction"] = f"{wanted[0]}-{wanted[1]}"
    args.save_dir.mkdir(parents=True, exist_ok=True)
    out = args.save_dir / WARM_START_FILE
    torch.save(warm, out)
    print(f"wrote {out}: {training['name']} at {training['updates']} updates, "
          f"epoch {warm['extra_state']['train_iterator'].get('epoch')}, optimizer reset")


if __name__ == "__main__":
    main()
