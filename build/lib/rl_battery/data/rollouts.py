"""Parquet rollout store: one row per transition, schema version 3.

Columns: the transition, then every field of the env's
:class:`~rl_battery.envs.step_record.StepRecord` after the step under the field's own name
(units in the names; per-cell arrays in liionpack cell order):

| column | type | meaning |
|---|---|---|
| episode_id | string | id of the episode (stable across RLlib episode chunks) |
| step_index | int32 | index of the transition within its episode (0 = first action) |
| task_id | string | env task: parameter set / pack seed / pack SOH |
| cycle_index | int32 | adaptive cycle that produced the row (0: cycle 0 and runs without adaptive cycles; the training iteration is in the file name) |
| source | string | "real" (simulator), "synthetic" (surrogate) or a baseline's name |
| obs | list<float32> | observation before the action (the env's normalized obs) |
| action | list<float32> | action as applied, normalized to [-1, 1] (clipped policy output) |
| reward | float32 | reward |
| next_obs | list<float32> | observation after the action |
| terminated, truncated | bool | gymnasium episode-end flags |
| time_s, soc, current_A, pack_voltage_V, soh, equivalent_cycles | float64 | state after the step; current_A is the action in A; equivalent_cycles the pack's age |
| step_max_cell_voltage_V, step_max_cell_temperature_K, step_min_plating_potential_V | float64 | extremes over the step |
| cell_current_A, cell_voltage_V, cell_ocv_V, cell_temperature_K, cell_soc, cell_step_min_plating_potential_V | list<float64> | per cell |
| cell_soh, cell_capacity_Ah, cell_contact_resistance_Ohm | list<float64> | per-cell ageing ground truth (never observed) |
| event | string (null) | PyBaMM event that stopped the step |

Older versions are not read: version 1 (before the step record) named the in-step extremes
without ``step_``; version 2 had no ageing columns. Files are written to a temporary name in the same folder and renamed (atomic on
POSIX), so a crash never leaves a half-written Parquet file. The schema version is stored in
the file's metadata under ``rl_battery.schema_version``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from rl_battery.data.atomic import atomic_path
from rl_battery.envs.step_record import FIELDS, PER_CELL_FIELDS, SCALAR_FIELDS

SCHEMA_VERSION = 3
_F32_LIST = pa.list_(pa.float32())
_F64_LIST = pa.list_(pa.float64())
_TRANSITION = [
    ("episode_id", pa.string()),
    ("step_index", pa.int32()),
    ("task_id", pa.string()),
    ("cycle_index", pa.int32()),
    ("source", pa.string()),
    ("obs", _F32_LIST),
    ("action", _F32_LIST),
    ("reward", pa.float32()),
    ("next_obs", _F32_LIST),
    ("terminated", pa.bool_()),
    ("truncated", pa.bool_()),
]
_RECORD = [(f, _F64_LIST if f in PER_CELL_FIELDS else pa.float64() if f in SCALAR_FIELDS else pa.string()) for f in FIELDS]
SCHEMA = pa.schema(_TRANSITION + _RECORD, metadata={"rl_battery.schema_version": str(SCHEMA_VERSION)})
_VECTORS = set(PER_CELL_FIELDS) | {"obs", "action", "next_obs"}
_FLOATS = set(SCALAR_FIELDS) | {"reward"}


def transitions_table(rows: Iterable[dict]) -> pa.Table:
    """Build a schema-v2 table from transition dicts.

    Each dict needs every column of :data:`SCHEMA`; the step-record columns may instead be
    given as an ``info`` dict (the env's step info, which carries the record's fields).

    Raises:
        KeyError: a required column is missing (the message names it).
    """
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for row in rows:
        info = row.get("info") or {}
        for name in SCHEMA.names:
            if name in row:
                value = row[name]
            elif name in info:
                value = info[name]
            else:
                raise KeyError(f"transition is missing column {name!r}")
            if name in _VECTORS:
                value = np.asarray(value, dtype=float).ravel().tolist()
            elif name in _FLOATS:
                value = float(value)
            columns[name].append(value)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def write_table_atomic(table: pa.Table, path: str | os.PathLike) -> Path:
    """Write ``table`` to ``path`` (Parquet) through a temporary file and a rename.

    The parent folder is created. On any error the temporary file is removed and the
    target is left as it was.
    """
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_rollouts(directory: str | os.PathLike, *, source: str | None = None) -> pa.Table:
    """Read every ``*.parquet`` under ``directory`` (recursively) into one table.

    Temporary files of an interrupted write (``.*.tmp``) are ignored.

    Raises:
        FileNotFoundError: no Parquet file under ``directory``.
        ValueError: a file has another schema version.
    """
    files = sorted(p for p in Path(directory).rglob("*.parquet") if not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"no Parquet rollouts under {directory}")
    for f in files:  # footer reads only: cheap
        version = (pq.read_schema(f).metadata or {}).get(b"rl_battery.schema_version", b"?").decode()
        if version != str(SCHEMA_VERSION):
            raise ValueError(f"{f} has rollout schema version {version}, expected {SCHEMA_VERSION}")
    table = ds.dataset([str(f) for f in files], schema=SCHEMA, format="parquet").to_table()
    if source is not None:
        table = table.filter(ds.field("source") == source)
    return table
