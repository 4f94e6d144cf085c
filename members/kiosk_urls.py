"""The tablet kiosk by the door: check in with a phone number.

The fixed paths come before ``<code>/``, so a location cannot use "join" or "done" as its
code for a kiosk.
"""

from django.urls import path

from members import kiosk_views

app_name = "kiosk"

urlpatterns = [
    path("", kiosk_views.kiosk_home, name="home"),
    path("join/", kiosk_views.kiosk_enrol, name="enrol"),
    path("done/", kiosk_views.kiosk_done, name="done"),
    path("<slug:code>/", kiosk_views.kiosk_open, name="open"),
]
