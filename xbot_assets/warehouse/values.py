"""Values between the warehouse, pandas and plain Python: the one place pandas' missing-value semantics are settled.

Frames read from the warehouse (`Connection.fetch_df`) follow one convention on both engines, whatever the data,
fixed by each column's SQL type (`normalize_frame`):

- numbers (integer, float, decimal, hugeint) are numpy: int64 when the column holds no NULL, else float64 with NaN
  (never the nullable Int64/Float64 DuckDB returns, never PostgreSQL's Decimal objects);
- text, JSON and every other non-numeric, non-time type is an object column with None for NULL (never pandas 3's
  `str` dtype, which turns a NULL into NaN: `json.loads(NaN)`, `NaN or default` and `str(NaN) == 'nan'` all mislead);
- booleans are bool when the column holds no NULL, else object with True/False/None (never pd.NA, whose truth
  value raises);
- timestamps are datetime64[us], naive UTC (a zone-aware column is converted to UTC), NaT for NULL;
- an empty result has the same dtypes (so `.map`, `.max()` and arithmetic behave as on a full one).

So `value is None` is the test for missing text or booleans, `pd.isna` for numbers and times; no pd.NA reaches
callers. `to_python` turns any of these values into what database drivers and `json` accept.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from xbot_assets.clock import utc_naive

# The kinds of column normalize_frame knows; the connection maps each engine's SQL types onto them.
INTEGER, FLOAT, BOOLEAN, TIMESTAMP, TEXT = "integer", "float", "boolean", "timestamp", "text"


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


def plain_value(value: Any, kind: str) -> Any:
    """A driver's value as `to_python` gives it from a frame of `fetch_df` (numbers of a FLOAT column as float,
    e.g. PostgreSQL's Decimal; naive-UTC datetimes), without building the frame."""
    if value is None:
        return None
    if kind == FLOAT:
        value = float(value)
        return value if math.isfinite(value) else None
    if kind == INTEGER:
        return int(value)
    if kind == BOOLEAN:
        return bool(value)
    if kind == TIMESTAMP and isinstance(value, datetime):
        return utc_naive(value)
    return value


def normalize_column(series: pd.Series, kind: str) -> np.ndarray | pd.Series:
    """One column in the convention of the module docstring (`kind`: INTEGER, FLOAT, BOOLEAN, TIMESTAMP or TEXT):
    numbers and booleans as numpy arrays, times and objects as Series (a bare object array handed to a frame would
    be inferred as pandas 3's `str`). Done on numpy arrays: every read of the warehouse passes
    here, and pandas' per-column `isna`/`where`/`astype` cost ~0.15 ms a column (6 ms for one row of raw.posts)."""
    if kind in (INTEGER, FLOAT):
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        if kind == INTEGER and not np.isnan(numbers).any():
            return series.to_numpy(dtype="int64") if series.dtype.kind in "iu" else numbers.astype("int64")
        return numbers
    if kind == TIMESTAMP:
        if not isinstance(series.dtype, (np.dtype, pd.DatetimeTZDtype)) or series.dtype.kind != "M":
            missing = series.isna()
            series = pd.to_datetime(series.astype(object).where(~missing, None), utc=True)
        if getattr(series.dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return series.astype("datetime64[us]").reset_index(drop=True)
    if series.dtype == np.dtype(bool):  # numpy's bool holds no NULL (a nullable boolean is an extension type)
        if kind == BOOLEAN:
            return series.to_numpy(dtype=bool)
        return pd.Series(series.to_numpy(dtype=object), dtype=object)
    values = series.to_numpy(dtype=object, copy=True)  # a copy: never write into the frame the driver handed us
    missing = pd.isna(values)
    if kind == BOOLEAN and not missing.any():
        return values.astype(bool)
    values[missing] = None
    return pd.Series(values, dtype=object, copy=False)


def normalize_frame(frame: pd.DataFrame, kinds: list[str]) -> pd.DataFrame:
    """Every column of `frame` (by position: one kind each; names may repeat) in the module's convention."""
    columns = {i: normalize_column(series, kind) for i, ((_, series), kind) in enumerate(zip(frame.items(), kinds,
                                                                                          strict=True))}
    out = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    out.columns = frame.columns
    return out
