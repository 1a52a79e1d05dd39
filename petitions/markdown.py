# shim (issue 9): re-exports for callers outside this app; removed after merging
from engage.markdown import render_markdown  # noqa: F401
