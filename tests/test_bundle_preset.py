"""A bundle's own preset is the default setting of `aligner align` (aligner.json format 2)."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from aligner.cli import main
from aligner.errors import ResourceError
from aligner.backends.fairseq.resources import Bundle

from .conftest import FIXTURES, SAMPLE

SRC, TGT = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")
PRESET = {"layers": [3], "heads": [2], "measure": "weight", "step": "awo", "decision": "argmax-source", "final_punct": True}


@pytest.fixture
def bundle(tmp_path):
    directory = tmp_path / "toy-with-preset"
    shutil.copytree(FIXTURES["toy-deen"], directory)
    (directory / "dev-preset.json").write_text(json.dumps({"format": "aligner-preset/1", "name": "toy-dev", "settings": PRESET}))
    description = json.loads((directory / "aligner.json").read_text())
    description.update(format="aligner-bundle/2", preset="dev-preset.json", training={"updates": 300})
    (directory / "aligner.json").write_text(json.dumps(description))
    return directory


def align(*options: str):
    result = CliRunner().invoke(main, ["align", "--src", SRC, "--tgt", TGT, "--device", "cpu", "--scores", *options])
    assert result.exit_code == 0, result.output
    signature = [line for line in result.stderr.splitlines() if "|version:" in line][-1]
    return result.stdout, signature


def test_the_bundles_preset_applies_when_no_setting_is_given(bundle):
    by_default, signature = align("--path", str(bundle))
    by_hand, _ = align("--path", str(bundle), "--no-preset", "--layer", "3", "--head", "2", "--measure", "weight",
                       "--step", "awo", "--decision", "argmax-source", "--final-punct")
    assert by_default == by_hand
    assert "|preset:toy-dev|" in signature and "layer:3/3|head:2|measure:weight|step:awo" in signature


def test_an_option_overrides_its_field_only_and_the_signature_says_which(bundle):
    overridden, signature = align("--path", str(bundle), "--layer", "2")
    by_hand, _ = align("--path", str(bundle), "--no-preset", "--layer", "2", "--head", "2", "--measure", "weight",
                       "--step", "awo", "--decision", "argmax-source", "--final-punct")
    assert overridden == by_hand
    assert "|preset:toy-dev+layers|" in signature and "layer:2/3" in signature


def test_no_preset_gives_the_papers_defaults(bundle):
    plain, signature = align("--path", str(bundle), "--no-preset")
    toy, _ = align("--path", str(FIXTURES["toy-deen"]))
    assert plain == toy and "preset:" not in signature


def test_preset_and_no_preset_exclude_each_other(bundle):
    result = CliRunner().invoke(main, ["align", "--src", SRC, "--tgt", TGT, "--path", str(bundle), "--no-preset",
                                       "--preset", str(bundle / "dev-preset.json")])
    assert result.exit_code == 2 and "exclude each other" in result.output


@pytest.mark.parametrize("change, message", [
    ({"format": "aligner-bundle/1"}, "unknown bundle fields for aligner-bundle/1: preset, training"),
    ({"format": "aligner-bundle/3"}, "format: 'aligner-bundle/3' is not one of"),
    ({"preset": "missing.json"}, "preset: 'missing.json' is not a file"),
    ({"training": 5500}, "training must be a JSON object"),
])
def test_bad_bundle_fields_are_refused_by_name(bundle, change, message):
    description = json.loads((bundle / "aligner.json").read_text())
    description.update(change)
    (bundle / "aligner.json").write_text(json.dumps(description))
    with pytest.raises(ResourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Bundle.read(bundle / "aligner.json")
