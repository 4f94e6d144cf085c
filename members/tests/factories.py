"""Factories for members. Members are created through ``member_enroll``, like in real use."""

import factory

from members.models import Member
from members.services import member_enroll


class MemberFactory(factory.Factory):
    class Meta:
        model = Member

    phone = factory.Sequence(lambda n: f"+35840{n:07d}")
    email = factory.Sequence(lambda n: f"member{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return member_enroll(**kwargs)
