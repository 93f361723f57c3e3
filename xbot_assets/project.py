"""The one dbt project handle, shared by the definitions, the CLI and the tests."""

import os
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtProject

from xbot_assets.settings import DBT_PROJECT_DIR

# dbt is a console script of this environment; find it even when the environment is not activated.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def prepare_manifest() -> None:
    """Write target/manifest.json (`dbt parse`); `@dbt_assets` reads it when its module is imported."""
    dbt_project.preparer.prepare(dbt_project)


def ensure_manifest() -> bool:
    """Write the manifest when it is missing, e.g. right after `pip install -e .` on a fresh clone (dbt_project/target
    is not in git), so `dagster dev` and `dagster definitions validate` work without a `make` step first. Returns
    whether it had to. Two processes starting at once parse once: dagster-dbt's preparer holds a lock file."""
    if dbt_project.manifest_path.exists():
        return False
    dg.get_dagster_logger().info(
        f"dbt manifest {dbt_project.manifest_path} is missing: preparing it once with `dbt parse` (a few seconds)"
    )
    prepare_manifest()
    return True
