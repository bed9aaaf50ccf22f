"""SQLite: an FTS5 trigram index over the accounts' search text, kept in step by triggers.

PostgreSQL answers substring search from the pg_trgm index (migration 0003). On SQLite a
LIKE '%…%' scans every row; an external-content FTS5 table with the trigram tokenizer
answers the same substring question from an index. Where the SQLite library lacks the
trigram tokenizer (older than 3.34) nothing is created and search falls back to the scan.
"""

from django.db import migrations

TABLE = "customers_account_search"
CREATE = [
    f"CREATE VIRTUAL TABLE {TABLE} USING fts5(search_text, content='customers_account', "
    "content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER {TABLE}_ai AFTER INSERT ON customers_account BEGIN "
    f"INSERT INTO {TABLE}(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"CREATE TRIGGER {TABLE}_ad AFTER DELETE ON customers_account BEGIN "
    f"INSERT INTO {TABLE}({TABLE}, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    f"CREATE TRIGGER {TABLE}_au AFTER UPDATE OF search_text ON customers_account BEGIN "
    f"INSERT INTO {TABLE}({TABLE}, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    f"INSERT INTO {TABLE}(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"INSERT INTO {TABLE}({TABLE}) VALUES ('rebuild')",
]
DROP = [f"DROP TRIGGER IF EXISTS {TABLE}_{suffix}" for suffix in ("ai", "ad", "au")] + [f"DROP TABLE IF EXISTS {TABLE}"]


def trigram_available(connection) -> bool:
    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE VIRTUAL TABLE temp.guanxi_trigram_probe USING fts5(x, tokenize='trigram')")
        except Exception:
            return False
        cursor.execute("DROP TABLE temp.guanxi_trigram_probe")
    return True


def forward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "sqlite" and trigram_available(connection):
        for statement in CREATE:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_account_search_text")]
    operations = [migrations.RunPython(forward, backward)]
