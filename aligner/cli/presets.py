"""``--preset`` / ``--no-preset`` of ``align`` and ``plot``: the options, and the library rule (:mod:`aligner.presets`) applied to them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..errors import ConfigError
from .base import options

preset_options = options(
    click.option("--preset", "preset_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="Settings chosen by 'aligner sweep --select'; options given here override them. [default: the model bundle's own preset, if its aligner.json names one]"),
    click.option("--no-preset", is_flag=True, help="Ignore the bundle's preset: the paper's defaults, changed only by the options given."),
    click.option("--force-preset", is_flag=True, help="Apply the preset even though it was chosen for other weights than the model's."),
)


def apply_preset(
    context: click.Context,
    settings: dict,
    preset_file: Optional[Path],
    no_preset: bool,
    options: Optional[dict[str, str]] = None,
    force_preset: bool = False,
) -> dict:
    """The settings under the chosen preset; an option given on the command line (not left at its default) overrides its field.

    ``options`` maps a setting to the parameter that gives it where the names differ (plot's ``measures``).
    """
    from ..presets import preset_settings

    if preset_file is not None and no_preset:
        raise click.UsageError("--preset and --no-preset exclude each other")
    names = options or {}
    defaults = (None, click.core.ParameterSource.DEFAULT)
    given = {key for key in settings if context.get_parameter_source(names.get(key, key)) not in defaults}
    try:
        return preset_settings(settings, False if no_preset else (preset_file or True), given, force=force_preset)
    except ConfigError as exc:
        if exc.path is not None:  # about the preset file itself (chosen for other weights): a one-line error, exit 1
            raise
        # a preset that needs an option not given: a usage error, as before the library had the rule
        raise click.UsageError(str(exc)) from None
