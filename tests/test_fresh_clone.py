"""Right after `pip install -e .` on a fresh clone (no dbt_project/target: it is not in git), `dagster definitions
validate -w workspace.yaml` works without a `make` step first: the definitions write dbt's manifest once.

Run in a copy of the project in a temporary folder (never in this checkout's own dbt_project/target, which other
tests read), through the installed `dagster` command; the copy comes first on PYTHONPATH, so its `xbot_assets`
is the one imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def fresh_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "clone"
    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__", "*.pyc")
    for folder in ("xbot_assets", "dbt_project"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=ignore)
    for name in ("workspace.yaml", "pyproject.toml", "dagster.yaml"):
        shutil.copy(ROOT / name, copy / name)
    return copy


def test_dagster_validates_the_definitions_of_a_fresh_clone(tmp_path):
    copy = fresh_copy(tmp_path)
    manifest = copy / "dbt_project" / "target" / "manifest.json"
    assert not manifest.exists()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "XBOT_WAREHOUSE")}  # a newcomer's shell
    env.update(PYTHONPATH=str(copy), XBOT_WAREHOUSE=str(tmp_path / "warehouse.duckdb"),
               PATH=str(BIN) + os.pathsep + env.get("PATH", ""))

    done = subprocess.run([str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"], cwd=copy,
                          env=env, capture_output=True, text=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "Validation successful for code location xbot_assets" in log
    assert log.count("manifest.json is missing: preparing it once") == 1
    assert manifest.exists()
    # dagster-dbt's attempt to open a dbt adapter in this process (dbt-core is kept out of `import dagster_dbt`)
    # used to print a warning with its traceback here, on every newcomer's first start.
    assert "Traceback" not in log and "creating a handle to the dbt adapter" not in log, log

    # Prepared once: the next start reads it.
    again = subprocess.run([sys.executable, "-c", "from xbot_assets.project import ensure_manifest, dbt_project; "
                            "print(dbt_project.project_dir, ensure_manifest())"],
                           cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == [str(copy / "dbt_project"), "False"]
