#!/usr/bin/env bash
# The paper's setting (README section 4: Europarl, separate 10k SentencePiece models and dictionaries,
# transformer_iwslt_de_en, lr 1e-3, 4,000 warm-up updates, 8 x 4k tokens per update) run end to end
# on a small slice on this CPU, with the same scripts and variables as the GPU command. What
# changes: the corpus (a slice standing in for europarl-v7), the vocabulary size (a 10k vocabulary
# cannot be learned from a few thousand sentences), the update count and the state directory.
#
#   bash eval/recipe/paper_slice.sh            # PAIRS=3000 UPDATES=4 WORK=~/.cache/aligner/paper-slice
#
# Writes eval/results/paper-slice.md: every command with its wall time, and the sweep table of the
# resulting (untrained) model, which shows that separate vocabularies run through aligner too.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DATA=${ALIGNER_DATA:-$ROOT/../shared/data}
WORK=${WORK:-$HOME/.cache/aligner/paper-slice}
PAIRS=${PAIRS:-3000}
UPDATES=${UPDATES:-4}
SPM_VOCAB=${SPM_VOCAB:-2000}
PY=$ROOT/.venv/bin/python
REPORT=${REPORT:-$ROOT/eval/results/paper-slice.md}
GOLD=$DATA/gold/deen

mkdir -p "$WORK/raw"
LOG=$WORK/steps.md
: > "$LOG"

step() {  # step "description" command...: run it, append the command and its wall time to the report
  local what=$1; shift
  local started=$SECONDS
  "$@"
  printf '| %s | `%s` | %d s |\n' "$what" "$*" $((SECONDS - started)) >> "$LOG"
}

slice() {
  # Stand-in for europarl-v7.de-en: the first $PAIRS pairs of the WMT15 training sample in the
  # shared data (partly Europarl), written outside the repository as prepare_data.py --extra reads it.
  "$PY" - "$DATA/train/deen/more" "$WORK/raw/europarl-slice" "$PAIRS" <<'EOF'
import sys
from pathlib import Path
more, out, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
lines = {lang: (more / f"all.{lang}").read_text(encoding="utf-8").split("\n") for lang in ("de", "en")}
origins = (more / "all.origin").read_text(encoding="utf-8").split("\n")
chosen = [i for i, origin in enumerate(origins) if origin.startswith("deen_wmt15sample10k/")][:count]
for lang in ("de", "en"):
    Path(f"{out}.{lang}").write_text("".join(lines[lang][i] + "\n" for i in chosen), encoding="utf-8")
print(f"{len(chosen)} pairs -> {out}.{{de,en}}")
EOF
}

step "slice of the corpus" slice
step "prepare (Moses, lowercase, separate SentencePiece, fairseq-preprocess)" \
  "$PY" "$HERE/prepare_data.py" --data "$DATA" --out "$WORK/state" --extra "$WORK/raw/europarl-slice" \
  --no-default-corpora --spm-vocab "$SPM_VOCAB" --spm-separate --valid-size 100 --force
rm -rf "$WORK/state/ckpt_de_en"
# the GPU command of README section 4, with STATE, MAX_UPDATE and the checkpoint interval changed
step "train transformer_iwslt_de_en (d=512, separate embeddings)" env \
  STATE="$WORK/state" ARCH=transformer_iwslt_de_en EMBED_DIM=512 FFN_DIM=1024 HEADS=4 SHARE= LR=1e-3 WARMUP=4000 \
  MAX_TOKENS=4096 UPDATE_FREQ=8 MAX_UPDATE="$UPDATES" SAVE_INTERVAL="$UPDATES" SEED=1 NICE=0 \
  bash "$HERE/train.sh" de-en
step "export an aligner bundle (fp16, per-language SentencePiece models)" \
  "$PY" "$ROOT/eval/export_bundle.py" "$WORK/state/ckpt_de_en/checkpoint_last.pt" "$WORK/bundle" \
  --data-dir "$WORK/state/bin" --spm-src "$WORK/state/spm/spm.de.model" --spm-tgt "$WORK/state/spm/spm.en.model" \
  --name paper-slice
step "sweep every layer on the RWTH gold" \
  "$ROOT/.venv/bin/aligner" sweep --path "$WORK/bundle" --src "$GOLD/deen.lc.src" --tgt "$GOLD/deen.lc.tgt" \
  --gold "$GOLD/deen.talp" --no-heads --device cpu -o "$WORK/sweep" --overwrite

{
  echo "# The paper's setting end to end on a slice (CPU)"
  echo
  echo "\`bash eval/recipe/paper_slice.sh\` on $(date -u +%Y-%m-%d), $(nproc) CPU cores, shared with other jobs:"
  echo "$PAIRS pairs, SentencePiece vocabulary $SPM_VOCAB per language, $UPDATES updates of 8 x 4,096 tokens."
  echo "Everything else is the GPU/Europarl command of eval/recipe/README.md section 4."
  echo
  echo "| step | command | wall time |"
  echo "|---|---|---|"
  cat "$LOG"
  echo
  echo "Sweep of the $UPDATES-update model (untrained: this shows the pipeline, not alignment quality):"
  echo
  sed -n '/^| setting/,/^$/p' "$WORK/sweep.md"
  echo "Bundle: $(cat "$WORK/bundle/aligner.json" | tr -s ' \n' ' ')"
} | sed -e "s|$ROOT/||g" -e "s|$HOME|~|g" > "$REPORT"
echo "wrote $REPORT"
