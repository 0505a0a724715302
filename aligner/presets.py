"""A bundle's own settings as defaults: which preset applies, and how given settings override it.

One rule for ``aligner align``, ``aligner plot`` and :meth:`aligner.Aligner.from_pretrained`:
the preset (the bundle's own, named in its ``aligner.json``, unless another file is named or
none is wanted) fills every setting it records; a setting given explicitly overrides that
field only, and the preset's name in the signature then lists the overridden fields
(``preset:deen-guided-dev+layers``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Collection, Mapping, Optional, Union

from .errors import ConfigError

PresetChoice = Union[bool, str, Path]  # True: the bundle's own; False: none (the paper's defaults); or a file


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


def with_preset(settings: Mapping[str, Any], preset: Path, given: Collection[str]) -> dict[str, Any]:
    """``settings`` with the preset's values for every field not in ``given``, and ``preset`` naming it.

    ``given`` are the settings chosen explicitly (command-line options, keyword arguments); the
    others in ``settings`` are defaults, which the preset replaces.
    """
    from .evaluation.select import read_preset

    name, recorded = read_preset(preset)
    if "symmetrize" in recorded and settings.get("reverse_path") is None:
        raise ConfigError(f"preset {name} ({preset}) symmetrizes two models: give the reverse model with --reverse-path (reverse_path=)")
    chosen = dict(settings)
    overridden = []
    for key, value in recorded.items():
        if key in given:
            overridden.append(key)
        else:
            chosen[key] = value
    chosen["preset"] = "+".join([name, *overridden])
    return chosen


def preset_settings(settings: Mapping[str, Any], choice: PresetChoice = True, given: Optional[Collection[str]] = None) -> dict[str, Any]:
    """The settings of a run: ``settings`` under the chosen preset (see the module docstring).

    ``given`` defaults to every key of ``settings``, as for keyword arguments.
    """
    chosen = preset_file(choice, settings.get("path"))
    if chosen is None:
        return dict(settings)
    return with_preset(settings, chosen, set(settings) if given is None else given)
