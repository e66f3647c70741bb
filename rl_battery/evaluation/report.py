"""Benchmark and study output: one JSON, one Markdown table and one PNG per run, each written
atomically (a reader never sees half a file)."""

from __future__ import annotations

import json
from pathlib import Path

from rl_battery.data.atomic import atomic_path


def write_report(out: str | Path, name: str, result: dict, markdown: str, figure) -> dict[str, Path]:
    """Write ``<out>/<name>.json`` (``result``; non-JSON numbers as floats), ``<name>.md``
    (``markdown``) and ``<name>.png`` (the matplotlib ``figure``); returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{name}.{ext}" for ext in ("json", "md", "png")}
    with atomic_path(paths["png"]) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(result, indent=2, default=float))
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text(markdown + "\n")
    return paths


def write_evaluation(out: str | Path, result: dict, trace: list[dict], plot, png_name: str) -> dict[str, str]:
    """A checkpoint evaluation's files in ``out``, each written atomically: ``metrics.json``
    (``result``), ``trace.csv`` (one row per entry of ``trace``) and ``png_name``, drawn by
    ``plot(frame, path)`` from the trace frame. Returns file name -> path."""
    import pandas as pd

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    frame = pd.DataFrame(trace)
    with atomic_path(out / "trace.csv") as tmp:
        frame.to_csv(tmp, index=False)
    plot(frame, out / png_name)
    return {name: str(out / name) for name in ("metrics.json", "trace.csv", png_name)}
