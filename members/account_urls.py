"""Member account pages beyond allauth: claim a counter membership, preferences, privacy."""

app_name = "account"

urlpatterns: list = []
