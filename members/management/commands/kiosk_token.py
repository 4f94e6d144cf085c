"""Give a location's kiosk a new secret token and print the address that opens it."""

import secrets

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils.http import urlencode

from loyalty.models import Location


class Command(BaseCommand):
    help = (
        "Set a new random kiosk token for a location and print the address to open once on "
        "the tablet. Tablets opened with the old token stop working at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("code", help="The location's code.")
        parser.add_argument(
            "--base-url",
            default="",
            help="The site's address, e.g. https://loyalty.example.com, to print a full URL.",
        )
        parser.add_argument(
            "--disable",
            action="store_true",
            help="Clear the token instead: the location has no kiosk any more.",
        )

    def handle(self, *args, code, base_url, disable, **options):
        location = Location.objects.filter(code=code).first()
        if location is None:
            raise CommandError(f"No location with the code {code!r}.")
        if disable:
            location.kiosk_token = ""
            location.save(update_fields=["kiosk_token"])
            self.stdout.write(f"The kiosk of {location.name} is switched off.")
            return
        location.kiosk_token = secrets.token_urlsafe(32)
        location.save(update_fields=["kiosk_token"])
        path = reverse("kiosk:open", args=[location.code])
        url = f"{base_url.rstrip('/')}{path}?{urlencode({'token': location.kiosk_token})}"
        if not location.is_active:
            self.stderr.write(f"{location.name} is not active: its kiosk opens once it is.")
        self.stdout.write(f"Open this address once on the tablet of {location.name}:")
        self.stdout.write(url)
