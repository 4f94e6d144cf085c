"""Create or repair the staff role groups (Cashier, Manager) and their permissions."""

from django.core.management.base import BaseCommand

from loyalty.roles import ROLES, roles_sync


class Command(BaseCommand):
    help = "Make the staff role groups hold exactly the permissions defined in loyalty/roles.py."

    def handle(self, *args, **options):
        roles_sync(verbosity=options["verbosity"])
        self.stdout.write(self.style.SUCCESS("roles: " + ", ".join(ROLES)))
