from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from health.views import health

admin.site.site_header = "6.S191 lab competitions: staff"
admin.site.site_title = "6.S191 staff"

# One error page for every status (core.errors; JSON under /api/); the middleware there
# covers DEBUG too.
handler403 = "core.errors.handler403"
handler404 = "core.errors.handler404"
handler429 = "core.errors.handler429"  # allauth's limits (django has no 429 handler)
handler500 = "core.errors.handler500"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("accounts.urls")),
    path("", include("courses.urls")),
    path("", include("projects.urls")),
    path("", include("submissions.urls")),
    path("", include("awards.urls")),
    path("", include("leaderboards.urls")),
    path("", include("judging.urls")),
    path("", include("notifications.urls")),
]
