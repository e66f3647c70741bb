"""Charging, balancing and training-curve plots (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from rl_battery.data.atomic import atomic_path  # noqa: E402


def _save(fig, path: str | Path | None):
    """Write ``fig`` as PNG atomically when ``path`` is given; return the figure."""
    if path is not None:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    return fig


def plot_battery_state(trace: pd.DataFrame, path: str | Path | None = None, *, title: str = ""):
    """Current [A], voltage [V] (end of step and in-step maximum), temperature [deg C], SOC
    and plating indicator [V] against time [min], from a trace of
    :func:`rl_battery.evaluation.workflow.charge_battery_with_sequence` (its columns).
    Returns the matplotlib figure; also written as PNG (atomically) when ``path`` is given.

    Raises:
        KeyError: a column the plot needs is missing (the message names it).
    """
    t = trace["time_s"] / 60.0
    fig, axes = plt.subplots(5, 1, figsize=(8, 11), sharex=True)
    axes[0].step(t, trace["current_A"], where="pre")
    axes[1].plot(t, trace["voltage_V"], label="end of step")
    axes[1].plot(t, trace["step_max_voltage_V"], "--", label="in-step maximum")
    axes[1].legend()
    axes[2].plot(t, trace["temperature_K"] - 273.15)
    axes[3].plot(t, trace["soc"])
    axes[4].plot(t, trace["plating_potential_V"])
    axes[4].axhline(0.0, color="k", lw=0.8)
    for ax, ylabel in zip(axes, ("current [A]", "voltage [V]", "temperature [°C]", "SOC", "plating indicator [V]")):
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time [min]")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_training_curve(trial_dirs, path: str | Path | None = None, *,
                        metric: str = "env_runners/episode_return_mean", x: str = "training_iteration"):
    """``metric`` against ``x`` from the reported results of one or more Tune trial folders
    (``ray_results/<experiment>/<trial>``, :func:`read_trial_progress`), one line per trial.
    Returns the figure; also written as PNG when ``path`` is given.

    Raises:
        FileNotFoundError: a folder without ``result.json``.
        KeyError: ``metric`` or ``x`` is not a column (the message lists the metric columns).
    """
    dirs = [Path(trial_dirs)] if isinstance(trial_dirs, (str, Path)) else [Path(d) for d in trial_dirs]
    fig, ax = plt.subplots(figsize=(7, 4))
    for trial in dirs:
        frame = read_trial_progress(trial)
        for column in (metric, x):
            if column not in frame:
                raise KeyError(f"{column!r} is not reported by {trial}; columns: "
                               f"{', '.join(c for c in frame.columns if '/' in c)}")
        ax.plot(frame[x], frame[metric], label=trial.name[:40])
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


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
        _save(fig, path)
    finally:
        plt.close(fig)
    return path


def plot_balancing(trace: pd.DataFrame, path: str | Path | None = None, *, labels: dict[str, str] | None = None,
                   title: str = ""):
    """Passive balancing, one column per load profile: pack current [A], then per controller
    (column ``policy`` of the trace) its SOC per cell and a switching raster (cell x time,
    dark = shunt on), against time [min]. ``trace`` has the columns of
    :func:`rl_battery.evaluation.balancing.compare_balancing`'s trace rows. Returns the figure;
    also written as PNG (atomically) when ``path`` is given."""
    labels = labels or {}
    profiles = list(dict.fromkeys(trace["profile"]))
    policies = list(dict.fromkeys(trace["policy"]))
    cells = sorted(int(c.split("_")[1]) for c in trace.columns if c.startswith("soc_") and c[4:].isdigit())
    rows = 1 + 2 * len(policies)
    fig, axes = plt.subplots(rows, len(profiles), figsize=(6 * len(profiles), 1.9 * rows), sharex="col", squeeze=False)
    for col, profile in enumerate(profiles):
        by_profile = trace[trace["profile"] == profile]
        first = by_profile[by_profile["policy"] == policies[0]]
        axes[0, col].step(first["time_s"] / 60.0, first["pack_current_A"], where="pre", color="k")
        axes[0, col].set_title(profile, fontsize=9)
        axes[0, col].set_ylabel("pack current [A]")
        for k, policy in enumerate(policies):
            frame = by_profile[by_profile["policy"] == policy]
            t = frame["time_s"] / 60.0
            soc_ax, raster_ax = axes[1 + 2 * k, col], axes[2 + 2 * k, col]
            for i in cells:
                soc_ax.plot(t, frame[f"soc_{i}"], label=f"cell {i + 1}")
            soc_ax.set_ylabel(f"{labels.get(policy, policy)}\nSOC")
            switches = frame[[f"switch_{i}" for i in cells]].to_numpy().T
            raster_ax.imshow(switches, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                             extent=(t.min(), t.max(), cells[-1] + 1.5, 0.5))
            raster_ax.set_ylabel(f"{labels.get(policy, policy)}\nshunt on (cell)")
            raster_ax.set_yticks([i + 1 for i in cells])
        axes[1, col].legend(fontsize=6, ncol=len(cells))
        axes[-1, col].set_xlabel("time [min]")
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _trial_label(name: str) -> str:
    """A Tune trial folder name -> its swept values (``seed=1``), or the name's start."""
    import re

    swept = re.findall(r"(?<=_)([A-Za-z_]+=[^_]+)", name)
    return ", ".join(swept) if swept else name[:28]


def read_trial_progress(trial: str | Path) -> pd.DataFrame:
    """One row per reported iteration of a Tune trial folder, columns named like Tune's
    flattened keys (``env_runners/usable_capacity_Ah``). Read from ``result.json`` (one JSON
    object per line), which stays whole when a resumed trial reports new columns and
    ``progress.csv`` gets rows longer than its header.

    Raises:
        FileNotFoundError: the folder has no ``result.json``.
    """
    import json

    path = Path(trial) / "result.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {trial} a Tune trial folder?")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pd.json_normalize(rows, sep="/")


def plot_training_comparison(runs: dict[str, list], path: str | Path | None = None, *,
                             metrics=("env_runners/episode_return_mean", "env_runners/usable_capacity_Ah",
                                      "env_runners/soc_variance_mean", "env_runners/switch_count"),
                             x: str = "num_env_steps_sampled_lifetime"):
    """Training curves of several algorithms side by side: one column per algorithm (``runs``
    maps its name to Tune trial folders), one row per metric, one line per trial, shared y
    axis per row. Returns the figure; also written as PNG when ``path`` is given.

    Raises:
        FileNotFoundError: a trial folder without ``result.json``.
    """
    fig, axes = plt.subplots(len(metrics), len(runs), figsize=(5 * len(runs), 2.4 * len(metrics)), sharey="row",
                             squeeze=False)
    for col, (name, trials) in enumerate(runs.items()):
        for trial in trials:
            frame = read_trial_progress(trial)
            for row, metric in enumerate(metrics):
                if metric in frame and x in frame:
                    axes[row, col].plot(frame[x], frame[metric], label=_trial_label(Path(trial).name))
        axes[0, col].set_title(name)
        axes[-1, col].set_xlabel(x)
        axes[0, col].legend(fontsize=6)
    for row, metric in enumerate(metrics):
        axes[row, 0].set_ylabel(metric.split("/")[-1])
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
