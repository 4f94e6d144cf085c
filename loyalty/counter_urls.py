"""URLs of the staff counter page, mounted at /counter/."""

from django.urls import path

from loyalty import views

app_name = "counter"

urlpatterns = [
    path("", views.home, name="home"),
    path("location/", views.location_choose, name="location"),
    path("enrol/", views.enrol, name="enrol"),
    path("members/<int:pk>/", views.member_detail, name="member"),
    path("members/<int:pk>/purchase/", views.purchase_create, name="purchase"),
    path("members/<int:pk>/visit/", views.visit_create, name="visit"),
]
