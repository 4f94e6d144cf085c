"""Every scheduled job names a real task, and each task goes to a queue the workers consume."""

import pytest
from django.conf import settings

from loyalty.celery import app
from loyalty.schedules import SCHEDULES

QUEUES = {q.name for q in settings.CELERY_TASK_QUEUES}


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_every_scheduled_task_exists():
    app.loader.import_default_modules()
    unknown = sorted({s.task for s in SCHEDULES} - set(app.tasks))
    assert unknown == [], f"schedules name unknown tasks: {unknown}"


def test_schedule_names_are_unique():
    names = [s.name for s in SCHEDULES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("loyalty.webhook_deliver", "webhooks"),
        ("loyalty.webhook_retry_due", "webhooks"),
        ("campaigns.message_deliver", "messages"),
        ("campaigns.messages_send_due", "messages"),
        ("loyalty.points_expire_due", "default"),
        ("loyalty.tiers_reevaluate_all", "default"),
        ("campaigns.points_expiring_warn", "default"),
        ("campaigns.birthday_gifts_due", "default"),
    ],
)
def test_tasks_are_routed_by_name(task, queue):
    assert queue_of(task) == queue


def test_every_registered_task_goes_to_a_queue_the_procfile_worker_consumes():
    from pathlib import Path

    app.loader.import_default_modules()
    procfile = (Path(settings.BASE_DIR) / "Procfile").read_text()
    worker = next(line for line in procfile.splitlines() if line.startswith("worker:"))
    consumed = set(worker.split(" -Q ")[1].split()[0].split(","))
    assert consumed == QUEUES
    ours = [name for name in app.tasks if name.startswith(("loyalty.", "campaigns."))]
    assert ours
    assert {queue_of(name) for name in ours} <= consumed
