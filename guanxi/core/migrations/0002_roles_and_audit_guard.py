"""Seed the six roles and the default approval policy; make audit rows immutable in the database.

PostgreSQL: a trigger refuses UPDATE and DELETE on core_auditevent (TRUNCATE, used only
by test teardown and restore drills, stays possible for the table owner). SQLite: a
trigger refuses UPDATE.
"""

from django.db import migrations

ROLES = ["salesperson", "sales_manager", "general_manager", "service_agent", "marketing", "admin"]

PG_FORWARD = """
CREATE OR REPLACE FUNCTION guanxi_audit_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit rows cannot be altered or deleted';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER core_auditevent_immutable
    BEFORE UPDATE OR DELETE ON core_auditevent
    FOR EACH ROW EXECUTE FUNCTION guanxi_audit_immutable();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS core_auditevent_immutable ON core_auditevent;
DROP FUNCTION IF EXISTS guanxi_audit_immutable();
"""
SQLITE_FORWARD = """
CREATE TRIGGER core_auditevent_immutable BEFORE UPDATE ON core_auditevent
BEGIN SELECT RAISE(ABORT, 'audit rows cannot be altered'); END;
"""
SQLITE_REVERSE = "DROP TRIGGER IF EXISTS core_auditevent_immutable;"


def seed(apps, schema_editor):
    Role = apps.get_model("core", "Role")
    for code in ROLES:
        Role.objects.get_or_create(code=code)
    ApprovalPolicy = apps.get_model("core", "ApprovalPolicy")
    ApprovalPolicy.objects.get_or_create(model="customers.account",
                                         defaults={"enabled": True, "approver_role": "general_manager"})


def guard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def unguard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(guard, unguard),
    ]
