"""Install the periodic jobs of loyalty/schedules.py into django-celery-beat."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from loyalty.schedules import SCHEDULES


class Command(BaseCommand):
    help = "Create the periodic jobs (release, expiry, event dispatch) in django-celery-beat."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset", action="store_true", help="Also reset times changed in the admin."
        )

    @transaction.atomic
    def handle(self, *args, reset=False, **options):
        for spec in SCHEDULES:
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=spec.minute,
                hour=spec.hour,
                day_of_week="*",
                day_of_month=spec.day_of_month,
                month_of_year="*",
                timezone=settings.TIME_ZONE,
            )
            task = PeriodicTask.objects.filter(name=spec.name).first()
            if task is None:
                PeriodicTask.objects.create(
                    name=spec.name, task=spec.task, crontab=crontab, description=spec.description
                )
                self.stdout.write(f"created: {spec.name}")
            elif reset:
                task.task, task.crontab, task.description, task.enabled = (
                    spec.task,
                    crontab,
                    spec.description,
                    True,
                )
                task.save()
                self.stdout.write(f"reset: {spec.name}")
            else:
                self.stdout.write(f"kept: {spec.name}")
