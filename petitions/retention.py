# shim (issue 9): re-exports for callers outside this app; removed after merging
from petitions.selectors import months_before, petitions_past_retention  # noqa: F401
from petitions.services.retention import BATCH_SIZE, signatures_anonymise_due  # noqa: F401
