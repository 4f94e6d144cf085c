"""URLs of the staff counter page, mounted at /counter/."""

from django.urls import path

from loyalty import counter_cards, counter_rewards, views

app_name = "counter"

urlpatterns = [
    path("", views.home, name="home"),
    path("location/", views.location_choose, name="location"),
    path("enrol/", views.enrol, name="enrol"),
    path("members/<int:pk>/", views.member_detail, name="member"),
    path("members/<int:pk>/purchase/", views.purchase_create, name="purchase"),
    path("members/<int:pk>/visit/", views.visit_create, name="visit"),
    path(
        "members/<int:pk>/rewards/<int:reward_pk>/redeem/",
        counter_rewards.redeem,
        name="redeem",
    ),
    path(
        "members/<int:pk>/vouchers/<int:voucher_pk>/",
        counter_rewards.voucher_show,
        name="voucher",
    ),
    path("members/<int:pk>/pay/", counter_rewards.pay, name="pay"),
    path(
        "members/<int:pk>/cards/<int:card_type_pk>/stamp/",
        counter_cards.stamp,
        name="stamp",
    ),
    path("vouchers/use/", counter_rewards.voucher_use_view, name="voucher_use"),
]
