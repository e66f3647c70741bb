import warnings

import pytest

warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(scope="session")
def homogeneous():
    """Pack cells without spread (for comparisons against liionpack.solve)."""
    from rl_battery.sim import CellHeterogeneity

    return CellHeterogeneity(soh_mean=1.0, soh_std=0.0, capacity_rel_std=0.0, contact_resistance_Ohm=0.002,
                             resistance_rel_std=0.0, htc_rel_std=0.0)
