"""The operator's surface: the `xbot` command line (`cli`), the health rules (`health`, pure), the status and health
queries (`status`), their text (`render`), the demo's HTML report (`report`, its figures in `report_figures`) and
the demo (`demo`).

The top layer: may import every part of xbot_assets; nothing imports it.
"""
