"""The REST API under /api/v1/: each app contributes its own ``api_urlpatterns``."""

from django.urls import re_path

from campaigns.api import urlpatterns as campaign_urls
from loyalty.api import api_not_found
from loyalty.api import urlpatterns as loyalty_urls
from loyalty.api_webhooks import urlpatterns as webhook_urls
from members.api import urlpatterns as member_urls
from rewards.api import urlpatterns as reward_urls

urlpatterns = [
    *member_urls,
    *loyalty_urls,
    *reward_urls,
    *webhook_urls,
    *campaign_urls,
    # Last: any other address under /api/v1/ gets a JSON 404, not the HTML page.
    re_path(r"^[\s\S]*$", api_not_found),
]
