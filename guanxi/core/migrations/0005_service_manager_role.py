"""The service manager (客服主管) role: reviews replies, sees unmatched cases, runs the desk."""

from django.db import migrations, models


ROLE_CHOICES = [("salesperson", "Salesperson"), ("sales_manager", "Sales manager"),
                ("general_manager", "General manager"), ("service_agent", "Service agent"),
                ("service_manager", "Service manager"), ("marketing", "Marketing"), ("admin", "Administrator")]


def seed(apps, schema_editor):
    apps.get_model("core", "Role").objects.get_or_create(code="service_manager")


def unseed(apps, schema_editor):
    apps.get_model("core", "Role").objects.filter(code="service_manager").delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0004_job_heartbeat")]

    operations = [
        migrations.AlterField(
            model_name="role",
            name="code",
            field=models.CharField(choices=ROLE_CHOICES, max_length=32, unique=True, verbose_name="code"),
        ),
        migrations.AlterField(
            model_name="approvalpolicy",
            name="approver_role",
            field=models.CharField(choices=ROLE_CHOICES, default="general_manager", max_length=32,
                                   verbose_name="approver role"),
        ),
        migrations.AlterField(
            model_name="changerequest",
            name="approver_role",
            field=models.CharField(choices=ROLE_CHOICES, max_length=32, verbose_name="approver role"),
        ),
        migrations.RunPython(seed, unseed),
    ]
