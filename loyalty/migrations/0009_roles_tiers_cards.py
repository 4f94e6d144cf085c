from django.db import migrations


def forwards(apps, schema_editor):
    from loyalty.roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    """Give cashiers the tier and punch card permissions (see tiers, cards and stamps)."""

    dependencies = [
        ("loyalty", "0008_api_keys_idempotency"),
        ("members", "0003_tier_and_vip"),
        ("rewards", "0002_tier_and_vip_eligibility"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
