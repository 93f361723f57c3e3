"""The one dbt project handle, shared by the definitions, the CLI and the tests."""

import logging
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


# dagster-dbt's `DbtCliResource.cli` first tries to open a dbt adapter in this process, for features our `dbt parse`
# does not use, and asserts dbt-core's version, which it reads as absent: xbot_assets keeps dbt-core out of
# `import dagster_dbt` (xbot_assets/__init__.py). The subprocess parses all the same; only the warning's traceback
# would reach the user, on every fresh clone's first `make`.
_ADAPTER_HANDLE_WARNING = "An error was encountered when creating a handle to the dbt adapter in Dagster."


def _not_the_adapter_handle_warning(record: logging.LogRecord) -> bool:
    return record.getMessage() != _ADAPTER_HANDLE_WARNING


def prepare_manifest() -> None:
    """Write target/manifest.json (`dbt parse`); `@dbt_assets` reads it when its module is imported."""
    logger = logging.getLogger("dagster.builtin")  # dagster-dbt's logger (dg.get_dagster_logger())
    logger.addFilter(_not_the_adapter_handle_warning)
    try:
        dbt_project.preparer.prepare(dbt_project)
    finally:
        logger.removeFilter(_not_the_adapter_handle_warning)


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
