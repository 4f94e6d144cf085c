"""Build the demo café programme, its members and a year of history; ensure the demo staff.

Everything goes through the services (``member_enroll``, ``purchase_record``,
``purchase_refund``, ``visit_record``, ``points_debit``, ``points_adjust`` and the nightly
jobs), so the demo ledger is built exactly like a real one and ``check_ledger`` passes.

Idempotent: the locations, earning rules and staff accounts are ensured on every run; the
members and their history are created only when no demo member exists yet. A fixed random
seed makes the data the same on every machine (times are relative to when it runs).
"""

from __future__ import annotations

import heapq
import random
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone
from faker import Faker

from campaigns.demo import demo_campaigns_ensure
from loyalty import errors
from loyalty.models import (
    Benefit,
    EarnRule,
    Location,
    Program,
    PunchCardType,
    Rounding,
    Source,
    Tier,
    TierMetric,
    VipMetric,
)
from loyalty.models import Validity as ValidityRule
from loyalty.roles import CASHIER, MANAGER, roles_sync
from loyalty.services import (
    points_adjust,
    points_expire_due,
    points_release_pending,
    purchase_record,
    purchase_refund,
    visit_record,
)
from members.models import Member
from members.services import member_enroll
from rewards.models import MysteryPoolEntry, Partner, Reward, Voucher
from rewards.services import reward_redeem, voucher_use

DEMO_EMAIL_DOMAIN = "demo.cafe-aroma.example"
DEFAULT_SEED = 20240901

# Demo accounts for trying the back office; printed only when DEBUG is on.
DEMO_STAFF = {
    "manager": {"group": MANAGER, "password": "aroma-manager-demo", "first_name": "Maija"},
    "cashier": {"group": CASHIER, "password": "aroma-cashier-demo", "first_name": "Kalle"},
}

LOCATIONS = [
    ("aroma-kamppi", "Café Aroma Kamppi", "Urho Kekkosen katu 1, 00100 Helsinki", "KMP"),
    ("aroma-kallio", "Café Aroma Kallio", "Hämeentie 12, 00530 Helsinki", "KLO"),
    ("aroma-toolo", "Café Aroma Töölö", "Runeberginkatu 40, 00260 Helsinki", "TLO"),
]

# (locale, member language, share of members, phone prefix, digits after the prefix)
LOCALES = [
    ("fi_FI", "fi", 0.40, "+35840", 7),
    ("et_EE", "et", 0.25, "+3725", 7),
    ("pl_PL", "pl", 0.20, "+4851", 7),
    ("zh_TW", "zh-hant", 0.15, "+8869", 8),
]

# SKU, category, description, unit price
COFFEE = [
    ("COF-ESP", "coffee", "Espresso", "2.80"),
    ("COF-FIL", "coffee", "Filter coffee", "2.50"),
    ("COF-CAP", "coffee", "Cappuccino", "3.90"),
    ("COF-LAT", "coffee", "Caffè latte", "4.20"),
    ("COF-FWH", "coffee", "Flat white", "4.10"),
    ("TEA-CHA", "coffee", "Chai latte", "4.30"),
]
PASTRIES = [
    ("PAS-KOR", "pastry", "Cinnamon bun (korvapuusti)", "3.50"),
    ("PAS-CRO", "pastry", "Croissant", "3.20"),
    ("PAS-PAC", "pastry", "Pączek with rose jam", "2.90"),
    ("PAS-KRI", "pastry", "Kringel slice", "3.40"),
    ("PAS-PIN", "pastry", "Pineapple cake", "3.80"),
    ("PAS-KAR", "pastry", "Karelian pasty", "2.60"),
]
SANDWICHES = [
    ("SAN-HAM", "sandwich", "Ham and cheese sandwich", "6.90"),
    ("SAN-SAL", "sandwich", "Smoked salmon on rye", "8.50"),
    ("SAN-VEG", "sandwich", "Halloumi and roasted pepper", "7.20"),
]
BEANS = [
    ("BEANS-250", "beans", "House blend beans, 250 g", "12.90"),
    ("BEANS-1000", "beans", "House blend beans, 1 kg", "39.00"),
]

# The catalogue: (name, kind, points cost, value, extra fields).
CATALOGUE = [
    ("Free filter coffee", "free_product", 100, "3.20", {}),
    ("Free cappuccino", "free_product", 150, "4.50", {}),
    ("Coffee and pastry", "free_product", 250, "7.50", {}),
    ("€5 store credit", "store_credit", 400, "5.00", {}),
    (
        "10% off a bag of beans",
        "percent_discount",
        200,
        "1.50",
        {"discount_percent": Decimal("10")},
    ),
    ("Winter mug", "free_product", 600, "12.00", {"stock": 25, "season_months": "11,12,1,2"}),
    ("Donate to the food bank", "donation", 200, "2.00", {"cause": "Helsinki food bank"}),
    ("Barista class (VIP evening)", "experience", 1500, "35.00", {"stock": 12}),
    ("Mystery treat", "mystery", 300, "0.00", {}),
]
PARTNER = ("Leipomo Kanelia", "kanelia", "Kanelia bakery, Vallila", "Fresh cinnamon bun at Kanelia")
ADJUSTMENTS = [
    (20, "Apology: wrong order served"),
    (50, "Birthday treat"),
    (30, "Points missed on a receipt, added by hand"),
    (-15, "Receipt scanned twice, points corrected"),
]


@dataclass(order=True)
class _Step:
    at: datetime
    seq: int
    action: str = field(compare=False)
    member: int = field(compare=False, default=-1)
    data: Any = field(compare=False, default=None)


@dataclass
class _Stats:
    members: int = 0
    purchases: int = 0
    visits: int = 0
    refunds: int = 0
    redemptions: int = 0
    adjustments: int = 0
    expired: int = 0
    released: int = 0


# Letters that Unicode does not decompose into an ASCII letter and a mark.
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss"})


def _ascii(text: str) -> str:
    """Return ``text`` folded to lower-case ASCII, for the local part of an email address."""
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD))
    folded = folded.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", ".", folded.lower()).strip(".") or "guest"


class Command(BaseCommand):
    help = (
        "Build the demo café programme 'Café Aroma' (3 locations, earning rules, members with "
        "a year of purchases, visits, refunds, redemptions and adjustments) through the "
        "services, and ensure the demo manager and cashier accounts. Safe to run again: "
        "existing demo data is kept, not duplicated."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members", type=int, default=200, help="How many demo members to create."
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help="Random seed (same seed, same data)."
        )

    def handle(self, *args, members: int, seed: int, **options):
        if members < 1:
            raise CommandError("--members must be at least 1.")
        started = time.monotonic()
        with transaction.atomic():
            locations = self._ensure_locations()
            staff = self._ensure_staff(locations)
        if Member.objects.filter(email__endswith="@" + DEMO_EMAIL_DOMAIN).exists():
            self.stdout.write("Demo members already exist; members and history left as they are.")
        else:
            # One transaction for the whole history: SQLite writes it many times faster, and
            # an interrupted run leaves nothing half-built behind. The messages the history
            # sends (challenge completed, vouchers...) are logged and shown in the members'
            # inboxes, but kept in memory rather than printed to the console.
            with (
                override_settings(
                    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
                    SMS_BACKEND="members.sms.LocmemBackend",
                ),
                transaction.atomic(),
            ):
                self._ensure_programme()
                self._ensure_rules()
                self._ensure_catalogue(locations)
                demo_campaigns_ensure()
                stats = _HistoryBuilder(
                    locations=locations,
                    manager=staff["manager"],
                    cashier=staff["cashier"],
                    members=members,
                    seed=seed,
                    out=self.stdout,
                ).build()
            stats.released += points_release_pending()
            stats.expired += points_expire_due()
            self.stdout.write(
                f"Created {stats.members} members, {stats.purchases} purchases, "
                f"{stats.visits} visits, {stats.refunds} refunds, {stats.redemptions} "
                f"redemptions, {stats.adjustments} adjustments; {stats.expired} points expired."
            )
        self.stdout.write(self.style.SUCCESS(f"Demo ready in {time.monotonic() - started:.1f} s."))
        if settings.DEBUG:
            for username, spec in DEMO_STAFF.items():
                self.stdout.write(
                    f"  {spec['group']}: username {username!r}, password {spec['password']!r}"
                )

    # ----------------------------------------------------------------------------------------

    def _ensure_locations(self) -> list[Location]:
        locations = []
        for code, name, address, _prefix in LOCATIONS:
            location, _created = Location.objects.get_or_create(
                code=code, defaults={"name": name, "address": address}
            )
            locations.append(location)
        return locations

    def _ensure_staff(self, locations: list[Location]) -> dict[str, Any]:
        user_model = get_user_model()
        if Group.objects.filter(name__in=[MANAGER, CASHIER]).count() != 2:
            roles_sync()
        users = {}
        for username, spec in DEMO_STAFF.items():
            user, created = user_model.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": spec["first_name"],
                    "last_name": "Demo",
                    "email": f"{username}@{DEMO_EMAIL_DOMAIN}",
                },
            )
            user.is_staff = True
            user.is_active = True
            # A known password is reset only where the demo is meant to be tried: never
            # overwrite a real password on a production installation.
            if created or settings.DEBUG:
                user.set_password(spec["password"])
            user.save()
            user.groups.add(Group.objects.get(name=spec["group"]))
            for location in locations:
                location.staff.add(user)
            users[username] = user
        return users

    def _ensure_programme(self) -> None:
        program, _created = Program.objects.get_or_create(pk=1)
        program.name = "Café Aroma"
        program.currency = "EUR"
        program.points_name = "beans"
        program.default_country = "FI"
        program.earn_rate = Decimal("1")
        program.rounding = Rounding.DOWN
        program.validity = ValidityRule.ROLLING
        program.validity_months = 12
        program.pending_days = 14
        program.welcome_bonus = 50
        program.first_purchase_bonus = 25
        program.points_per_visit = 5
        program.min_redemption_points = 100
        program.point_value = Decimal("0.01")
        program.primary_colour = "#6b3e26"
        program.tier_metric = TierMetric.SPEND
        program.tier_window_months = 12
        program.tier_grace_days = 30
        program.vip_auto_metric = VipMetric.LIFETIME_SPEND
        program.vip_auto_threshold = Decimal("600")
        program.vip_earn_bonus_percent = Decimal("10")
        program.save()

    def _ensure_catalogue(self, locations: list[Location]) -> None:
        """Tiers, benefits, a coffee stamp card, the rewards catalogue and a partner bakery."""
        refill, _ = Benefit.objects.get_or_create(
            code="free_refill", defaults={"name": "Free refill of filter coffee"}
        )
        Benefit.objects.get_or_create(
            code="priority_service", defaults={"name": "Priority at the counter", "for_vip": True}
        )
        for rank, name, colour, threshold, multiplier in [
            (1, "Bronze", "#8c5a2b", "0", "1"),
            (2, "Silver", "#7d8b99", "150", "1.5"),
            (3, "Gold", "#b8860b", "400", "2"),
        ]:
            tier, _ = Tier.objects.get_or_create(
                rank=rank,
                defaults={
                    "name": name,
                    "colour": colour,
                    "threshold": Decimal(threshold),
                    "multiplier": Decimal(multiplier),
                },
            )
            if rank == 3:
                tier.benefits.add(refill)
        rewards = {}
        for order, (name, kind, cost, value, extra) in enumerate(CATALOGUE):
            rewards[name], _ = Reward.objects.get_or_create(
                name=name,
                defaults={
                    "kind": kind,
                    "points_cost": cost,
                    "value": Decimal(value),
                    "display_order": order * 10,
                    "voucher_valid_days": 60,
                    **extra,
                },
            )
        for prize, weight in [
            ("Free filter coffee", 3),
            ("Free cappuccino", 2),
            ("Coffee and pastry", 1),
        ]:
            MysteryPoolEntry.objects.get_or_create(
                mystery=rewards["Mystery treat"], reward=rewards[prize], defaults={"weight": weight}
            )
        name, code, shop, reward_name = PARTNER
        partner, _ = Partner.objects.get_or_create(
            name=name,
            defaults={"settlement": Partner.Settlement.FIXED, "settlement_fixed": Decimal("2.50")},
        )
        Location.objects.get_or_create(code=code, defaults={"name": shop, "partner": partner})
        Reward.objects.get_or_create(
            name=reward_name,
            defaults={
                "kind": "partner",
                "partner": partner,
                "points_cost": 120,
                "value": Decimal("3.90"),
            },
        )
        free_coffee = Reward.objects.get_or_create(
            name="Free coffee (stamp card)",
            defaults={"kind": "free_product", "value": Decimal("3.20"), "voucher_valid_days": 90},
        )[0]
        PunchCardType.objects.get_or_create(
            name="Coffee card",
            defaults={
                "stamps_needed": 10,
                "earn_on": PunchCardType.EarnOn.ITEM,
                "category": "coffee",
                "per_item": False,
                "max_stamps_per_day": 2,
                "reward": free_coffee,
            },
        )

    def _ensure_rules(self) -> None:
        rules = [
            ("Pastries earn double", {"kind": "multiplier", "category": "pastry", "multiplier": 2}),
            ("Bag of beans bonus", {"kind": "fixed_per_item", "sku": "BEANS-250", "points": 15}),
            (
                "Big bag of beans bonus",
                {"kind": "fixed_per_item", "sku": "BEANS-1000", "points": 50},
            ),
            (
                "Spend over €30 bonus",
                {"kind": "threshold", "min_total": Decimal("30"), "points": 20},
            ),
        ]
        for name, spec in rules:
            EarnRule.objects.get_or_create(name=name, defaults=spec)


class _HistoryBuilder:
    """Create members and replay a year of café life through the services, in time order."""

    def __init__(self, *, locations, manager, cashier, members: int, seed: int, out) -> None:
        self.locations = locations
        self.prefix = {loc.pk: p for loc, (*_rest, p) in zip(locations, LOCATIONS, strict=True)}
        self.manager = manager
        self.cashier = cashier
        self.count = members
        self.rng = random.Random(seed)
        self.seed = seed
        self.out = out
        # A few minutes in the past, so that no service sees a time in the future.
        self.now = timezone.now() - timedelta(minutes=10)
        self.tz = timezone.get_current_timezone()
        self.steps: list[_Step] = []
        self.seq = 0
        self.by_index: dict[int, Member] = {}
        self.receipts: dict[int, int] = {}
        self.purchases: dict[int, Any] = {}
        self.stats = _Stats()
        self.catalogue = sorted(
            Reward.objects.filter(
                points_cost__isnull=False, partner__isnull=True, is_active=True
            ).exclude(kind=Reward.Kind.EXPERIENCE),
            key=lambda r: r.points_cost,
        )

    def build(self) -> _Stats:
        self._plan()
        # Member enrolments, purchases and refunds are planned up front; redemptions depend
        # on the balance at the time and are decided while replaying.
        heapq.heapify(self.steps)
        while self.steps:
            step = heapq.heappop(self.steps)
            getattr(self, f"_do_{step.action}")(step)
        return self.stats

    # -- planning ----------------------------------------------------------------------------

    def _push(self, at: datetime, action: str, member: int = -1, data: Any = None) -> None:
        self.seq += 1
        self.steps.append(_Step(at=at, seq=self.seq, action=action, member=member, data=data))

    def _at_day(self, day: date, *, lunch: bool = False) -> datetime:
        rng = self.rng
        hour = (
            rng.choice([11, 12, 12, 13, 13, 14])
            if lunch
            else rng.choice([7, 8, 8, 9, 9, 10, 11, 12, 13, 14, 15, 15, 16, 17, 18])
        )
        local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), tzinfo=self.tz)
        return min(local, self.now)

    def _plan(self) -> None:
        rng = self.rng
        weights = [spec[2] for spec in LOCALES]
        fakers = {}
        for index, (loc, *_rest) in enumerate(LOCALES):
            fakers[loc] = Faker(loc)
            fakers[loc].seed_instance(self.seed + index)
        used_phones: set[str] = set()
        window_start = self.now - timedelta(days=365)
        # Weekly purchase rates: regulars, weekly, fortnightly, now and then.
        profiles = [(1.5, 0.12), (0.6, 0.30), (0.3, 0.38), (0.08, 0.20)]
        for i in range(self.count):
            loc, language, _share, prefix, digits = rng.choices(LOCALES, weights)[0]
            fake = fakers[loc]
            first, last = fake.first_name(), fake.last_name()
            while True:
                phone = prefix + "".join(str(rng.randrange(10)) for _ in range(digits))
                if phone not in used_phones:
                    used_phones.add(phone)
                    break
            # Names in Chinese characters get a romanised user name for the address.
            handle = _ascii(f"{first} {last}")
            if handle == "guest":
                handle = _ascii(fake.user_name())
            email = f"{handle}.{i + 1}@{DEMO_EMAIL_DOMAIN}"
            contact = rng.random()
            data = {
                "phone": phone if contact < 0.95 else None,
                "email": email,
                "first_name": first,
                "last_name": last,
                "language": language,
                "birth_date": date(1945, 1, 1) + timedelta(days=rng.randrange(365 * 60)),
                "home": rng.randrange(len(self.locations)),
            }
            enrolled = self.now - timedelta(days=rng.uniform(3, 425))
            self._push(enrolled, "enrol", i, data)
            rate = rng.choices([p[0] for p in profiles], [p[1] for p in profiles])[0]
            rate *= rng.uniform(0.7, 1.3)
            t = max(enrolled, window_start) + timedelta(minutes=5)
            t_day = t
            while True:
                t_day += timedelta(days=rng.expovariate(rate / 7))
                if t_day >= self.now:
                    break
                day = t_day.astimezone(self.tz).date()
                if rng.random() < 0.12:
                    self._push(max(self._at_day(day), t), "visit", i, data["home"])
                else:
                    basket = self._basket(data["home"])
                    at = max(self._at_day(day, lunch=basket["lunch"]), t)
                    self._push(at, "purchase", i, basket)
            if rng.random() < 0.06:
                points, reason = rng.choice(ADJUSTMENTS)
                at = enrolled + (self.now - enrolled) * rng.uniform(0.2, 1)
                self._push(at, "adjust", i, (points, reason))
        # The nightly expiry and release jobs, run once a month in the replay.
        month = window_start.astimezone(self.tz).date().replace(day=1)
        while True:
            month = (month + timedelta(days=32)).replace(day=1)
            at = datetime(month.year, month.month, 1, 3, 0, tzinfo=self.tz)
            if at >= self.now:
                break
            self._push(at, "nightly")

    def _basket(self, home: int) -> dict[str, Any]:
        rng = self.rng
        location = home if rng.random() < 0.75 else rng.randrange(len(self.locations))
        lines: list[tuple[tuple[str, str, str, str], int]] = []
        people = 1 if rng.random() < 0.85 else rng.randint(2, 4)
        big_order = rng.random() < 0.03
        if big_order:
            people = rng.randint(5, 10)
        if rng.random() < 0.92:
            lines.append((rng.choice(COFFEE), people))
        if rng.random() < 0.45:
            lines.append((rng.choice(PASTRIES), rng.randint(1, people)))
        if rng.random() < 0.2 or big_order:
            lines.append((rng.choice(SANDWICHES), rng.randint(1, people)))
        if rng.random() < 0.05:
            lines.append((rng.choice(BEANS[:1] if rng.random() < 0.8 else BEANS[1:]), 1))
        if not lines:
            lines.append((rng.choice(COFFEE), 1))
        merged: dict[str, dict[str, Any]] = {}
        for (sku, category, description, price), qty in lines:
            line = merged.setdefault(
                sku,
                {"sku": sku, "category": category, "description": description, "quantity": 0},
            )
            line["quantity"] += qty
            line["amount"] = Decimal(price) * line["quantity"]
        return {
            "location": location,
            "lines": list(merged.values()),
            "api": rng.random() < 0.2,
            "refund": rng.random() < 0.012,
            "redeem": rng.random(),
            "lunch": any(line["category"] == "sandwich" for line in merged.values()),
        }

    # -- replay ------------------------------------------------------------------------------

    def _do_enrol(self, step: _Step) -> None:
        data = step.data
        member = member_enroll(
            phone=data["phone"],
            email=data["email"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            birth_date=data["birth_date"],
            language=data["language"],
            location=self.locations[data["home"]],
            via=Source.COUNTER,
            actor=self.cashier,
            at=step.at,
        )
        self.by_index[step.member] = member
        self.stats.members += 1

    def _do_purchase(self, step: _Step) -> None:
        member = self.by_index[step.member]
        basket = step.data
        location = self.locations[basket["location"]]
        number = self.receipts[location.pk] = self.receipts.get(location.pk, 0) + 1
        total = sum((line["amount"] for line in basket["lines"]), Decimal(0))
        api = basket["api"]
        result = purchase_record(
            member=member,
            location=location,
            total=total,
            lines=basket["lines"],
            occurred_at=step.at,
            external_id=f"{self.prefix[location.pk]}-{number:06d}",
            actor=None if api else self.cashier,
            source=Source.API if api else Source.COUNTER,
        )
        self.stats.purchases += 1
        if basket["refund"]:
            refund_at = min(step.at + timedelta(hours=self.rng.uniform(0.2, 72)), self.now)
            self._schedule(refund_at, "refund", step.member, (result.purchase, basket["lines"]))
        # Now and then the member redeems a reward at the same visit and uses it at once or
        # on a later visit (some vouchers are left unused, as in real life).
        if basket["redeem"] < 0.18:
            self._redeem(member, step, big=basket["redeem"] < 0.09, location=location)
        for voucher in result.vouchers:
            self._maybe_use(voucher, step.at + timedelta(days=self.rng.uniform(1, 20)), location)

    def _redeem(self, member: Member, step: _Step, *, big: bool, location: Location) -> None:
        affordable = [r for r in self.catalogue if (r.points_cost or 0) <= member.balance]
        if not affordable:
            return
        reward = affordable[-1] if big else affordable[0]
        try:
            voucher = reward_redeem(
                member=member, reward=reward, actor=self.cashier, at=step.at + timedelta(seconds=30)
            )
        except errors.LoyaltyError:
            return  # out of season, out of stock or over a limit at that moment: no redemption
        self.stats.redemptions += 1
        self._maybe_use(voucher, step.at + timedelta(minutes=1), location)

    def _maybe_use(self, voucher: Voucher, at: datetime, location: Location) -> None:
        if voucher.status == Voucher.Status.ISSUED and self.rng.random() < 0.8 and at < self.now:
            self._schedule(at, "use", -1, (voucher.code, location))

    def _schedule(self, at: datetime, action: str, member: int, data: Any) -> None:
        self.seq += 1
        heapq.heappush(
            self.steps, _Step(at=at, seq=self.seq, action=action, member=member, data=data)
        )

    def _do_use(self, step: _Step) -> None:
        code, location = step.data
        try:
            voucher_use(code=code, location=location, actor=self.cashier, at=step.at)
        except errors.LoyaltyError:
            return  # expired or already used: nothing to do

    def _do_refund(self, step: _Step) -> None:
        purchase, lines = step.data
        partial = len(lines) > 1 and self.rng.random() < 0.5
        purchase_refund(
            purchase=purchase,
            amount=lines[-1]["amount"] if partial else None,
            actor=self.manager,
            reason="Item returned" if partial else "Order cancelled",
            at=step.at,
        )
        self.stats.refunds += 1

    def _do_visit(self, step: _Step) -> None:
        visit_record(
            member=self.by_index[step.member],
            location=self.locations[step.data],
            source=Source.KIOSK,
            at=step.at,
        )
        self.stats.visits += 1

    def _do_adjust(self, step: _Step) -> None:
        points, reason = step.data
        try:
            points_adjust(
                member=self.by_index[step.member],
                points=points,
                reason=reason,
                actor=self.manager,
                at=step.at,
            )
        except errors.InsufficientPoints:
            return
        self.stats.adjustments += 1

    def _do_nightly(self, step: _Step) -> None:
        self.stats.released += points_release_pending(as_of=step.at)
        self.stats.expired += points_expire_due(as_of=step.at)
        # The jobs update balances in bulk; refresh the members held in memory.
        current = dict(
            Member.objects.filter(pk__in=[m.pk for m in self.by_index.values()]).values_list(
                "pk", "balance"
            )
        )
        for member in self.by_index.values():
            member.balance = current[member.pk]
