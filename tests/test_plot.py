"""Pictures of alignments: every panel kind and the sweep curve, as PNG, SVG and PDF of the right size."""

from __future__ import annotations

import re
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner import plot
from aligner.cli import main
from aligner.config import AlignConfig
from aligner.errors import ConfigError, InputError
from aligner.io import SentencePair, parse_gold, read_gold, read_parallel
from aligner.evaluation.metrics import AlignmentCounts
from aligner.extraction import ScoreRequest
from aligner.pipeline import Aligner
from aligner.evaluation.sweep import SweepResult, SweepRow

from .conftest import SAMPLE

SRC, TGT, GOLD = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), str(SAMPLE / "sample.talp")
DPI = 50


@pytest.fixture(scope="module")
def aligner():
    return Aligner(AlignConfig(device="cpu"))


@pytest.fixture(scope="module")
def sample():
    return list(read_parallel(SRC, TGT)), read_gold(GOLD)  # gold is 1-based talp


# --- reading back image sizes ----------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def svg_size(path: Path) -> tuple[float, float]:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return tuple(float(root.attrib[key].removesuffix("pt")) for key in ("width", "height"))


def pdf_size(path: Path) -> tuple[float, float]:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    [box] = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    return float(box[0]), float(box[1])


def assert_image(path: Path, inches: tuple[float, float], dpi: int = DPI) -> None:
    """A non-empty image whose size is the figure size: pixels for PNG, points (1/72 in) for SVG and PDF."""
    assert path.stat().st_size > 1000
    width, height = inches
    if path.suffix == ".png":
        size = png_size(path)
        assert size == pytest.approx((width * dpi, height * dpi), abs=1)
        import matplotlib.image

        assert matplotlib.image.imread(str(path)).shape[:2] == (size[1], size[0])
    elif path.suffix == ".svg":
        assert svg_size(path) == pytest.approx((width * 72, height * 72), abs=0.01)
    else:
        assert pdf_size(path) == pytest.approx((width * 72, height * 72), abs=0.01)


# --- one sentence pair -----------------------------------------------------------------------

PANEL_KINDS = {
    "weight-vs-norm": dict(layers=[2], measures=["weight", "norm"], steps=["awi"]),
    "several-layers": dict(layers=[1, 2, 3], measures=["norm"], steps=["awi"]),
    "awo-vs-awi": dict(layers=[2], measures=["weight"], steps=["awo", "awi"]),
    "gold-overlay": dict(layers=[1, 3], measures=["weight", "norm"], steps=["awi"], gold=True),
}


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
@pytest.mark.parametrize("kind", PANEL_KINDS)
def test_pair_figure_in_every_format(aligner, sample, tmp_path, kind, suffix):
    pairs, golds = sample
    spec = PANEL_KINDS[kind]
    requests = plot.panel_requests(spec["layers"], spec["measures"], spec["steps"])
    drawn = plot.pair_plot(aligner, pairs[2], requests, golds[2] if spec.get("gold") else None, index=2)
    figure = plot.alignment_figure(drawn)
    rows = len(spec["measures"]) * len(spec["steps"])
    panels = [ax for ax in figure.get_axes() if ax.images]
    assert len(panels) == len(requests) == rows * len(spec["layers"])
    assert {ax.get_title() for ax in panels} == {plot.panel_title(r, 3) for r in requests}
    path = plot.save_figure(figure, tmp_path / f"{kind}{suffix}", dpi=DPI)
    assert_image(path, tuple(figure.get_size_inches()))


def test_panels_show_words_links_and_gold(aligner, sample):
    pairs, golds = sample
    pair, gold = pairs[2], golds[2]
    requests = plot.panel_requests([1, 2], ["weight", "norm"], ["awi"])
    drawn = plot.pair_plot(aligner, pair, requests, gold, index=2)
    figure = plot.alignment_figure(drawn)
    panels = {ax.get_title(): ax for ax in figure.get_axes() if ax.images}
    by_request = {request: panels[plot.panel_title(request, 3)] for request in requests}
    # rows weight, norm; columns layers 1, 2. Source words (and </s>) on x along the bottom row,
    # target words on y in the first column.
    bottom_left = by_request[ScoreRequest(0, None, "norm", "awi")]
    assert [t.get_text() for t in bottom_left.get_xticklabels()] == [*pair.src, "</s>"]
    assert [t.get_text() for t in bottom_left.get_yticklabels()] == list(pair.tgt)
    assert not any(t.get_text() for t in by_request[ScoreRequest(1, None, "weight", "awi")].get_xticklabels())
    for request, ax in by_request.items():
        assert ax.images[0].get_array().shape == (len(pair.tgt), len(pair.src) + 1)
        circles = [p for p in ax.patches if type(p).__name__ == "Circle"]
        boxes = [p for p in ax.patches if type(p).__name__ == "Rectangle"]
        marked = sorted((round(c.center[0]), round(c.center[1])) for c in circles)
        assert marked == sorted((l.src, l.tgt) for l in drawn.links[request])
        assert len(boxes) == len(gold.possible) and gold.possible - gold.sure  # sure boxes and dashed possible-only boxes
        assert sum(b.get_linestyle() in ("-", "solid") for b in boxes) == len(gold.sure)


def test_links_are_the_aligners_own(aligner, sample):
    pairs, _ = sample
    [result] = aligner.align([pairs[1]])
    drawn = plot.pair_plot(aligner, pairs[1], aligner.requests)
    assert drawn.links[aligner.requests[0]] == result.links
    assert drawn.matrices[aligner.requests[0]].shape == (len(pairs[1].tgt), len(pairs[1].src) + 1)
    assert "layer:1/3" in drawn.caption and "decision:argmax" in drawn.caption and drawn.title == "line 1"


def test_pair_plot_refuses_what_it_cannot_draw(aligner):
    pair = SentencePair(("Das", "Haus"), ("The", "house"))
    with pytest.raises(ConfigError, match="layer 4 does not exist"):
        plot.pair_plot(aligner, pair, plot.panel_requests([4], ["norm"], ["awi"]))
    with pytest.raises(ConfigError, match="at least one"):
        plot.pair_plot(aligner, pair, [])
    with pytest.raises(InputError, match="nothing to plot") as error:
        plot.pair_plot(aligner, SentencePair((), ("The",)), aligner.requests, index=4)
    assert error.value.line == 5
    with pytest.raises(InputError, match="gold link 2-0 .* out of range"):
        plot.pair_plot(aligner, pair, aligner.requests, parse_gold("3-1"))


def test_word_without_pieces_and_long_words_still_draw(aligner, tmp_path):
    drawn = plot.pair_plot(aligner, SentencePair(("Donaudampfschifffahrtsgesellschaftskapitän",), ("Hi",)), aligner.requests)
    figure = plot.alignment_figure(drawn)
    labels = [t.get_text() for ax in figure.get_axes() if ax.images for t in ax.get_xticklabels()]
    assert labels[0].endswith("…") and len(labels[0]) == plot.MAX_LABEL
    assert_image(plot.save_figure(figure, tmp_path / "one.png", dpi=DPI), tuple(figure.get_size_inches()))


def test_format_comes_from_the_suffix(tmp_path):
    assert [plot.image_format(f"a{s}") for s in (".png", ".SVG", ".pdf")] == ["png", "svg", "pdf"]
    with pytest.raises(ConfigError, match=r"\.png, \.svg or \.pdf"):
        plot.image_format("figure.jpg")
    assert plot.numbered_path(tmp_path / "out.png", 3) == tmp_path / "out-3.png"


# --- the sweep curve -------------------------------------------------------------------------


def make_sweep() -> SweepResult:
    counts = AlignmentCounts(10, 8, 9, 5, 6)
    rows = [
        SweepRow(layer, head, measure, step, 0.5 - 0.05 * layer + (0.1 if measure == "weight" else 0), 0.5, 0.5, 0.5, counts)
        for layer in (1, 2, 3)
        for head in (None, 1, 2)
        for measure in ("weight", "norm")
        for step in ("awi", "awo")
    ]
    return SweepResult(rows, 20, "model:toy|layer:all/3|measure:all|step:all")


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_sweep_curve_in_every_format(tmp_path, suffix):
    figure = plot.sweep_figure(make_sweep())
    [ax] = figure.get_axes()
    assert len(ax.get_lines()) == 4  # measure x step, layer-level rows only
    assert all(list(line.get_xdata()) == [1, 2, 3] for line in ax.get_lines())
    labels = sorted(t.get_text().split(" (")[0] for t in ax.get_legend().get_texts())
    assert labels == ["AWI norm", "AWI weight", "AWO norm", "AWO weight"]
    path = plot.save_figure(figure, tmp_path / f"curve{suffix}", dpi=DPI)
    assert_image(path, tuple(figure.get_size_inches()))


def test_sweep_json_round_trip_and_errors(tmp_path):
    result = make_sweep()
    path = tmp_path / "sweep.json"
    path.write_text(result.to_json())
    assert plot.read_sweep_json(path) == result
    path.write_text('{"pairs": 3, "rows": []}')
    with pytest.raises(InputError, match="not a sweep JSON"):
        plot.read_sweep_json(path)
    path.write_text("not json")
    with pytest.raises(InputError, match="not a sweep JSON"):
        plot.read_sweep_json(path)
    with pytest.raises(InputError, match="no layer-level rows"):
        plot.sweep_figure(SweepResult([r for r in result.rows if r.head is not None], 20, ""))


# --- without matplotlib ----------------------------------------------------------------------


def test_missing_matplotlib_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    with pytest.raises(ConfigError, match=r"pip install 'aligner\[plot\]'"):
        plot.require_matplotlib()
    with pytest.raises(ConfigError, match="matplotlib"):
        plot.sweep_figure(make_sweep())
    out = tmp_path / "x.png"
    result = CliRunner().invoke(main, ["plot", "--src", SRC, "--tgt", TGT, "-o", str(out), "--device", "cpu"])
    assert result.exit_code == 1 and "pip install 'aligner[plot]'" in result.stderr and not out.exists()


# --- the command line ------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_plot_one_file_per_line(tmp_path):
    out = tmp_path / "pairs.png"
    args = ["plot", "--src", SRC, "--tgt", TGT, "--lines", "1,3", "--gold", GOLD, "--layers", "1,2",
            "--measures", "weight,norm", "--steps", "awi", "-o", str(out), "--dpi", str(DPI), "--device", "cpu"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["pairs-1.png", "pairs-3.png"]
    assert "layer:1,2/3" in result.stderr and "measure:weight,norm" in result.stderr
    for name in written:
        width, height = png_size(tmp_path / name)
        assert width >= 5 * DPI - 1 and height > 2 * DPI
    again = run(*args)
    assert again.exit_code == 1 and "use --overwrite" in again.stderr
    assert run(*args, "--overwrite").exit_code == 0


def test_cli_plot_single_line_bitext_and_errors(tmp_path):
    bitext = tmp_path / "pairs.txt"
    bitext.write_text("Das Haus ist klein . ||| The house is small .\n", encoding="utf-8")
    out = tmp_path / "one.svg"
    result = run("plot", "-i", str(bitext), "--steps", "awo,awi", "-o", str(out), "--device", "cpu")
    assert result.exit_code == 0, result.output
    svg_size(out)
    too_far = run("plot", "-i", str(bitext), "--lines", "2", "-o", str(tmp_path / "x.png"), "--device", "cpu")
    assert too_far.exit_code == 1 and "line 2 was asked for" in too_far.stderr and "has only 1 lines" in too_far.stderr
    bad_layer = run("plot", "-i", str(bitext), "--layers", "0", "-o", str(tmp_path / "x.png"))
    assert bad_layer.exit_code == 2 and "positive whole number" in bad_layer.stderr
    bad_suffix = run("plot", "-i", str(bitext), "-o", str(tmp_path / "x.gif"))
    assert bad_suffix.exit_code == 1 and ".png, .svg or .pdf" in bad_suffix.stderr
    wrong_gold = run("plot", "--src", SRC, "--tgt", TGT, "--gold", GOLD, "--gold-zero-based", "--lines", "2",
                     "-o", str(tmp_path / "x.png"), "--device", "cpu")
    assert wrong_gold.exit_code == 1 and f"{GOLD}:2: gold link" in wrong_gold.stderr
    assert not (tmp_path / "x.png").exists()


def test_cli_plot_sweep(tmp_path):
    source = tmp_path / "deen.json"
    source.write_text(make_sweep().to_json())
    out = tmp_path / "curve.pdf"
    result = run("plot-sweep", "--json", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert pdf_size(out) == pytest.approx((6.4 * 72, 4.4 * 72))
    assert run("plot-sweep", "--json", str(source), "-o", str(out)).exit_code == 1
    missing = run("plot-sweep", "--json", str(tmp_path / "none.json"), "-o", str(tmp_path / "c.png"))
    assert missing.exit_code == 1 and "cannot read" in missing.stderr
