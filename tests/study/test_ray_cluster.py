"""A real Ray cluster on this machine (`ray start --head`), joined by `fitnas search`."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_study import TABLE

pytest.importorskip("ray")
pytestmark = [pytest.mark.slow]


def test_cli_search_joins_a_ray_cluster(tmp_path: Path) -> None:
    """`ray start --head` makes a real local cluster; `fitnas search --backend ray --address`
    joins it, and the trials equal those of a local search with the same seed."""
    import json
    import shutil
    import subprocess
    import sys

    ray_cli = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    port = "6391"
    import tempfile

    # Ray puts Unix sockets under its temp dir: keep the path short (sockets allow ~107 bytes)
    env_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    import os

    # a cluster on the loopback address only, without Ray's token authentication (test-local)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    start = subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2",
                            "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                            f"--temp-dir={env_dir}"],
                           capture_output=True, text=True, timeout=180, env=env)
    assert start.returncode == 0, start.stderr[-2000:]
    try:
        common = [sys.executable, "-m", "fitnas", "search", "--space", "nb201", "--table",
                  str(TABLE), "--device", "none", "--budget", "8", "--seed", "4", "--json"]
        remote = subprocess.run([*common, "--out", str(tmp_path / "ray"), "--backend", "ray",
                                 "--workers", "2", "--address", f"127.0.0.1:{port}"],
                                capture_output=True, text=True, timeout=300, env=env)
        assert remote.returncode == 0, remote.stderr[-2000:]
        local = subprocess.run([*common, "--out", str(tmp_path / "local")], capture_output=True,
                               text=True, timeout=300)
        assert local.returncode == 0, local.stderr[-2000:]
        assert json.loads(remote.stdout)["best"] == json.loads(local.stdout)["best"]
        assert json.loads(remote.stdout)["counts"] == json.loads(local.stdout)["counts"]
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120, env=env)
        shutil.rmtree(env_dir, ignore_errors=True)
