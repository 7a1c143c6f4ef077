"""Simulator throughput benchmark; same as the ``gainnet-benchmark`` console script.

python scripts/benchmark.py            # full run, writes docs/results/benchmark.json
python scripts/benchmark.py --quick    # seconds-long smoke run
"""

import sys

from gainnet_rl.studies.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
