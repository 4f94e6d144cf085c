from django.db import migrations


def sync_roles(apps, schema_editor):
    from loyalty.roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    """Managers get every campaigns and scheduled-job permission; cashiers record action bonuses."""

    dependencies = [
        ("campaigns", "0005_nudges_models"),
        ("loyalty", "0013_spend_card_needs_step"),
        # Managers pause and re-time the scheduled jobs: the beat models must exist first.
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
