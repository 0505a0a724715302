"""One Signature object: built from the model and the settings, updated, formatted in one place."""

from __future__ import annotations

from pathlib import Path

from aligner import __version__
from aligner.backends.base import ModelInfo
from aligner.decisions import DecisionRule
from aligner.extraction import Extraction
from aligner.signature import Signature

INFO = ModelInfo("toy", "0123456789abcdef", 6, 4, 1024, 1024, True, "sentencepiece", "bfloat16")


def test_signature_of_settings_in_order_with_version_last():
    signature = Signature.of(INFO, Extraction((2, 3, 4), (1, 3)), DecisionRule("threshold", 0.3, final_punct=True), preset="dev")
    assert signature.format() == (
        "model:toy@01234567|layer:2-4/6|head:1,3|measure:norm|step:awi|merge:sum-mean|decision:threshold@0.3/rows|eos:null|"
        f"punct:final|lc:yes|subword:sentencepiece|dtype:bf16|preset:dev|version:{__version__}"
    )


def test_update_replaces_in_place_and_adds_before_version():
    signature = Signature.of(INFO, Extraction((2,)), DecisionRule())
    swept = signature.update(layer="all/6", extra="x")
    assert str(swept).split("|")[1] == "layer:all/6" and str(swept).endswith(f"|extra:x|version:{__version__}")
    assert str(signature).split("|")[1] == "layer:2/6"  # the original is unchanged
    assert signature.symmetrized("union", INFO)["symmetrize"] == "union+toy@01234567"
    assert str(signature.extended(scores="no")).endswith(f"|version:{__version__}|scores:no")


def test_no_signature_parts_are_joined_outside_the_signature_module():
    package = Path(__file__).resolve().parents[1] / "aligner"
    offenders = [
        str(path) for path in package.rglob("*.py")
        if path.name != "signature.py" and ('"|".join' in path.read_text() or "|version:" in path.read_text())
    ]
    assert offenders == []
