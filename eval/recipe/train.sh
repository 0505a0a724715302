#!/usr/bin/env bash
# Resumable fairseq training of a German<->English Transformer for `aligner`.
#
#   bash eval/recipe/train.sh de-en        # or en-de
#   GUIDED=1 bash eval/recipe/train.sh de-en   # guided alignment (Garg et al. 2019), needs teacher_align.py
#   setsid nohup bash eval/recipe/train.sh de-en > /dev/null 2>&1 &   # detached
#
# Resuming: fairseq-train restores <save dir>/checkpoint_last.pt (model, optimizer, lr schedule,
# data iterator position) by itself, so re-running the same command continues where it stopped.
# A lock file makes a second copy for the same save dir exit at once.
#
# Warm start: with no checkpoint_last.pt in the save dir, training starts from the shipped bundle
# WARM_FROM (the repository is all that survives a new machine): warm_start.py turns it into a
# checkpoint (float32 weights, optimizer reset, update count and epoch position continued) that
# fairseq loads once (--continue-once). WARM_FROM= (empty) trains from scratch. WARM_NEXT_EPOCH=1
# starts the epoch after the bundle's instead of its exact position (needed when the data differs).
# WARM_REVERSE=1: WARM_FROM translates the other way (en->de started from the de->en bundle; one
# joint vocabulary), passed to warm_start.py as --reverse-direction (the epoch restarts).
#
# Every setting below can be overridden from the environment, e.g. for the paper's setting on a GPU:
#   STATE=/data/europarl_deen ARCH=transformer_iwslt_de_en EMBED_DIM=512 FFN_DIM=1024 HEADS=4 \
#   SHARE=--share-decoder-input-output-embed LR=1e-3 WARMUP=4000 MAX_TOKENS=8192 UPDATE_FREQ=8 \
#   bash eval/recipe/train.sh de-en
set -euo pipefail

DIRECTION=${1:?usage: train.sh de-en|en-de}
case "$DIRECTION" in
  de-en|en-de) ;;
  *) echo "usage: train.sh de-en|en-de" >&2; exit 2 ;;
esac
SRC=${DIRECTION%-*}
TGT=${DIRECTION#*-}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FAIRSEQ_BIN=${FAIRSEQ_BIN:-$ROOT/.venv/bin}

STATE=${STATE:-$HOME/.cache/aligner/train/deen}   # what prepare_data.py --out wrote
# GUIDED=1: fairseq's transformer_align, one head of one decoder layer supervised by the teacher's
# piece alignments (<state>/bin_align from teacher_align.py) at the step that predicts each token.
GUIDED=${GUIDED:-0}
# FULL_CONTEXT=1 (with GUIDED=1): the supervised layer's attention comes from a second decoder pass
# without the causal mask (fairseq's --full-context-alignment, Garg et al. 2019 sec. 4.2); aligner
# reads it with `--step full`. Its own save dir: the objective differs from the causal run's.
FULL_CONTEXT=${FULL_CONTEXT:-0}
# GUIDED_STEP=awi (with GUIDED=1): the teacher's links moved to the step that reads each target piece
# (<state>/bin_align_awi from `teacher_align.py --step awi`), the step aligner's presets read; the
# supervised layer defaults to decoder layer 3 (0-based 2), whose head 1 the causal run's dev sweep chose.
GUIDED_STEP=${GUIDED_STEP:-awo}
case "$GUIDED_STEP" in
  awo|awi) ;;
  *) echo "train.sh: GUIDED_STEP must be awo or awi" >&2; exit 2 ;;
esac
if [[ "$GUIDED_STEP" == awi && "$FULL_CONTEXT" == 1 ]]; then
  echo "train.sh: GUIDED_STEP=awi supervises the causal pass; it does not combine with FULL_CONTEXT=1" >&2; exit 2
fi
if [[ "$GUIDED" == 1 ]]; then
  if [[ "$GUIDED_STEP" == awi ]]; then
    DATA=${DATA:-$STATE/bin_align_awi}
    SAVE_DIR=${SAVE_DIR:-$STATE/ckpt_${SRC}_${TGT}_guided_awi}
    ALIGNMENT_LAYER=${ALIGNMENT_LAYER:-2}
  fi
  DATA=${DATA:-$STATE/bin_align}
  if [[ "$FULL_CONTEXT" == 1 ]]; then
    SAVE_DIR=${SAVE_DIR:-$STATE/ckpt_${SRC}_${TGT}_guided_full}
  else
    SAVE_DIR=${SAVE_DIR:-$STATE/ckpt_${SRC}_${TGT}_guided}
  fi
  ARCH=${ARCH:-transformer_align}
  ALIGNMENT_LAYER=${ALIGNMENT_LAYER:-4}     # 0-based: decoder layer 5 of 6
  ALIGNMENT_HEADS=${ALIGNMENT_HEADS:-1}
  ALIGNMENT_LAMBDA=${ALIGNMENT_LAMBDA:-1.0}    # 0.05 (Garg et al.) for the first 500 updates of deen-guided, 1.0 since: see the recipe README
  CRITERION=label_smoothed_cross_entropy_with_alignment
  CRITERION_ARGS=(--criterion "$CRITERION" --label-smoothing 0.1 --alignment-lambda "$ALIGNMENT_LAMBDA"
                  --load-alignments --alignment-layer "$ALIGNMENT_LAYER" --alignment-heads "$ALIGNMENT_HEADS")
  if [[ "$FULL_CONTEXT" == 1 ]]; then CRITERION_ARGS+=(--full-context-alignment); fi
  # the guided model is the package's default model (aligner/models/); the plain ones stay in data/models
  DEFAULT_WARM=$ROOT/aligner/models/${SRC}${TGT}-guided
  [[ -f "$DEFAULT_WARM/aligner.json" ]] || DEFAULT_WARM=$ROOT/data/models/${SRC}${TGT}-small
else
  SAVE_DIR=${SAVE_DIR:-$STATE/ckpt_${SRC}_${TGT}}
  CRITERION=label_smoothed_cross_entropy
  CRITERION_ARGS=(--criterion "$CRITERION" --label-smoothing 0.1)
  DEFAULT_WARM=$ROOT/data/models/${SRC}${TGT}-small
fi
DATA=${DATA:-$STATE/bin}
[[ -f "$DEFAULT_WARM/aligner.json" ]] || DEFAULT_WARM=
WARM_FROM=${WARM_FROM-$DEFAULT_WARM}
WARM_REVERSE=${WARM_REVERSE:-0}

ARCH=${ARCH:-transformer}
ENC_LAYERS=${ENC_LAYERS:-6}
DEC_LAYERS=${DEC_LAYERS:-6}
EMBED_DIM=${EMBED_DIM:-256}
FFN_DIM=${FFN_DIM:-1024}
HEADS=${HEADS:-4}
# joint dictionary -> all three embedding matrices shared; with separate dictionaries use
# SHARE=--share-decoder-input-output-embed (or SHARE= for none)
SHARE=${SHARE---share-all-embeddings}
DROPOUT=${DROPOUT:-0.1}
LR=${LR:-5e-4}
WARMUP=${WARMUP:-800}
MAX_TOKENS=${MAX_TOKENS:-4096}
UPDATE_FREQ=${UPDATE_FREQ:-1}
MAX_UPDATE=${MAX_UPDATE:-60000}
SAVE_INTERVAL=${SAVE_INTERVAL:-500}
KEEP_INTERVAL=${KEEP_INTERVAL:-40}
SEED=${SEED:-1}
NICE=${NICE:-19}
EXTRA_ARGS=${EXTRA_ARGS:-}
# BF16=1: bf16 weights with fp32 master copies; ~1.4x the updates/s of fp32 on a CPU with AMX
# (975-1,150 vs 735-750 target words/s, one thread), ~60x slower matrix products on an AVX2-only
# CPU (fairseq_train.py's docstring): measure before choosing. A run must not switch between the
# two (optimizer state); a warm start may, since it resets the optimizer.
BF16=${BF16:-0}

# CPU=1 forces --cpu, CPU=0 forbids it; by default --cpu exactly when torch sees no CUDA device.
if [[ -z "${CPU:-}" ]]; then
  if "$FAIRSEQ_BIN/python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    CPU=0
  else
    CPU=1
  fi
fi
CPU_FLAG=()
[[ "$CPU" == 1 ]] && CPU_FLAG=(--cpu)

mkdir -p "$SAVE_DIR"
LOG=$SAVE_DIR/train.log

# One trainer per save dir: the lock fd is inherited by fairseq-train through exec below.
exec 9>"$SAVE_DIR/.lock"
if ! flock -n 9; then
  echo "train.sh: another training run holds $SAVE_DIR/.lock" >&2
  exit 1
fi

# torch >= 2.6 defaults torch.load to weights_only=True, which refuses fairseq's own checkpoints
# (argparse.Namespace inside); this is our own trusted training directory.
export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
export PYTHONUNBUFFERED=1

TRAIN=("$FAIRSEQ_BIN/python" "$HERE/fairseq_train.py")
[[ "$BF16" == 1 ]] && EXTRA_ARGS="--bf16 $EXTRA_ARGS"

WARM_ARGS=()
REVERSE_FLAG=()
[[ "$WARM_REVERSE" == 1 ]] && REVERSE_FLAG=(--reverse-direction)
if [[ ! -f "$SAVE_DIR/checkpoint_last.pt" && -n "$WARM_FROM" ]]; then
  if [[ ! -f "$SAVE_DIR/warm_start.pt" ]]; then
    "$FAIRSEQ_BIN/python" "$HERE/warm_start.py" "$WARM_FROM" "$SAVE_DIR" --data-dir "$DATA" \
      -s "$SRC" -t "$TGT" --criterion "$CRITERION" ${WARM_NEXT_EPOCH:+--next-epoch} "${REVERSE_FLAG[@]}" >> "$LOG" 2>&1
  fi
  WARM_ARGS=(--continue-once "$SAVE_DIR/warm_start.pt")
fi

CMD=(nice -n "$NICE" "${TRAIN[@]}" "$DATA"
  --task translation --source-lang "$SRC" --target-lang "$TGT"
  --arch "$ARCH" $SHARE
  --encoder-layers "$ENC_LAYERS" --decoder-layers "$DEC_LAYERS"
  --encoder-embed-dim "$EMBED_DIM" --decoder-embed-dim "$EMBED_DIM"
  --encoder-ffn-embed-dim "$FFN_DIM" --decoder-ffn-embed-dim "$FFN_DIM"
  --encoder-attention-heads "$HEADS" --decoder-attention-heads "$HEADS"
  --dropout "$DROPOUT"
  --optimizer adam --adam-betas '(0.9,0.98)' --clip-norm 0.0
  --lr "$LR" --lr-scheduler inverse_sqrt --warmup-updates "$WARMUP"
  "${CRITERION_ARGS[@]}"
  --max-tokens "$MAX_TOKENS" --update-freq "$UPDATE_FREQ" --max-update "$MAX_UPDATE"
  --skip-invalid-size-inputs-valid-test
  --save-dir "$SAVE_DIR" --save-interval-updates "$SAVE_INTERVAL"
  --keep-interval-updates "$KEEP_INTERVAL" --no-epoch-checkpoints
  --validate-interval-updates "$SAVE_INTERVAL"
  --log-format simple --log-interval 50 --seed "$SEED"
  --num-workers 0 "${CPU_FLAG[@]}" "${WARM_ARGS[@]}")
# shellcheck disable=SC2206
[[ -n "$EXTRA_ARGS" ]] && CMD+=($EXTRA_ARGS)

{
  echo "=== $(date -Is) train.sh $DIRECTION pid $$ host $(hostname)"
  printf '%q ' "${CMD[@]}"; echo
} >> "$LOG"
echo $$ > "$SAVE_DIR/train.pid"

# exec: the PID above becomes fairseq-train's own, and it keeps the lock.
exec "${CMD[@]}" >> "$LOG" 2>&1
