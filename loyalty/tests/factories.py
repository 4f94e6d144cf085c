"""Factories for the programme core."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from loyalty.models import EarnRule, Location
from loyalty.roles import CASHIER, MANAGER


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Shop {n}")
    code = factory.Sequence(lambda n: f"shop-{n}")


class EarnRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EarnRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    kind = EarnRule.Kind.MULTIPLIER
    category = "pastry"


class StaffUserFactory(factory.django.DjangoModelFactory):
    """A staff user in one role group (``role=CASHIER`` or ``MANAGER``)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = True
    password = factory.django.Password("pw-for-tests-only")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))

    @factory.post_generation
    def locations(self, create, extracted, **kwargs):
        if create and extracted:
            for location in extracted:
                location.staff.add(self)


def cashier(**kwargs):
    return StaffUserFactory(role=CASHIER, **kwargs)


def manager(**kwargs):
    return StaffUserFactory(role=MANAGER, **kwargs)
