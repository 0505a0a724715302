"""Presets: which one applies, how given settings override it, and the model it was chosen for.

One rule for ``aligner align``, ``aligner plot``, ``aligner sweep``'s preset row and
:meth:`aligner.Aligner.from_pretrained`: the preset (the bundle's own, named in its
``aligner.json``, unless another file is named or none is wanted) fills every setting it
records; a setting given explicitly overrides that field only, and the preset's name in the
signature then lists the overridden fields (``preset:deen-guided-dev+layers``).

Presets know their model: settings chosen on a dev set for one model say little about another,
even when its layers fit. A preset records ``model_sha256``, the SHA-256 of the weights it
belongs to (for a bundle, the bundle's own ``model.pt``, not the float32 checkpoint it was
exported from, which stays as ``source_checkpoint``, provenance only). Older presets carry only
``model_signature``, whose ``model:NAME@DIGEST`` field gives the first 8 hex digits. A preset
chosen for other weights is refused, naming the preset file, unless ``force`` (``--force-preset``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Optional, Union

from .config import PRESET_FIELDS
from .errors import ConfigError, InputError
from .io import file_sha256

PresetChoice = Union[bool, str, Path]  # True: the bundle's own; False: none (the paper's defaults); or a file


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


def model_weights(path: Optional[Path]) -> Optional[tuple[str, str]]:
    """(SHA-256 of the weights, their name for messages) of the model at ``path`` (``None``: the default model).

    ``None`` where the weights are not on disk (a hub id not in the cache, a missing file): the
    loader reports those. The digests are the ones the models' signatures carry.
    """
    from .backends import model_kind
    from .backends.fairseq.resources import default_model, find_bundle

    if path is not None and model_kind(Path(path)) == "huggingface":
        if not Path(path).is_dir():
            return None
        from .backends.huggingface.weights import weights_sha256

        return weights_sha256(Path(path)), str(path)
    checkpoint, _ = find_bundle(Path(path) if path is not None else default_model())
    if not checkpoint.is_file():
        return None
    return file_sha256(checkpoint), str(checkpoint)


def check_preset_model(preset: Path, model: Optional[Path]) -> None:
    """Refuse a preset chosen for other weights than those of the model at ``model`` (``force`` skips this)."""
    try:
        record = json.loads(Path(preset).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable aligner preset ({exc})", preset) from None
    digest = preset_digest(record) if isinstance(record, dict) else None
    if digest is None:
        return  # hand-written presets name no model
    weights = model_weights(model)
    if weights is None:
        return
    actual, name = weights
    if not actual.startswith(digest.lower()):
        raise ConfigError(
            f"the preset was chosen for the model with weights @{digest[:8]}, but {name} is @{actual[:8]}; "
            "choose settings for this model with 'aligner sweep --select', or apply it anyway with --force-preset",
            preset,
        )


def bundle_preset(path: Optional[Path]) -> Optional[Path]:
    """The preset file the model's bundle names (``aligner.json`` format 2), if any; ``None`` = the default model."""
    from .backends import model_kind
    from .backends.fairseq.resources import default_model, find_bundle

    if path is not None and model_kind(Path(path)) == "huggingface":
        return None  # presets live in aligner bundles; a Hugging Face directory has none
    _, bundle = find_bundle(Path(path) if path is not None else default_model())
    return None if bundle is None else bundle.preset_path


def preset_file(choice: PresetChoice, path: Optional[Path]) -> Optional[Path]:
    """The file a preset choice means for the model at ``path``."""
    if choice is True:
        return bundle_preset(path)
    if choice is False:
        return None
    return Path(choice)


def with_preset(settings: Mapping[str, Any], preset: Path, given: Collection[str], force: bool = False) -> dict[str, Any]:
    """``settings`` with the preset's values for every field not in ``given``, and ``preset`` naming it.

    ``given`` are the settings chosen explicitly (command-line options, keyword arguments); the
    others in ``settings`` are defaults, which the preset replaces. The name (``NAME+FIELD...``)
    lists the alignment settings in ``given``. The preset must have been chosen for the model at
    ``settings["path"]`` unless ``force``.
    """
    from .evaluation.select import read_preset

    name, recorded = read_preset(preset)
    if not force:
        check_preset_model(preset, settings.get("path"))
    if "symmetrize" in recorded and settings.get("reverse_path") is None:
        raise ConfigError(f"preset {name} ({preset}) symmetrizes two models: give the reverse model with --reverse-path (reverse_path=)")
    chosen = dict(settings)
    overridden = []
    for key, value in recorded.items():
        if key in given:
            overridden.append(key)
        else:
            chosen[key] = value
    # Alignment settings given beside the preset are named too where the preset has no value for
    # them: the name then tells, for every field, whether the preset or the user chose it.
    overridden += [key for key in PRESET_FIELDS if key in given and key not in recorded]
    chosen["preset"] = "+".join([name, *overridden])
    return chosen


def check_preset_indices(
    check: Callable[[Collection[int], Collection[int]], None], layers: Collection[int], heads: Collection[int], preset: Optional[str]
) -> None:
    """Run the model's layer and head ``check`` on ``layers`` and ``heads``; when the ones it
    refuses came from ``preset`` (a run's preset name, ``NAME+FIELD...`` when fields were
    overridden), say so: a preset chosen on another model fits that model's layers, not this one's."""
    name, *overridden = preset.split("+") if preset is not None else (None,)
    for field, given in (("layers", (layers, ())), ("heads", ((), heads))):
        try:
            check(*given)
        except ConfigError as exc:
            if name is None or field in overridden:
                raise
            raise ConfigError(
                f"{exc.message}; preset {name} sets the {field} (was it chosen for another model?): "
                f"give --{field[:-1]} ({field}=) or --no-preset (preset=False)", exc.path
            ) from None


def preset_settings(
    settings: Mapping[str, Any], choice: PresetChoice = True, given: Optional[Collection[str]] = None, force: bool = False
) -> dict[str, Any]:
    """The settings of a run: ``settings`` under the chosen preset (see the module docstring).

    ``given`` defaults to every key of ``settings``, as for keyword arguments.
    """
    chosen = preset_file(choice, settings.get("path"))
    if chosen is None:
        return dict(settings)
    return with_preset(settings, chosen, set(settings) if given is None else given, force)
