from django.db import migrations

# Name search is UPPER(last_name) LIKE 'PREFIX%'. On PostgreSQL a plain index serves LIKE
# only under the C collation; the pattern-ops index serves it under any collation.
CREATE = (
    "CREATE INDEX IF NOT EXISTS member_last_name_upper_pattern "
    "ON members_member (UPPER(last_name::text) varchar_pattern_ops)"
)
DROP = "DROP INDEX IF EXISTS member_last_name_upper_pattern"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
