"""xbot: the learning brain of an autonomous X account, as a Dagster asset graph."""

from __future__ import annotations

import importlib.abc
import sys


class _DbtCoreOutOfDagsterDbt(importlib.abc.MetaPathFinder):
    """Keeps dbt-core out of `import dagster_dbt`.

    dagster-dbt imports dbt-core at import time when it is installed, only to alias a few of its types (adapters,
    node types, statuses); that costs ~2.4 s in every process that builds the definitions (each CLI call, each run
    worker), most of which never run dbt. Without dbt-core dagster-dbt uses its own string enums (its dbt Fusion
    path), which compare equal to the statuses in dbt's JSON events, the only form our dbt step hands it. dbt-core is
    imported for real where dbt runs (`xbot_assets.defs.transform.invoke_dbt`) and wherever else it is asked for."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201 — importlib's protocol
        if name != "dbt" and not name.startswith("dbt."):
            return None
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_globals.get("__name__") == "dagster_dbt.compat":
                raise ImportError(f"{name}: not imported by dagster_dbt.compat (xbot_assets keeps dbt-core lazy)")
            frame = frame.f_back
        return None


if not any(isinstance(finder, _DbtCoreOutOfDagsterDbt) for finder in sys.meta_path):
    sys.meta_path.insert(0, _DbtCoreOutOfDagsterDbt())
