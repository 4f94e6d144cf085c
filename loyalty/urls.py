"""URLs of the platform: admin, staff counter page, partner page, REST API and its docs, portal."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from members.views import language_set

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before Django's own: the same URL and name, and a signed-in member keeps the choice.
    path("i18n/setlang/", language_set, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("counter/", include("loyalty.counter_urls")),
    path("partner/", include("rewards.urls")),
    path("api/v1/", include("loyalty.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    path("accounts/", include("allauth.urls")),
    path("account/", include("members.account_urls")),
    path("kiosk/", include("members.kiosk_urls")),
    path("", include("campaigns.urls")),
    path("", include("members.urls")),
]
