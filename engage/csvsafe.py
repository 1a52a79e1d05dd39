# shim (issue 9): re-exports for callers outside this app; removed after merging
from engage.csvfiles import csv_safe  # noqa: F401
