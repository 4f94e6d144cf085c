from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from loyalty.celery import app
from loyalty.schedules import SCHEDULES


def test_setup_schedules_installs_every_job_once_and_keeps_operator_changes(db):
    call_command("setup_schedules")
    PeriodicTask.objects.filter(name="Expire points").update(enabled=False)

    call_command("setup_schedules")

    assert PeriodicTask.objects.filter(name__in=[s.name for s in SCHEDULES]).count() == len(
        SCHEDULES
    )
    assert not PeriodicTask.objects.get(name="Expire points").enabled


def test_every_scheduled_task_is_registered_with_celery():
    app.loader.import_default_modules()
    assert {s.task for s in SCHEDULES} <= set(app.tasks)
