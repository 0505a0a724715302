"""Turn a fairseq training checkpoint into an aligner model bundle.

The bundle keeps only what alignment needs: the model options and the weights, in float16
(or float32 with --fp32), each shared tensor stored once and the output projection left out
(fairseq rebuilds it from the tied embeddings). It is read with aligner's safe loader, so a
checkpoint that needs unsafe unpickling is refused here too.

    python eval/export_bundle.py CKPT OUT_DIR --data-dir BIN --spm SPM.model --name deen-base
    python eval/export_bundle.py CKPT OUT_DIR --data-dir BIN --spm-src spm.de.model --spm-tgt spm.en.model --name deen-sep

--preset FILE copies settings chosen for this checkpoint on a dev set (eval/deen_best.py's
forward preset) into the bundle as dev-preset.json, for `aligner align --preset`.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from aligner.backends.fairseq.checkpoint import read_checkpoint
from aligner.io import file_sha256
from aligner.presets import stamp


def slim_state(state: dict, dtype: torch.dtype) -> dict:
    """The options, the weights once each in ``dtype``, and the little training history fairseq
    itself insists on when loading (so the bundle still loads in fairseq, e.g. for the benchmark)."""
    converted: dict[int, torch.Tensor] = {}
    weights = {}
    for key, tensor in state["model"].items():
        if key == "decoder.output_projection.weight" or key.endswith("._float_tensor"):
            continue
        storage = tensor.untyped_storage().data_ptr()
        if storage not in converted:
            converted[storage] = tensor.to(dtype) if tensor.is_floating_point() else tensor.clone()
        weights[key] = converted[storage]
    history = (state.get("optimizer_history") or [{}])[-1]
    slim = {
        "model": weights,
        "optimizer_history": [{key: history[key] for key in ("criterion_name", "optimizer_name", "lr_scheduler_state", "num_updates") if key in history}],
        "extra_state": {"train_iterator": (state.get("extra_state") or {}).get("train_iterator", {"epoch": 0})},
    }
    slim["cfg" if state.get("cfg") is not None else "args"] = state.get("cfg") if state.get("cfg") is not None else state["args"]
    return slim


def copy_subword_models(args: argparse.Namespace) -> str | dict[str, str]:
    """Copy the SentencePiece model(s) into the bundle; return aligner.json's ``subword_model``."""
    if args.spm is not None:
        shutil.copy(args.spm, args.out / "spm.model")
        return "spm.model"
    # Keyed by language, as aligner.json's per-language form is.
    models = {args.source_lang: args.spm_src, args.target_lang: args.spm_tgt}
    for lang, model in models.items():
        shutil.copy(model, args.out / f"spm.{lang}.model")
    return {lang: f"spm.{lang}.model" for lang in models}


def bundle_preset(preset: dict, checkpoint: Path, bundle_name: str) -> dict:
    """The preset renamed for the bundle; refused unless it was chosen on this very checkpoint.

    Settings chosen for one snapshot of a training run say little about another, and the preset's
    model signature names the checkpoint file's hash, so a stale preset is caught here.
    """
    if "symmetrize" in preset.get("settings", {}):
        raise SystemExit("export_bundle.py: --preset must be a one-direction preset, not a symmetrized one")
    digest = file_sha256(checkpoint)[:8]
    signature = preset.get("model_signature", "")
    model_field = next((field for field in signature.split("|") if field.startswith("model:")), "")
    if not model_field.endswith(f"@{digest}"):
        raise SystemExit(f"export_bundle.py: the preset was chosen on {model_field or 'an unnamed model'}, not on {checkpoint} (@{digest})")
    return {
        **preset,
        "name": f"{bundle_name}-dev",
        "chosen_on": f"{preset['chosen_on']}, by eval/deen_best.py on {checkpoint.name}, the float32 checkpoint this bundle was exported from",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True, help="fairseq-preprocess output with dict.<lang>.txt")
    parser.add_argument("--spm", type=Path, help="SentencePiece model of the training run (joint: both languages)")
    parser.add_argument("--spm-src", type=Path, help="source SentencePiece model, for a run with one model per language (with --spm-tgt)")
    parser.add_argument("--spm-tgt", type=Path, help="target SentencePiece model, for a run with one model per language (with --spm-src)")
    parser.add_argument("-s", "--source-lang", default="de")
    parser.add_argument("-t", "--target-lang", default="en")
    parser.add_argument("--name", required=True)
    parser.add_argument("--no-lowercase", action="store_true", help="the training text was not lowercased")
    parser.add_argument("--fp32", action="store_true", help="keep float32 weights")
    parser.add_argument("--preset", type=Path, help="settings chosen for this checkpoint on a dev set, copied in as dev-preset.json "
                        "and named in aligner.json, so that `aligner align` uses them by default")
    parser.add_argument("--recipe", default="eval/recipe/train.sh de-en", help="how the checkpoint was trained (recorded in aligner.json)")
    parser.add_argument("--data", default="eval/recipe/prepare_data.py (see the model card)", help="what it was trained on (recorded)")
    args = parser.parse_args()
    given = (args.spm is not None, args.spm_src is not None, args.spm_tgt is not None)
    if given not in ((True, False, False), (False, True, True)):
        parser.error("give either --spm or both --spm-src and --spm-tgt")

    preset = bundle_preset(json.loads(args.preset.read_text()), args.checkpoint, args.name) if args.preset else None
    state = read_checkpoint(args.checkpoint)
    slim = slim_state(state, torch.float32 if args.fp32 else torch.float16)
    task = slim["cfg"]["task"] if "cfg" in slim else slim["args"]
    if isinstance(task, dict):
        task.update(source_lang=args.source_lang, target_lang=args.target_lang)
    else:
        task.source_lang, task.target_lang = args.source_lang, args.target_lang
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(slim, args.out / "model.pt")
    for lang in (args.source_lang, args.target_lang):
        shutil.copy(args.data_dir / f"dict.{lang}.txt", args.out / f"dict.{lang}.txt")
    subword_model = copy_subword_models(args)
    updates = (state.get("optimizer_history") or [{}])[-1].get("num_updates")
    iterator = (state.get("extra_state") or {}).get("train_iterator") or {}
    model_options = slim["cfg"]["model"] if "cfg" in slim else slim["args"]
    arch = getattr(model_options, "arch", None) if not isinstance(model_options, dict) else model_options.get("arch", model_options.get("_name"))
    bundle = {
        "format": "aligner-bundle/2",
        "name": args.name,
        "description": f"exported from {args.checkpoint.name} ({updates} updates) by eval/export_bundle.py",
        "checkpoint": "model.pt",
        "source_lang": args.source_lang,
        "target_lang": args.target_lang,
        "lowercase": not args.no_lowercase,
        "subword": "sentencepiece",
        "subword_model": subword_model,
        **({"preset": "dev-preset.json"} if preset is not None else {}),
        # what eval/recipe/warm_start.py continues from on a new machine
        "training": {"updates": updates, "epoch": iterator.get("epoch"), "arch": arch, "recipe": args.recipe, "data": args.data},
    }
    (args.out / "aligner.json").write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")
    if preset is not None:
        # Bound to the exported weights (halved precision changes the hash), the source checkpoint kept as provenance.
        preset = stamp(preset, file_sha256(args.out / "model.pt"))
        (args.out / "dev-preset.json").write_text(json.dumps(preset, indent=1) + "\n", encoding="utf-8")
    size = sum(path.stat().st_size for path in args.out.iterdir())
    print(f"wrote {args.out} ({size / 2**20:.1f} MiB, {updates} updates)")


if __name__ == "__main__":
    main()
