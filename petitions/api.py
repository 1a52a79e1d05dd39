# shim (issue 9): re-exports for callers outside this app; removed after merging
# The old module name is the new module itself, so patches of its attributes reach the code that runs.
import sys

from petitions.views import api

sys.modules[__name__] = api
