"""REST API endpoints of the campaigns app (mounted under /api/v1/ by loyalty.api_urls)."""

from campaigns.api_actions import urlpatterns as action_urls
from campaigns.api_bonus import urlpatterns as bonus_urls
from campaigns.api_challenges import urlpatterns as challenge_urls
from campaigns.api_games import urlpatterns as games_urls
from campaigns.api_referrals import urlpatterns as referral_urls
from campaigns.api_segments import urlpatterns as segment_urls

urlpatterns = [
    *action_urls,
    *bonus_urls,
    *referral_urls,
    *challenge_urls,
    *segment_urls,
    *games_urls,
]
