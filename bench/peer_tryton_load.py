"""Load the demo company's accounts into Tryton as parties, through Tryton's own ORM.

Run by ``bench/peer_tryton.py`` with the Python of Tryton's virtual environment (it imports
``trytond``, never guanxi):

    python bench/peer_tryton_load.py TRYTOND_CONF DATABASE ROWS.jsonl

Each line of ROWS is one account: name, credit code, phone, city and address. Every party gets
its credit code as its Chinese USCC identifier (Tryton calls the type cn_vat), its phone as a contact mechanism and its address,
as a Tryton user entering the same customer would. Batches of 1,000 parties commit one by one,
in the file's order, so a stopped load resumes after the parties already there. Prints one JSON
line: what was loaded and how long it took.
"""

from __future__ import annotations

import json
import sys
import time

BATCH = 1_000


def main(conf: str, database: str, rows_path: str) -> None:
    from trytond import config

    config.update_etc(conf)
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    Pool.start()
    pool = Pool(database)
    pool.init()
    with open(rows_path, encoding="utf-8") as rows_file:
        rows = [json.loads(line) for line in rows_file]
    started = time.perf_counter()
    # A singleton's first write asks for its table's lock, taken when the transaction starts.
    with Transaction().start(database, 0, _lock_tables=["party_configuration"]) as transaction:
        done = pool.get("party.party").search([], count=True)
        # The identifier types a company uses are chosen in the party configuration.
        configuration = pool.get("party.configuration")(1)
        types = list(configuration.identifier_types or ())
        if "cn_vat" not in types:
            configuration.identifier_types = [*types, "cn_vat"]
            configuration.save()
        transaction.commit()
    loaded = 0
    for first in range(done, len(rows), BATCH):
        chunk = rows[first:first + BATCH]
        with Transaction().start(database, 0, context={"active_test": False}) as transaction:
            party_model = pool.get("party.party")
            parties = party_model.create([{"name": row["name"]} for row in chunk])
            pairs = list(zip(parties, chunk, strict=True))
            pool.get("party.identifier").create([
                {"party": party.id, "type": "cn_vat", "code": row["credit_code"]}
                for party, row in pairs if row["credit_code"]])
            pool.get("party.contact_mechanism").create([
                {"party": party.id, "type": "mobile" if row["phone"].startswith("1") else "phone",
                 "value": row["phone"]}
                for party, row in pairs if row["phone"]])
            pool.get("party.address").create([
                {"party": party.id, "city": row["city"], "street_unstructured": row["address"]}
                for party, row in pairs])
            transaction.commit()
        loaded += len(chunk)
        if loaded % 20_000 < BATCH:
            print(f"tryton: {done + loaded:,} / {len(rows):,} parties", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    with Transaction().start(database, 0) as transaction:
        cursor = transaction.connection.cursor()
        # The planner's statistics after a bulk load, as guanxi's demo build refreshes its own.
        for table in ("party_party", "party_identifier", "party_contact_mechanism", "party_address"):
            cursor.execute(f"ANALYZE {table}")
        transaction.commit()
    print(json.dumps({"parties_before": done, "parties_loaded": loaded, "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
