# shim (issue 9): re-exports for callers outside this app; removed after merging
from petitions.services.mobilisation import BODY, NoSender, mobilisation_create  # noqa: F401
