"""The partner dashboard's old addresses. What it showed (the people opted in to the partner,
and per petition the signatures through it by source and by day) is now the partner's slice of
the organisers' workspace (organise): its overview and its petition pages. Bookmarks and links
in old emails still arrive, so each address sends its visitor to the workspace's equivalent."""

from django.views.generic import RedirectView


class WorkspaceRedirect(RedirectView):
    permanent = True
    query_string = True  # a ?next= from the old login page still works


partner_index = WorkspaceRedirect.as_view(pattern_name="organise:index")
partner_login = WorkspaceRedirect.as_view(pattern_name="organise:login")
partner_logout = WorkspaceRedirect.as_view(pattern_name="organise:login")


class PartnerDashboardRedirect(WorkspaceRedirect):
    def get_redirect_url(self, *args, slug, **kwargs):
        return super().get_redirect_url(org=slug)


partner_dashboard = PartnerDashboardRedirect.as_view(pattern_name="organise:overview")
