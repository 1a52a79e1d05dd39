# shim (issue 9): re-exports for callers outside this app; removed after merging
from mailings.selectors.segments import (  # noqa: F401
    Condition,
    SegmentError,
    condition_register,
    conditions,
    param_date_range,
    param_organisation,
    param_str,
    segment_q,
    segment_supporters,
)
