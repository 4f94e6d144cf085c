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


def test_each_queue_has_its_own_binding():
    # A bare Queue(name) is bound to the "default" exchange with the key "default": a message
    # published there by exchange and key would be copied into every queue.
    queues = app.amqp.queues
    assert {(queues[name].exchange.name, queues[name].routing_key) for name in QUEUES} == {
        (name, name) for name in QUEUES
    }


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_a_routed_task_lands_in_its_queue_only_on_redis():
    import redis

    url = "redis://127.0.0.1:6379/6"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable")
    keys = [*QUEUES, *(f"_kombu.binding.{q}" for q in QUEUES)]
    client.delete(*keys)
    try:
        with app.connection_for_write(url) as conn:
            producer = app.amqp.Producer(conn)
            # Declare the three queues as a worker would, then send one webhook delivery.
            for queue in app.amqp.queues.values():
                queue(conn.default_channel).declare()
            app.send_task("loyalty.webhook_deliver", args=[0], producer=producer)
        assert {q: client.llen(q) for q in QUEUES} == {"default": 0, "messages": 0, "webhooks": 1}
    finally:
        client.delete(*keys)
