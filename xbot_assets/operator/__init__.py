"""The operator's surface: the `xbot` command line (`cli`; the operator's commands in `dashboard`, the production
loop's in `production`), the health rules (`health`, pure), the status and health queries (`status` for the
warehouse, `runs` for the Dagster runs), their text (`render`), the demo's HTML report (`report`, its figures in
`report_figures`) and the demo (`demo`).

The top layer: may import every part of xbot_assets; nothing imports it.
"""
