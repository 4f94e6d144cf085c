"""REST API endpoints of the campaigns app (mounted under /api/v1/ by loyalty.api_urls)."""

from campaigns.api_actions import urlpatterns as action_urls
from campaigns.api_bonus import urlpatterns as bonus_urls

urlpatterns: list = []
urlpatterns += action_urls
urlpatterns += bonus_urls

from campaigns.api_referrals import urlpatterns as referral_urls  # noqa: E402

urlpatterns += referral_urls

from campaigns.api_challenges import urlpatterns as challenge_urls  # noqa: E402

urlpatterns += challenge_urls

from campaigns.api_segments import urlpatterns as segment_urls  # noqa: E402

urlpatterns += segment_urls

from campaigns.api_games import urlpatterns as games_urls  # noqa: E402

urlpatterns += games_urls
