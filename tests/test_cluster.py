"""Slow: a loopback Ray head node, the dashboard and `ray job submit`, then `ray stop`."""

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
PORT = 8266


def _ray(*args, timeout=180, env=None):
    return subprocess.run([str(Path(sys.executable).with_name("ray")), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def test_job_submission_on_loopback(tmp_path):
    # As after `source .venv/bin/activate`: the job's `python` must be the venv's.
    venv_bin = str(Path(sys.executable).parent)
    env = dict(os.environ, RAY_AUTH_MODE="token", PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""))
    start = _ray("start", "--head", "--dashboard-host=127.0.0.1", f"--dashboard-port={PORT}", "--num-cpus=2",
                 "--disable-usage-stats", "--port=6390", env=env)
    assert start.returncode == 0, start.stderr[-2000:]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}", timeout=30) as response:
            assert response.status == 200
        job = _ray("job", "submit", "--address", f"http://127.0.0.1:{PORT}", "--working-dir", ".", "--",
                   "python", "-c", "import ray, rl_battery.envs; ray.init(); print('JOB-OK', ray.cluster_resources()['CPU'])",
                   env=env, timeout=300)
        assert job.returncode == 0, (job.stdout + job.stderr)[-3000:]
        assert "JOB-OK 2.0" in job.stdout
    finally:
        _ray("stop", "--force", env=env)
