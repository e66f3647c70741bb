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
