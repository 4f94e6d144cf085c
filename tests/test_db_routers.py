"""The read-replica router: only reads inside ``reads_from_replica()`` go to the replica."""

import pytest
from django.test import override_settings

from loyalty.db_routers import ReportReplicaRouter, reads_from_replica
from members.models import Member

# The router only reads the names in settings.DATABASES; no connection is opened.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")

WITH_REPLICA = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "replica": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
}


def test_reads_go_to_the_replica_only_inside_the_block_and_writes_never():
    router = ReportReplicaRouter()
    with override_settings(DATABASES=WITH_REPLICA):
        assert router.db_for_read(Member) is None
        with reads_from_replica():
            assert router.db_for_read(Member) == "replica"
            assert router.db_for_write(Member) is None
        assert router.db_for_read(Member) is None


def test_without_a_replica_configured_the_block_reads_from_the_primary():
    router = ReportReplicaRouter()
    with override_settings(DATABASES={"default": WITH_REPLICA["default"]}), reads_from_replica():
        assert router.db_for_read(Member) is None


def test_the_replica_is_never_migrated():
    router = ReportReplicaRouter()
    assert router.allow_migrate("replica", "members") is False
    assert router.allow_migrate("default", "members") is None


def test_settings_add_the_replica_from_database_replica_url(monkeypatch):
    import importlib

    import loyalty.settings as settings_module

    monkeypatch.setenv("DATABASE_REPLICA_URL", "postgres://reader@replica.example:5432/loyalty")
    try:
        reloaded = importlib.reload(settings_module)
        replica = reloaded.DATABASES["replica"]
        assert replica["HOST"] == "replica.example"
        assert replica["NAME"] == "loyalty"
        assert replica["TEST"] == {"MIRROR": "default"}
        assert reloaded.DATABASE_ROUTERS == ["loyalty.db_routers.ReportReplicaRouter"]
    finally:
        monkeypatch.delenv("DATABASE_REPLICA_URL")
        importlib.reload(settings_module)
