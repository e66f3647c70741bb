"""Physics steppers: state in, current in, state out. No rewards, gymnasium or Ray here.

Sign convention: every public current here is the *charging* current, positive when
charging (A). The conversion to PyBaMM's convention (discharge positive) happens in exactly
one place, :func:`rl_battery.sim.parameters.to_pybamm_current`.
"""

from rl_battery.sim.ageing import AgeingLaw
from rl_battery.sim.cell import CellSimulator, CellState, CellStepResult
from rl_battery.sim.ecm_string import ECMStringSimulator, StringStep
from rl_battery.sim.errors import SimulationError, UnknownParameterSetError
from rl_battery.sim.heterogeneity import CellHeterogeneity, PackCells, sample_pack_cells
from rl_battery.sim.circuit import PackCircuit
from rl_battery.sim.pack import PackSimulator, PackState, PackStepResult
from rl_battery.sim.parameters import SUPPORTED_PARAMETER_SETS, CellRatings, cell_ratings, load_parameter_values

__all__ = [
    "AgeingLaw", "ECMStringSimulator", "StringStep", "CellSimulator", "CellState", "CellStepResult", "PackSimulator", "PackState", "PackStepResult", "PackCircuit", "CellHeterogeneity",
    "PackCells", "sample_pack_cells", "SimulationError", "UnknownParameterSetError",
    "SUPPORTED_PARAMETER_SETS", "CellRatings", "cell_ratings", "load_parameter_values",
]
