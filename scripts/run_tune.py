"""Run an experiment: `python scripts/run_tune.py --experiment pack_mbrl [--smoke] [--address auto]`.

Thin entry point; the logic lives in rl_battery.experiments (see `rl-battery run --help`).
"""

import sys

from rl_battery.cli import rl_battery_main

if __name__ == "__main__":
    sys.exit(rl_battery_main(["run", *sys.argv[1:]]))
