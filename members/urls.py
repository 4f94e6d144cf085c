"""Member portal pages (dashboard, card, catalogue, vouchers, history)."""

app_name = "portal"

urlpatterns: list = []
