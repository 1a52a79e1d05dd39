# shim (issue 9): re-exports for callers outside this app; removed after merging
from engage.links import EXPORT_PURPOSE, data_export_url  # noqa: F401
from engage.links import read_data_export_token as data_export_from_token  # noqa: F401
from engage.selectors import supporter_export_json  # noqa: F401
from engage.services.data_exports import data_export_build, data_export_request, data_exports_expire  # noqa: F401
