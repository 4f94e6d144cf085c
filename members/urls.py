"""Member portal pages (dashboard, card, catalogue, vouchers, history)."""

from django.urls import path

from members import views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("card/", views.card, name="card"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("portal-sw.js", views.service_worker, name="service_worker"),
    path("rewards/", views.rewards, name="rewards"),
    path("rewards/<int:pk>/redeem/", views.redeem, name="redeem"),
    path("vouchers/", views.vouchers, name="vouchers"),
    path("vouchers/<str:code>/", views.voucher, name="voucher"),
    path("history/", views.history, name="history"),
    path("history/purchases/<int:pk>/", views.purchase, name="purchase"),
]
