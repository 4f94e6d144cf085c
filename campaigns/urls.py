"""Member portal pages of the campaigns app (mounted at the site root, beside the portal)."""

from django.urls import path

from campaigns import (
    views_actions,
    views_bonus,
    views_challenges,
    views_games,
    views_messaging,
    views_referrals,
)

app_name = "campaigns"

urlpatterns = [
    path("earn/", views_actions.earn, name="earn"),
    path("earn/<slug:code>/", views_actions.earn_claim, name="earn_claim"),
    path(
        "counter/members/<int:pk>/actions/",
        views_actions.counter_action,
        name="counter_action",
    ),
    path("inbox/", views_messaging.inbox, name="inbox"),
    path("inbox/<int:pk>/", views_messaging.inbox_message, name="inbox_message"),
    path("unsubscribe/<str:token>/", views_messaging.unsubscribe, name="unsubscribe"),
    path("refer/", views_referrals.refer, name="refer"),
    path("join/<str:code>/", views_referrals.join, name="join"),
    path("challenges/", views_challenges.challenges, name="challenges"),
    path("challenges/<int:pk>/join/", views_challenges.challenge_join_view, name="challenge_join"),
    path("bonus/", views_bonus.bonus, name="bonus"),
    path("leaderboard/", views_games.leaderboard, name="leaderboard"),
    path("leaderboard/join/", views_games.leaderboard_join, name="leaderboard_join"),
    path("leaderboard/leave/", views_games.leaderboard_leave, name="leaderboard_leave"),
    path("sweepstakes/", views_games.sweepstakes, name="sweepstakes"),
    path("sweepstakes/<int:pk>/buy/", views_games.sweepstake_buy, name="sweepstake_buy"),
]
