"""Presets know their model: the weights hash a preset was chosen for, and the check against the loaded model.

Settings chosen on a dev set for one model say little about another, even when its layers fit.
A preset records ``model_sha256``, the SHA-256 of the weights file it belongs to (for a bundle,
the bundle's own ``model.pt``, not the float32 checkpoint it was exported from, which stays as
``source_checkpoint``, provenance only). Older presets carry only ``model_signature``, whose
``model:NAME@DIGEST`` field gives the first 8 hex digits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from .errors import ConfigError, InputError
from .io import file_sha256


def stamp(preset: dict, weights_sha256: str) -> dict:
    """``preset`` bound to the weights whose SHA-256 is ``weights_sha256``; the old model field kept as provenance."""
    stamped = dict(preset)
    source = stamped.get("source_checkpoint") or _signature_model(stamped.get("model_signature", ""))
    if source is not None:
        stamped["source_checkpoint"] = source
    stamped["model_sha256"] = weights_sha256
    return stamped


def _signature_model(signature: str) -> Optional[str]:
    field = next((part for part in signature.split("|") if part.startswith("model:")), None)
    return None if field is None else field[len("model:"):]


def preset_digest(record: dict) -> Optional[str]:
    """The weights hash (hex prefix) a preset was chosen for, or None if it names none."""
    if isinstance(record.get("model_sha256"), str):
        return record["model_sha256"]
    model = _signature_model(record.get("model_signature") or "")
    if model is None or "@" not in model:
        return None
    return model.rsplit("@", 1)[1]


def check_preset_model(preset_file: Path, checkpoint: Path) -> None:
    """Refuse a preset chosen for other weights than ``checkpoint``'s (``--force-preset`` skips this)."""
    try:
        record = json.loads(Path(preset_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable aligner preset ({exc})", preset_file) from None
    digest = preset_digest(record) if isinstance(record, dict) else None
    if digest is None or not checkpoint.is_file():
        return  # hand-written presets name no model; a missing checkpoint is reported by the loader
    actual = file_sha256(checkpoint)
    if not actual.startswith(digest.lower()):
        raise ConfigError(
            f"the preset was chosen for the model with weights @{digest[:8]}, but {checkpoint} is @{actual[:8]}; "
            "choose settings for this model with 'aligner sweep --select', or apply it anyway with --force-preset",
            preset_file,
        )
