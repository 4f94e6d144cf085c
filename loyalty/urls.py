"""URLs of the platform: admin, staff counter page (and later the API and the portal)."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("counter/", include("loyalty.counter_urls")),
    path("partner/", include("rewards.urls")),
    path("", RedirectView.as_view(pattern_name="counter:home", permanent=False)),
]
