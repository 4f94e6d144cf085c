from django.db import migrations


def sync_roles(apps, schema_editor):
    from loyalty.roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    """Managers get every campaigns permission; cashiers may record action bonuses."""

    dependencies = [
        ("campaigns", "0005_nudges_models"),
        ("loyalty", "0013_spend_card_needs_step"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
