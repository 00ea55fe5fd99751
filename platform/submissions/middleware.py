from django.conf import settings
from django.http import JsonResponse


class UploadSizeLimitMiddleware:
    """Refuse an oversized request from its Content-Length, before Django reads the body.

    Each lab has its own, smaller limit, checked while the file streams to storage; this is
    the site-wide ceiling that keeps a hostile client from filling the disk first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit_mb = settings.MAX_REQUEST_MB
        if length > limit_mb * 2**20:
            message = f"The upload is larger than the site's limit of {limit_mb} MB."
            return JsonResponse({"detail": message}, status=413)
        return self.get_response(request)
