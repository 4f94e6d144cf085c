"""Member portal pages of the campaigns app (mounted at the site root, beside the portal)."""

from django.urls import path  # noqa: F401

from campaigns import views_actions

app_name = "campaigns"

urlpatterns: list = []
urlpatterns += [
    path("earn/", views_actions.earn, name="earn"),
    path("earn/<slug:code>/", views_actions.earn_claim, name="earn_claim"),
    path(
        "counter/members/<int:pk>/actions/",
        views_actions.counter_action,
        name="counter_action",
    ),
]

from campaigns import views_referrals  # noqa: E402

urlpatterns += [
    path("refer/", views_referrals.refer, name="refer"),
    path("join/<str:code>/", views_referrals.join, name="join"),
]

from campaigns import views_messaging  # noqa: E402

urlpatterns += [
    path("inbox/", views_messaging.inbox, name="inbox"),
    path("inbox/<int:pk>/", views_messaging.inbox_message, name="inbox_message"),
    path("unsubscribe/<str:token>/", views_messaging.unsubscribe, name="unsubscribe"),
]

from campaigns import views_challenges  # noqa: E402

urlpatterns += [
    path("challenges/", views_challenges.challenges, name="challenges"),
    path(
        "challenges/<int:pk>/join/", views_challenges.challenge_join_view, name="challenge_join"
    ),
]

from campaigns import views_bonus  # noqa: E402

urlpatterns += [path("bonus/", views_bonus.bonus, name="bonus")]

from campaigns import views_games  # noqa: E402

urlpatterns += [
    path("leaderboard/", views_games.leaderboard, name="leaderboard"),
    path("leaderboard/join/", views_games.leaderboard_join, name="leaderboard_join"),
    path("leaderboard/leave/", views_games.leaderboard_leave, name="leaderboard_leave"),
    path("sweepstakes/", views_games.sweepstakes, name="sweepstakes"),
    path("sweepstakes/<int:pk>/buy/", views_games.sweepstake_buy, name="sweepstake_buy"),
]
