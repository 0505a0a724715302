"""The bench's floor: its FLOP count from the model's dimensions agrees with torch's own count of our forward pass."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval"))

from bench_floor import batch_flops, padding_share  # noqa: E402


@pytest.mark.parametrize("deepest", [1, 2, 3])
@pytest.mark.parametrize("need_values", [True, False])
def test_flops_match_torchs_counter_on_the_forward(deepest, need_values):
    from torch.utils.flop_counter import FlopCounterMode

    from aligner.backends.fairseq.checkpoint import load_model

    model, _ = load_model(ROOT / "data" / "models" / "toy-deen" / "model.pt")
    first = model.encoder_layers[0]
    batch, src_len, tgt_len = 3, 7, 5
    src = torch.randint(4, 50, (batch, src_len))
    src[:, -1] = 2
    prev = torch.randint(4, 50, (batch, tgt_len))
    prev[:, 0] = 2
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.forced_decode(src, prev, {deepest - 1}, need_values)
    counted = batch_flops(batch, src_len, tgt_len, first.fc1.in_features, first.fc1.out_features, len(model.encoder_layers),
                          deepest, need_values)
    assert counted == counter.get_total_flops()


def test_padding_share_counts_the_end_of_sentence_token():
    pair = lambda s, t: SimpleNamespace(src=SimpleNamespace(ids=[0] * s), tgt=SimpleNamespace(ids=[0] * t))
    # source rows 2+1 and 4+1 padded to 5: 2 of 10 positions; target rows 3+1 and 3+1: none
    assert padding_share([[pair(2, 3), pair(4, 3)]]) == (pytest.approx(0.2), 0.0)


def test_batch_shape_table_reports_the_median_of_per_round_ratios():
    import bench

    rows = [{"batch_size": 256, "max_tokens": 1000, "seconds": [2.0, 1.0, 4.0]},
            {"batch_size": 32, "max_tokens": None, "seconds": [3.0, 1.1, 4.0]}]
    lines = bench.batching_lines({"pairs": 10, "rounds": 3, "rows": rows})
    # per-round ratios 1.5, 1.1, 1.0: median 1.1 (the medians of the times, 2.0 and 3.0, would say 1.5)
    assert "| 32 | none | 3.00 | **1.10** |" in lines
    assert "| 256 | 1000 | 2.00 | **1.00** |" in lines
    assert bench.batching_lines(None) == []
