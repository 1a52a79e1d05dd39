# shim (issue 9): re-exports for callers outside this app; removed after merging
from tests.support.factories import make_cosponsorship, make_organisation, make_partner, make_petition, sign_data

__all__ = ["make_cosponsorship", "make_organisation", "make_partner", "make_petition", "sign_data"]
