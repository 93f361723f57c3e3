"""What building the definitions costs a new process (each CLI call, each run worker), measured in one run.

Each measurement is a fresh Python process: `import dagster`, then `xbot_assets.definitions.defs()` and its asset
graph (the build). Two ways, alternating, --repeat times each; the medians are compared:
  - as shipped: dbt-core stays out of `import dagster_dbt` (xbot_assets/__init__.py) and scikit-learn, scipy
    and altair are imported where they are used;
  - eager: the same definitions in a process that has imported dbt-core the way dagster-dbt imports it when it can,
    and scikit-learn's text features, scipy.stats and altair, as the definitions did before (the cost they had).
Printed: the medians, the ratio, and which heavy packages each build left in `sys.modules`. Usage:

    .venv/bin/python benchmarks/definitions_build.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EAGER = ("dbt.version", "dbt.adapters.base.impl", "dbt.contracts.results", "dbt.node_types",
         "sklearn.feature_extraction.text", "sklearn.metrics.pairwise", "scipy.stats", "altair")
HEAVY = ("dbt", "sklearn", "scipy", "altair")

CHILD = """
import importlib, json, sys, time
preload = {preload!r}
t0 = time.perf_counter()
import dagster
t1 = time.perf_counter()
for name in preload:
    importlib.import_module(name)
t2 = time.perf_counter()
from xbot_assets.definitions import defs
defs().resolve_asset_graph()
t3 = time.perf_counter()
print(json.dumps({{"dagster": t1 - t0, "preload": t2 - t1, "build": t3 - t2,
                   "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def measure(preload: tuple[str, ...]) -> dict:
    code = CHILD.format(preload=preload, heavy=HEAVY)
    env = {"DAGSTER_DISABLE_TELEMETRY": "true", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, **env}).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    shipped, eager = [], []
    for _ in range(args.repeat):  # alternating, so a slow spell of the machine hits both
        shipped.append(measure(()))
        eager.append(measure(EAGER))
    med = {name: {k: statistics.median(r[k] for r in runs) for k in ("dagster", "preload", "build")}
           for name, runs in (("shipped", shipped), ("eager", eager))}
    print(f"{args.repeat} fresh processes each; medians in seconds")
    print(f"{'':<44}{'import dagster':>15}{'build':>8}{'build + eager imports':>23}")
    print(f"{'as shipped':<44}{med['shipped']['dagster']:>15.2f}{med['shipped']['build']:>8.2f}{'':>23}")
    eager_build = med["eager"]["preload"] + med["eager"]["build"]
    print(f"{'eager (dbt-core, sklearn, scipy.stats, altair)':<44}{med['eager']['dagster']:>15.2f}"
          f"{med['eager']['build']:>8.2f}{eager_build:>23.2f}")
    print(f"build as shipped / eager: {med['shipped']['build'] / eager_build:.2f} "
          f"({eager_build / med['shipped']['build']:.1f}x faster)")
    print(f"heavy packages after the shipped build: {shipped[-1]['loaded'] or 'none'}; "
          f"after the eager one: {eager[-1]['loaded']}")


if __name__ == "__main__":
    main()
