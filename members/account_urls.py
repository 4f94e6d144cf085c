"""Member account pages beyond allauth: claim a counter membership, preferences, privacy."""

from django.urls import path

from members import account_views as views

app_name = "account"

urlpatterns = [
    path("", views.profile, name="profile"),
    path("claim/", views.claim, name="claim"),
    path("claim/code/", views.claim_code, name="claim_code"),
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/export/", views.privacy_export, name="privacy_export"),
    path("privacy/delete/", views.privacy_delete, name="privacy_delete"),
]
