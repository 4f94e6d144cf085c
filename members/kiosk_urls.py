"""The tablet kiosk by the door: check in with a phone number."""

app_name = "kiosk"

urlpatterns: list = []
