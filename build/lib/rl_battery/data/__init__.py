"""Parquet rollouts: the versioned transition schema, its atomic writer and its reader."""

from rl_battery.data.rollouts import SCHEMA, SCHEMA_VERSION, read_rollouts, transitions_table, write_table_atomic

__all__ = ["SCHEMA", "SCHEMA_VERSION", "read_rollouts", "transitions_table", "write_table_atomic"]
