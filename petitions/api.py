import hashlib
import json

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.views.decorators.http import require_GET

from petitions.selectors import petition_summary, signature_count_live


@require_GET
def petition_summary_api(request, slug):
    """The public summary with the live count: no COUNT(*), no database query when warm."""
    summary = petition_summary(slug=slug)
    if summary is None:
        return JsonResponse({"error": "not_found", "message": "No such petition."}, status=404)
    count = signature_count_live(petition_id=summary["id"], fallback=summary["reconciled_count"])
    body = json.dumps(
        {
            "slug": summary["slug"],
            "title": summary["title"],
            "target": summary["target"],
            "signature_count": count,
            "goal": summary["goal"],
            "status": summary["status"],
            "closes_at": summary["closes_at"],
            "url": request.build_absolute_uri(summary["url"]),
        },
        separators=(",", ":"),
    ).encode()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = (
        f"public, max-age={settings.COUNT_CACHE_SECONDS}, stale-while-revalidate=60, stale-if-error=600"
    )
    response["Access-Control-Allow-Origin"] = "*"
    return response
