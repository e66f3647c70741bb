import os
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(scope="session")
def homogeneous():
    """Pack cells without spread (for comparisons against liionpack.solve)."""
    from rl_battery.sim import CellHeterogeneity

    return CellHeterogeneity(soh_mean=1.0, soh_std=0.0, capacity_rel_std=0.0, contact_resistance_Ohm=0.002,
                             resistance_rel_std=0.0, htc_rel_std=0.0)


@pytest.fixture(autouse=True, scope="session")
def _in_repository():
    """Experiments find tune_configs/ (and write ray_results/, offline_data/) relative to the
    working folder, as a user's run does: the tests run from the repository."""
    os.chdir(Path(__file__).resolve().parents[1])
