#!/usr/bin/env bash
# Case-insensitive sacreBLEU of one checkpoint on the held-out test set (WMT newstest2014).
#
#   bash eval/recipe/bleu.sh de-en ~/.cache/aligner/train/deen/ckpt_de_en/checkpoint_best.pt
#   N=20 bash eval/recipe/bleu.sh de-en CKPT        # first 20 sentences only (a smoke test)
#
# Source: the tokenized + lowercased + SentencePiece-encoded test file prepare_data.py wrote.
# Hypotheses: beam search (fairseq-interactive), SentencePiece pieces joined back into Moses
# tokens, Moses-detokenized (sacremoses), then scored with `sacrebleu -lc` against the RAW
# references (raw/test.<tgt>): the model only ever sees lowercased text, so the score is
# case-insensitive by construction.
# Writes <ckpt dir>/bleu/<ckpt name>.<N>.{pieces,hyp,score} and prints the score with its signature.
set -euo pipefail

DIRECTION=${1:?usage: bleu.sh de-en|en-de CKPT}
CKPT=${2:?usage: bleu.sh de-en|en-de CKPT}
case "$DIRECTION" in de-en|en-de) ;; *) echo "usage: bleu.sh de-en|en-de CKPT" >&2; exit 2 ;; esac
SRC=${DIRECTION%-*}
TGT=${DIRECTION#*-}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FAIRSEQ_BIN=${FAIRSEQ_BIN:-$ROOT/.venv/bin}
PY=$FAIRSEQ_BIN/python

STATE=${STATE:-$HOME/.cache/aligner/train/deen}
DATA=${DATA:-$STATE/bin}                  # only the dictionaries are read from here
SRC_FILE=${SRC_FILE:-$STATE/spm_enc/test.$SRC}
REF_FILE=${REF_FILE:-$STATE/raw/test.$TGT}
N=${N:-all}
BEAM=${BEAM:-5}
BATCH=${BATCH:-64}
NICE=${NICE:-0}
CPU_FLAG=()
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  CPU_FLAG=(--cpu)
fi

OUTDIR=${OUTDIR:-$(dirname "$CKPT")/bleu}
mkdir -p "$OUTDIR"
STEM=$OUTDIR/$(basename "$CKPT" .pt).$N
export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1   # torch >= 2.6; our own trusted checkpoints

take() { if [[ "$N" == all ]]; then cat "$1"; else head -n "$N" "$1"; fi; }

# 1. translate: H-<id>\t<score>\t<pieces>; sorted by id afterwards (interactive prints per batch)
take "$SRC_FILE" | nice -n "$NICE" "$FAIRSEQ_BIN/fairseq-interactive" "$DATA" \
    --path "$CKPT" --source-lang "$SRC" --target-lang "$TGT" \
    --beam "$BEAM" --max-len-a 1.2 --max-len-b 10 \
    --buffer-size 1024 --batch-size "$BATCH" "${CPU_FLAG[@]}" 2> "$STEM.log" \
  | grep '^H-' | sed 's/^H-//' | sort -n -k1,1 | cut -f3 > "$STEM.pieces"

# 2. pieces -> Moses tokens -> detokenized text
"$PY" - "$TGT" "$STEM.pieces" "$STEM.hyp" <<'EOF'
import sys
from sacremoses import MosesDetokenizer
lang, src, dst = sys.argv[1:]
md = MosesDetokenizer(lang=lang)
with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
    for line in f:
        tokens = "".join(line.split()).replace("\u2581", " ").split()
        g.write(md.detokenize(tokens) + "\n")
EOF

# 3. score against the raw references (same slice)
n_hyp=$(wc -l < "$STEM.hyp")
take "$REF_FILE" > "$STEM.ref"
n_ref=$(wc -l < "$STEM.ref")
if [[ "$n_hyp" != "$n_ref" ]]; then
  echo "bleu.sh: $n_hyp hypotheses for $n_ref references (see $STEM.log)" >&2
  exit 1
fi
"$FAIRSEQ_BIN/sacrebleu" "$STEM.ref" -i "$STEM.hyp" -lc -m bleu --format text | tee "$STEM.score"
