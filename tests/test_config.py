"""Settings are declared once: AlignConfig's fields and the click options of `align` match both ways."""

from __future__ import annotations

import pytest

from aligner.cli.corpus import align
from aligner.config import FIELD_PARTS, AlignConfig
from aligner.errors import ConfigError

# `align` options that are about input, output and reporting, not settings of the alignment
NOT_SETTINGS = {"src", "tgt", "bitext", "output", "overwrite", "resume", "scores", "output_format", "scores_file", "words_file", "matrix", "preset_file", "no_preset", "force_preset", "threads", "quiet", "verbose", "as_json"}


def test_align_options_are_the_config_fields_and_nothing_else():
    options = {parameter.name for parameter in align.params}
    assert set(FIELD_PARTS) <= options, f"config fields without an option: {set(FIELD_PARTS) - options}"
    assert options - set(FIELD_PARTS) == NOT_SETTINGS, f"options that are no config field: {options - set(FIELD_PARTS) - NOT_SETTINGS}"


def test_option_defaults_are_the_config_defaults():
    defaults = AlignConfig()
    for parameter in align.params:
        if parameter.name in FIELD_PARTS and parameter.name not in ("layers", "heads"):
            default = parameter.default
            if "UNSET" in repr(default):  # click 8.3 marks "no default": None, or False for a flag
                default = False if getattr(parameter, "is_flag", False) else None
            assert default == getattr(defaults, parameter.name), parameter.name


def test_flat_settings_go_to_their_parts_and_replace_keeps_the_rest():
    config = AlignConfig(layers=2, decision="threshold", threshold=0.3, batch_size=4, lowercase=True)
    assert config.extraction.layers == (2,) and config.rule.threshold == 0.3 and config.run.batch_size == 4
    assert config.model.lowercase is True
    changed = config.replace(measure="weight")
    assert changed.extraction.measure == "weight" and changed.rule == config.rule and hash(changed) != hash(config)
    assert config.replace(measure="norm") == config
    with pytest.raises(TypeError):
        AlignConfig(layer=2)
    with pytest.raises(ConfigError, match="threshold"):
        AlignConfig(threshold=2.0)
