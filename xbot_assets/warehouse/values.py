"""pandas/numpy values as the plain Python that database drivers and `json` accept."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from xbot_assets.clock import utc_naive


def to_python(value: Any) -> Any:
    """None for NaN/NaT/NA/±inf; bool, int, float for numpy scalars; naive-UTC datetime for a Timestamp."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return utc_naive(value.to_pydatetime() if isinstance(value, pd.Timestamp) else value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return value.item()
    return value
