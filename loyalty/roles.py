"""Staff roles as Django groups, with least privilege.

``ROLES`` maps a group name to the permissions it holds, as ``app_label.codename``; a
trailing ``*`` takes every permission of an app. ``roles_sync`` makes the groups match and
is run by migrations (with the historical app registry) and by ``manage.py setup_roles``.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

CASHIER = "Cashier"
MANAGER = "Manager"
PARTNER_STAFF = "Partner staff"

ROLES: dict[str, list[str]] = {
    # Counter work: find and enrol members, record purchases and visits, read the ledger.
    CASHIER: [
        "members.view_member",
        "members.add_member",
        "members.use_counter",
        "loyalty.view_location",
        "loyalty.view_program",
        "loyalty.view_purchase",
        "loyalty.add_purchase",
        "loyalty.view_visit",
        "loyalty.add_visit",
        "loyalty.view_ledgerentry",
        "loyalty.view_pointslot",
        # Tiers and punch cards: see a member's tier and cards, stamp a card by hand.
        "loyalty.view_tier",
        "loyalty.view_punchcard",
        "loyalty.add_stamp",
        # Rewards at the till: redeem for a member, use vouchers, pay with points.
        "rewards.view_reward",
        "rewards.view_voucher",
        "rewards.add_voucher",
        "rewards.use_voucher",
        "rewards.add_pointspayment",
        # Campaigns at the till: record an action bonus (a review, a newsletter sign-up).
        "campaigns.view_actiontype",
        "campaigns.view_actionrecord",
        "campaigns.add_actionrecord",
        "campaigns.view_memberbadge",
    ],
    # Everything in the programme, including adjusting points and the programme settings.
    MANAGER: [
        "members.*",
        "loyalty.*",
        "rewards.*",
        "campaigns.*",
        "auth.view_user",
        "django_celery_beat.*",
    ],
    # A partner's own staff: only the partner page, which shows only that partner's vouchers.
    PARTNER_STAFF: ["rewards.use_partner_page"],
}


def roles_sync(apps=global_apps, *, verbosity: int = 0) -> None:
    """Create the role groups and give each exactly the permissions in ``ROLES``."""
    for app_config in apps.get_app_configs():
        # Permissions are normally created after migrate; create them now so groups can use them.
        # (Historical app configs have no models module; the real ones must keep theirs, or
        # later post-migrate signals would skip their permissions.)
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_permissions(app_config, apps=apps, verbosity=verbosity)
        finally:
            app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, specs in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        wanted = []
        for spec in specs:
            app_label, codename = spec.split(".", 1)
            qs = Permission.objects.filter(content_type__app_label=app_label)
            if codename != "*":
                qs = qs.filter(codename=codename)
            wanted.extend(qs)
        group.permissions.set(wanted)
