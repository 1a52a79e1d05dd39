# shim (issue 9): re-exports for callers outside this app; removed after merging
from mailings.bulk_messages import list_id_header, mailing_compiled  # noqa: F401
from mailings.services.sending import (  # noqa: F401
    ChunkResult,
    chunk_claim,
    chunk_send,
    claims_sweep,
    deliveries_snapshot,
    mailing_finish_if_done,
    snapshot_statement,
    unknown_reconcile,
)
from mailings.sql import SNAPSHOT_WORK_MEM  # noqa: F401
