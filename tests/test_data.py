import numpy as np
import pyarrow.parquet as pq
import pytest

from rl_battery.data import SCHEMA, SCHEMA_VERSION, read_rollouts, transitions_table, write_table_atomic
from rl_battery.envs.step_record import FIELDS, StepRecord


def _rows(n, episode="ep1"):
    record = StepRecord(
        time_s=90.0, soc=0.5, current_A=10.0, pack_voltage_V=8.0, soh=0.9, equivalent_cycles=50.0, step_max_cell_voltage_V=4.0,
        step_max_cell_temperature_K=300.0, step_min_plating_potential_V=0.05, cell_current_A=np.array([5.0, 5.0]),
        cell_voltage_V=np.array([4.0, 4.01]), cell_ocv_V=np.array([3.9, 3.9]), cell_temperature_K=np.array([300.0, 301.0]),
        cell_soc=np.array([0.5, 0.51]), cell_step_min_plating_potential_V=np.array([0.05, 0.06]),
        cell_soh=np.array([0.9, 0.88]), cell_capacity_Ah=np.array([4.5, 4.4]),
        cell_contact_resistance_Ohm=np.array([0.012, 0.014]))
    info = record.as_dict()
    return [dict(info=info, episode_id=episode, step_index=i, task_id="pack:test", cycle_index=0, source="real",
                 obs=np.full(3, i, np.float32), action=np.array([0.1]), reward=float(i), next_obs=np.full(3, i + 1.0),
                 terminated=i == n - 1, truncated=False) for i in range(n)]


def test_round_trip(tmp_path):
    write_table_atomic(transitions_table(_rows(5)), tmp_path / "a" / "one.parquet")
    write_table_atomic(transitions_table(_rows(3, "ep2")), tmp_path / "two.parquet")
    table = read_rollouts(tmp_path)
    assert len(table) == 8
    rows = table.to_pylist()
    first = next(r for r in rows if r["episode_id"] == "ep1" and r["step_index"] == 2)
    assert first["obs"] == [2.0, 2.0, 2.0] and first["next_obs"] == [3.0, 3.0, 3.0]
    assert first["current_A"] == 10.0 and first["cell_temperature_K"] == [300.0, 301.0]
    assert first["equivalent_cycles"] == 50.0 and first["cell_soh"] == [0.9, 0.88]
    meta = pq.read_schema(tmp_path / "two.parquet").metadata
    assert meta[b"rl_battery.schema_version"] == str(SCHEMA_VERSION).encode()


def test_schema_columns_are_the_step_record_fields():
    assert set(FIELDS) <= set(SCHEMA.names)
    assert SCHEMA.names[-len(FIELDS):] == list(FIELDS)


def test_missing_column_is_named():
    rows = _rows(1)
    del rows[0]["task_id"]
    with pytest.raises(KeyError, match="task_id"):
        transitions_table(rows)


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.parquet"
    write_table_atomic(transitions_table(_rows(2)), target)
    before = target.read_bytes()

    def crash(table, where):
        with open(where, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        write_table_atomic(transitions_table(_rows(4)), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_rollouts(tmp_path)


@pytest.mark.slow
def test_readable_by_ray_data(tmp_path):
    import ray

    write_table_atomic(transitions_table(_rows(4)), tmp_path / "r.parquet")
    ray.init(num_cpus=1, include_dashboard=False, ignore_reinit_error=True)
    try:
        ds = ray.data.read_parquet(str(tmp_path))
        assert ds.count() == 4
        assert sorted(r["step_index"] for r in ds.take_all()) == [0, 1, 2, 3]
    finally:
        ray.shutdown()


def test_corrupt_truncated_and_foreign_files_are_skipped_and_reported_once(tmp_path, caplog):
    import logging

    import pyarrow as pa

    from rl_battery.data.rollouts import SET_ASIDE_DIR

    good = write_table_atomic(transitions_table(_rows(4)), tmp_path / "good.parquet")
    data = good.read_bytes()
    (tmp_path / "truncated.parquet").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.parquet").write_bytes(b"not parquet at all")
    pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / "foreign.parquet")
    stamped = pa.table({"x": [1]}).replace_schema_metadata({"rl_battery.schema_version": str(SCHEMA_VERSION)})
    pq.write_table(stamped, tmp_path / "stamped.parquet")
    old = transitions_table(_rows(2, "old")).replace_schema_metadata({"rl_battery.schema_version": "2"})
    pq.write_table(old, tmp_path / "v2.parquet")
    write_table_atomic(transitions_table(_rows(3, "aside")), tmp_path / SET_ASIDE_DIR / "attempt_x" / "a.parquet")
    with caplog.at_level(logging.WARNING, logger="rl_battery.data.rollouts"):
        table = read_rollouts(tmp_path)
        again = read_rollouts(tmp_path)
    assert len(table) == len(again) == 4 and set(table.column("episode_id").to_pylist()) == {"ep1"}
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 5  # once per bad file, not again on the second read
    for name in ("truncated", "garbage", "foreign", "stamped", "v2"):
        assert sum(f"{name}.parquet" in m for m in skipped) == 1
    assert any("schema version 2" in m for m in skipped) and any("columns differ" in m for m in skipped)
