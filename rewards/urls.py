"""URLs of the partner page, mounted at /partner/."""

from django.urls import path

from rewards import views

app_name = "partner"

urlpatterns = [
    path("", views.home, name="home"),
    path("choose/", views.partner_choose, name="choose"),
]
