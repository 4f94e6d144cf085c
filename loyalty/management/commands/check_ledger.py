"""Verify the points ledger invariants for every member; exit non-zero on any drift."""

from django.core.management.base import BaseCommand, CommandError

from loyalty.selectors import ledger_drift


class Command(BaseCommand):
    help = (
        "Check that every member's cached balance equals the sum of ledger entries and of "
        "remaining spendable lots (and likewise pending and owed points), and that no lot is "
        "outside [0, amount]. Exits with status 1 listing the members that drift."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--member",
            type=int,
            action="append",
            dest="members",
            help="Check only this member id (repeatable).",
        )

    def handle(self, *args, members=None, **options):
        drift = ledger_drift(member_ids=members)
        if drift:
            for d in drift:
                self.stderr.write(f"member {d.member_id}: {d.problem}")
            raise CommandError(
                f"ledger drift found for {len({d.member_id for d in drift})} member(s)"
            )
        self.stdout.write(self.style.SUCCESS("ledger OK"))
