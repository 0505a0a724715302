"""`fairseq-train` as train.sh runs it: bfloat16 on a CPU, and warm starts that keep the schedule.

Two things stock fairseq-train cannot do here:

- **bfloat16 on a CPU.** fairseq ties `--bf16` to `--tpu` (it would import torch_xla). This entry
  point clears the implied TPU flag: the model then trains in bf16 under fairseq's FP16Optimizer,
  which keeps fp32 master weights and (for bf16) no loss scaling. Worth it only where the CPU has
  bf16 matrix units (AMX, AVX512-BF16: ~1.4x the updates/s of fp32 measured on one machine here);
  on an AVX2-only CPU torch's bf16 matrix product is ~60x slower than fp32 (measured: 0.85 vs 49
  GFLOP/s, one thread), so train.sh defaults to fp32.
- **Warm starts from a bundle** (warm_start.py). fairseq continues the update count, and with it
  the inverse-sqrt learning rate, only together with an optimizer state; a bundle has none. A
  checkpoint whose ``extra_state`` holds ``aligner_warm_start`` gets its update count set right
  after loading, which also moves the scheduler to that step. Later checkpoints are fairseq's own.
"""

import logging
import os
import sys

from fairseq import options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.distributed import utils as distributed_utils
from fairseq.trainer import Trainer
from fairseq_cli.train import main

logger = logging.getLogger("fairseq_train")

_load_checkpoint = Trainer.load_checkpoint


def _load_checkpoint_continuing_updates(self, filename, *args, **kwargs):
    extra_state = _load_checkpoint(self, filename, *args, **kwargs)
    warm = (extra_state or {}).get("aligner_warm_start")
    if warm is not None:
        self.set_num_updates(warm["num_updates"])
        logger.info(
            "warm start from bundle %s: optimizer reset, update count %d continued (lr %.6g)",
            warm.get("bundle"), self.get_num_updates(), self.get_lr(),
        )
    return extra_state


def cli_main() -> None:
    # fairseq's imports log before fairseq_cli.train configures logging, which leaves Python's bare
    # format in place; train.log must read like fairseq-train's (eval/track_checkpoints.py parses it).
    logging.basicConfig(
        format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        level=os.environ.get("LOGLEVEL", "INFO").upper(),
        stream=sys.stdout,
        force=True,
    )
    Trainer.load_checkpoint = _load_checkpoint_continuing_updates
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser)
    if args.bf16:
        args.tpu = False
    distributed_utils.call_main(convert_namespace_to_omegaconf(args), main)


if __name__ == "__main__":
    cli_main()
