from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# Each area of the app that reacts to purchases, visits, refunds or enrolments has a
# ``connect()`` that registers its handlers with ``loyalty.hooks``; they run in this order.
# Games come before anything that may issue a voucher: an instant win locks its counter row
# on every purchase and then a reward, so every handler must take those locks in that order.
HOOKED_MODULES = (
    "campaigns.bonus",
    "campaigns.games",
    "campaigns.actions",
    "campaigns.referrals",
    "campaigns.challenges",
    "campaigns.leaderboard",
    "campaigns.messaging",
    "campaigns.privacy",
)


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from importlib.util import find_spec

        for name in HOOKED_MODULES:
            if find_spec(name) is None:
                continue
            module = import_module(name)
            connect = getattr(module, "connect", None)
            if connect is not None:
                connect()
