"""Cheaper writes of account rows: two redundant indexes fewer, and room for HOT updates.

Every index of ``customers_account`` is written with each row update that PostgreSQL cannot
make a HOT (heap-only) update: a new version of the row needs an entry in all of them, the
trigram index of the search text included. So:

* the single-column indexes of ``owner`` and ``category`` go: the indexes that start with the
  same column — (owner, last activity), the live (owner, -id), (category, -id) — answer every
  lookup by owner or category, and the one of ``AccountRating.account`` goes for the same
  reason ((account, -rated_at)). Dropped with plain SQL: Django would rebuild the whole table on
  SQLite to drop a foreign key's index, which would also drop the search triggers of 0004;
* on PostgreSQL the accounts table keeps 10 % of each page free (fillfactor 90), so an update
  of columns no index covers (a score, a profile field, the version) can stay on its page as a
  HOT update. It applies to pages written from now on; ``VACUUM FULL customers_account`` in a
  quiet hour applies it to the rows already there (docs/deploy.md). SQLite has no such setting.
"""

from django.conf import settings
from django.db import migrations, models

DROPPED = [
    # (index name as Django created it, table, column)
    ("customers_account_owner_id_5429b70a", "customers_account", "owner_id"),
    ("customers_account_category_id_6ea86ebc", "customers_account", "category_id"),
    ("customers_accountrating_account_id_4e199608", "customers_accountrating", "account_id"),
]
FILLFACTOR = 90


def fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE customers_account SET (fillfactor = {FILLFACTOR})")


def fillfactor_back(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE customers_account RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0009_check_grade_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='account',
                    name='category',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=models.deletion.PROTECT, related_name='accounts', to='customers.category', verbose_name='category'),
                ),
                migrations.AlterField(
                    model_name='account',
                    name='owner',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=models.deletion.PROTECT, related_name='accounts', to=settings.AUTH_USER_MODEL, verbose_name='owner'),
                ),
                migrations.AlterField(
                    model_name='accountrating',
                    name='account',
                    field=models.ForeignKey(db_index=False, on_delete=models.deletion.CASCADE, related_name='ratings', to='customers.account', verbose_name='account'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(f"DROP INDEX IF EXISTS {name}", f"CREATE INDEX {name} ON {table} ({column})")
                for name, table, column in DROPPED
            ],
        ),
        migrations.RunPython(fillfactor, fillfactor_back),
    ]
