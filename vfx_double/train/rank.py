"""One rank of ``vfx-double train --nproc N``: the CLI with the arguments its launcher left in
the environment. They do not go on torchrun's command line, where its own options would
take some of them (``--run`` reads as torchrun's ``--run-path``)."""

from __future__ import annotations

import json
import os
import sys

#: the launcher's ``train`` arguments, as JSON
ARGV_ENV = "VFX_DOUBLE_RANK_ARGV"


def main() -> None:
    from vfx_double.cli import run

    sys.argv = ["vfx-double", *json.loads(os.environ[ARGV_ENV])]
    run()


if __name__ == "__main__":
    main()
