"""Charging-trace plots (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from rl_battery.data.atomic import atomic_path  # noqa: E402

def plot_traces(trace: pd.DataFrame, path: str | Path, *, labels: dict[str, str] | None = None, title: str = "") -> Path:
    """Current, in-step max cell voltage, max cell temperature (deg C) and SOC mean with its
    cell-to-cell spread against time (min), one line per policy (column ``policy``).
    Written atomically as PNG."""
    path = Path(path)
    labels = labels or {}
    fig, axes = plt.subplots(4, 1, figsize=(8, 10), sharex=True)
    for label, frame in trace.groupby("policy", sort=False):
        t, name = frame["time_min"], labels.get(label, label)
        axes[0].step(t, frame["current_A"], where="pre", label=name)
        axes[1].plot(t, frame["step_max_cell_voltage_V"], label=name)
        axes[2].plot(t, frame["step_max_cell_temperature_K"] - 273.15, label=name)
        axes[3].plot(t, frame["soc"], label=name)
        axes[3].fill_between(t, frame["soc"] - frame["soc_spread"] / 2, frame["soc"] + frame["soc_spread"] / 2, alpha=0.3)
    for ax, ylabel in zip(axes, ("current [A]", "max cell voltage [V]", "max cell temperature [°C]", "SOC (band: spread)")):
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[-1].set_xlabel("time [min]")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return path
