"""Slow: the package installed from a wheel (not editable) runs the smoke from another folder,
with results in that folder and a compact progress table."""

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_wheel_install_runs_the_smoke_from_another_folder(tmp_path):
    import shutil

    # Build from a copy of the sources: setuptools writes build/ into the folder it builds.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "rl_battery", source / "rl_battery", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(wheels.glob("rl_battery-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # The dependencies come from this environment (a path entry, so its editable rl_battery
    # is not seen); rl_battery itself only from the wheel.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    where = subprocess.run([str(python), "-c", "import rl_battery; print(rl_battery.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv))
    run = subprocess.run([str(venv / "bin" / "rl-battery"), "run", "--experiment", "balance_dqn", "--smoke",
                          "--config-dir", str(ROOT / "tune_configs")],
                         cwd=elsewhere, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert list((elsewhere / "ray_results" / "balance_dqn").glob("DQN_*/checkpoint_*"))
    # the progress table: battery columns, and never the whole AlgorithmConfig
    assert "usable Ah" in run.stdout and "env steps" in run.stdout and "elapsed" in run.stdout
    assert "exploration_config" not in run.stdout + run.stderr
