"""The one dbt project handle, shared by the definitions, the CLI and the tests."""

import os
import sys
from pathlib import Path

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
