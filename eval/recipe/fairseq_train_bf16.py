"""`fairseq-train` with bfloat16 weights on a CPU.

fairseq ties `--bf16` to `--tpu` (it would import torch_xla), so stock `fairseq-train --bf16 --cpu`
cannot run. On CPUs with AMX or AVX512-BF16, oneDNN's bf16 matrix products are several times
faster than fp32 ones, which is the difference between days and hours of training here. This
entry point parses the usual fairseq-train command line and only clears the implied TPU flag:
the model then trains in bf16 under fairseq's FP16Optimizer, which keeps fp32 master weights
and (for bf16) no loss scaling. Softmax, log-softmax and the loss already run in fp32 in fairseq.
"""

import logging
import os
import sys

from fairseq import options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.distributed import utils as distributed_utils
from fairseq_cli.train import main


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
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser)
    args.tpu = False
    distributed_utils.call_main(convert_namespace_to_omegaconf(args), main)


if __name__ == "__main__":
    cli_main()
