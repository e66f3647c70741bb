"""RLlib's SAC, unchanged except that its checkpoints keep the entropy temperature alpha.

The experiment files' ``algorithm: SAC`` runs this class. RLlib 2.x ``Learner.get_state``
leaves ``SACLearner.curr_log_alpha`` out, so a plain SAC resumed by Tune or restored with
``from_checkpoint`` goes on with ``initial_alpha`` (1.0) whatever alpha it had learned; see
:class:`rl_battery.algorithms.updates.CheckpointsEntropyTemperature`. The class keeps the
name ``SAC`` so trial folders and ``rllib evaluate`` output read as before.
"""

from __future__ import annotations

from ray.rllib.algorithms import sac as rllib_sac

from rl_battery.algorithms.updates import CheckpointsEntropyTemperature


class SACConfig(rllib_sac.SACConfig):
    """RLlib's ``SACConfig`` building :class:`SAC` (every setting as in RLlib)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or SAC)


class SAC(CheckpointsEntropyTemperature, rllib_sac.SAC):
    """RLlib's SAC whose ``get_state`` / ``set_state`` carry alpha per module."""

    @classmethod
    def get_default_config(cls) -> SACConfig:
        return SACConfig()
