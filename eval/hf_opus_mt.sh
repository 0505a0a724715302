#!/usr/bin/env bash
# AER of OPUS-MT de->en (Helsinki-NLP/opus-mt-de-en, a MarianMT model) on the RWTH German-English
# gold: every layer and head (weights and norms, AWO and AWI), settings chosen on the dev set
# deen_bicici100 without touching the test set, then the chosen setting aligned and scored.
#
# NOT RUN HERE: the machine this was written on has no hub access, so neither the download nor
# any number below was produced; a user with hub access runs it as `make hf-opus-mt`. Also
# untested here: CUDA (--device cuda) and nccl (torchrun); DEVICE=cuda picks the GPU.
#
# Many OPUS-MT models were trained with Marian's guided alignment (one head of the last decoder
# layer supervised); whether the conversion to Hugging Face keeps that head's index is not
# known, so the per-head rows of the sweep (OUT.md) say which head it is.
#
# Notes: OPUS-MT is cased; the RWTH text (deen.src/.tgt) is cased too, but the dev set
# deen_bicici100 is lowercased, which handicaps a cased model on the dev side only.
# Needs the hf extra: pip install -e '.[hf]'.
set -euo pipefail

MODEL=${MODEL:-Helsinki-NLP/opus-mt-de-en}
DATA=${ALIGNER_DATA:-../shared/data}
OUT=${OUT:-eval/results/opus-mt-de-en}
PY=${PY:-.venv/bin/python}
DEVICE=${DEVICE:-auto}
GOLD=$DATA/gold/deen

# 1. The one step that needs the network: put the model into the local Hugging Face cache.
#    aligner itself never downloads; it then reads the cached hub id offline.
if [ ! -d "$MODEL" ]; then
    "$PY" -c "import sys; from huggingface_hub import snapshot_download; snapshot_download(sys.argv[1])" "$MODEL"
fi
export HF_HUB_OFFLINE=1
mkdir -p "$(dirname "$OUT")"

# 2. Sweep every layer and head on the RWTH gold; choose layers, measure, step and decision on
#    deen_bicici100 (ALIGNER_DATA), report the choice on RWTH and write OUT.preset.json.
"$PY" -m aligner sweep --path "$MODEL" --src "$GOLD/deen.src" --tgt "$GOLD/deen.tgt" --gold "$GOLD/deen.talp" \
    --per-head --select -o "$OUT" --overwrite --device "$DEVICE"

# 3. The chosen setting on the whole test set, then its AER (the number to report with its signature).
"$PY" -m aligner align --path "$MODEL" --preset "$OUT.preset.json" --src "$GOLD/deen.src" --tgt "$GOLD/deen.tgt" \
    -o "$OUT.align" --overwrite --device "$DEVICE"
"$PY" -m aligner score --gold "$GOLD/deen.talp" --hyp "$OUT.align" --src "$GOLD/deen.src" --tgt "$GOLD/deen.tgt"

# The paper's default for comparison (layer round(L/3), norms, AWI, layer level).
"$PY" -m aligner align --path "$MODEL" --src "$GOLD/deen.src" --tgt "$GOLD/deen.tgt" -o "$OUT.default.align" --overwrite --device "$DEVICE"
"$PY" -m aligner score --gold "$GOLD/deen.talp" --hyp "$OUT.default.align"
