"""The one dbt project handle, shared by the definitions, the CLI and the tests."""

from dagster_dbt import DbtProject

from xbot_assets.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def prepare_manifest() -> None:
    """Write target/manifest.json (`dbt parse`); `@dbt_assets` reads it when its module is imported."""
    dbt_project.preparer.prepare(dbt_project)
