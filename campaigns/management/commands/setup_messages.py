"""Create the built-in message types and their default templates that are missing."""

from django.core.management.base import BaseCommand

from campaigns.messaging import messages_setup


class Command(BaseCommand):
    help = (
        "Create the built-in message types and the default templates of each language "
        "whose translation exists; rows already there (and staff edits) are left alone."
    )

    def handle(self, *args, **options) -> None:
        created = messages_setup()
        self.stdout.write(f"setup_messages: {created} created")
