"""REST API endpoints of this app (see docs/api.md)."""

urlpatterns: list = []
