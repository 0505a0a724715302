"""Bind a bundle's preset to the bundle's own weights (``model_sha256``), without touching the weights.

    python eval/restamp_preset.py data/models/deen-small aligner/models/deen-guided

The preset's former model (the float32 checkpoint it was chosen on) is kept as ``source_checkpoint``.
eval/export_bundle.py stamps new exports the same way; this script is for bundles exported before.

With ``--preset FILE`` it installs a newly chosen preset (eval/deen_best.py's, say after the dev grid
gained a decision) into one bundle without re-exporting its weights: one chosen on the float32
checkpoint the bundle was exported from (``--checkpoint CKPT``) or on the bundle itself (no
``--checkpoint``):

    python eval/restamp_preset.py aligner/models/deen-guided \\
        --preset eval/results/deen-best.guided.preset.json --checkpoint CKPT
    python eval/restamp_preset.py data/models/deen-small --preset eval/results/deen-best.plain.preset.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from aligner.backends.fairseq.resources import BUNDLE_FILE, Bundle
from aligner.io import file_sha256
from aligner.presets import stamp

sys.path.insert(0, str(Path(__file__).resolve().parent))  # export_bundle beside this file
from export_bundle import bundle_preset  # noqa: E402


def restamp(directory: Path) -> str:
    bundle = Bundle.read(directory / BUNDLE_FILE)
    if bundle.preset_path is None:
        raise SystemExit(f"restamp_preset.py: {directory} names no preset")
    digest = file_sha256(directory / bundle.checkpoint)
    preset = json.loads(bundle.preset_path.read_text(encoding="utf-8"))
    bundle.preset_path.write_text(json.dumps(stamp(preset, digest), indent=1) + "\n", encoding="utf-8")
    return digest


def replace_preset(directory: Path, preset_file: Path, checkpoint: Optional[Path]) -> None:
    """Write a newly chosen preset as the bundle's own, refused unless it was chosen on the bundle's weights.

    Those are the float32 ``checkpoint`` the bundle was exported from (its preset's
    ``source_checkpoint``) or, with no checkpoint, the bundle's own fp16 weights.
    """
    bundle = Bundle.read(directory / BUNDLE_FILE)
    if bundle.preset_path is None:
        raise SystemExit(f"restamp_preset.py: {directory} names no preset to replace")
    current = json.loads(bundle.preset_path.read_text(encoding="utf-8"))
    chosen = json.loads(preset_file.read_text(encoding="utf-8"))
    if checkpoint is None:
        preset = bundle_preset(chosen, directory / bundle.checkpoint, directory.name)
        preset["chosen_on"] = f"{chosen['chosen_on']}, by eval/deen_best.py on this bundle's own weights"
        preset["source_checkpoint"] = current.get("source_checkpoint")
    else:
        preset = bundle_preset(chosen, checkpoint, directory.name)
        source = preset["model_signature"].split("|")[0].removeprefix("model:")
        if current.get("source_checkpoint") != source:
            raise SystemExit(f"restamp_preset.py: {directory} was exported from {current.get('source_checkpoint')}, not from {source}")
    bundle.preset_path.write_text(json.dumps(preset, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", type=Path, nargs="+")
    parser.add_argument("--preset", type=Path, help="a preset chosen on --checkpoint, to install (one bundle)")
    parser.add_argument("--checkpoint", type=Path, help="the float32 checkpoint the bundle was exported from, if --preset was chosen on it")
    args = parser.parse_args()
    if args.checkpoint is not None and args.preset is None:
        parser.error("--checkpoint goes with --preset")
    if args.preset is not None and len(args.bundles) != 1:
        parser.error("--preset installs into one bundle")
    for directory in args.bundles:
        if args.preset is not None:
            replace_preset(directory, args.preset, args.checkpoint)
        print(f"{directory}: preset bound to @{restamp(directory)[:8]}")


if __name__ == "__main__":
    main()
