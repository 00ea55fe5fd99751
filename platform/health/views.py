from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from .services import health_report


@never_cache
def health(request):
    report = health_report()
    return JsonResponse(report, status=503 if report["status"] == "down" else 200)
