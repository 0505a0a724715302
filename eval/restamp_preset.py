"""Bind a bundle's preset to the bundle's own weights (``model_sha256``), without touching the weights.

    python eval/restamp_preset.py data/models/deen-small aligner/models/deen-guided

The preset's former model (the float32 checkpoint it was chosen on) is kept as ``source_checkpoint``.
eval/export_bundle.py stamps new exports the same way; this script is for bundles exported before.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aligner.backends.fairseq.resources import BUNDLE_FILE, Bundle
from aligner.io import file_sha256
from aligner.presets import stamp


def restamp(directory: Path) -> str:
    bundle = Bundle.read(directory / BUNDLE_FILE)
    if bundle.preset_path is None:
        raise SystemExit(f"restamp_preset.py: {directory} names no preset")
    digest = file_sha256(directory / bundle.checkpoint)
    preset = json.loads(bundle.preset_path.read_text(encoding="utf-8"))
    bundle.preset_path.write_text(json.dumps(stamp(preset, digest), indent=1) + "\n", encoding="utf-8")
    return digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", type=Path, nargs="+")
    for directory in parser.parse_args().bundles:
        print(f"{directory}: preset bound to @{restamp(directory)[:8]}")


if __name__ == "__main__":
    main()
