"""REST API endpoints of the campaigns app (mounted under /api/v1/ by loyalty.api_urls)."""

urlpatterns: list = []
