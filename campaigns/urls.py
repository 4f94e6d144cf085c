"""Member portal pages of the campaigns app (mounted at the site root, beside the portal)."""

from django.urls import path  # noqa: F401

app_name = "campaigns"

urlpatterns: list = []
