"""B6: import 100,000 rows (validate, dedupe against the demo company, write).

    guanxi bench --size M --only import [--rows 100000]

Generates a deterministic CSV (GBK, as Chinese Excel saves it) with 3 % duplicates of
existing demo accounts, 2 % duplicates within the file and 2 % bad credit codes, uploads it
as the demo sales manager and runs the import job in this process. Reports rows/s of the
job (reading, validating, deduping, writing) and the process's peak RSS.
"""

from __future__ import annotations

import csv
import io
import random
import resource
import time
from typing import Any

HEADER = ["客户名称", "统一社会信用代码", "联系电话", "联系人", "手机", "省份", "城市", "地址", "备注"]
CITIES = [("上海", "上海市"), ("北京", "北京市"), ("广东", "深圳市"), ("浙江", "杭州市"), ("江苏", "南京市")]


def make_csv(rows: int, existing: list[tuple[str, str]], seed: int = 1) -> bytes:
    from guanxi.core.validators import CREDIT_CODE_ALPHABET, credit_code_check_char

    rng = random.Random(f"guanxi-bench-import:{seed}")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for i in range(rows):
        u = rng.random()
        province, city = CITIES[i % len(CITIES)]
        if u < 0.03 and existing:
            name, code = existing[rng.randrange(len(existing))]
        elif u < 0.05 and i > 10:
            name, code = f"导入测试{seed}-{rng.randrange(i)}号贸易有限公司", ""
        else:
            body = "91" + f"{310000 + (i + 7919 * seed) % 9000:06d}" + "".join(
                CREDIT_CODE_ALPHABET[(i // 31 ** k + 7 * k + seed) % 31] for k in range(9))
            code = body + credit_code_check_char(body)
            if u > 0.98:
                code = code[:17] + ("0" if code[17] != "0" else "1")
            name = f"导入测试{seed}-{i}号贸易有限公司"
        phone = f"021-{10000000 + (i + 200_000 * seed) % 90_000_000}"
        writer.writerow([name, code, phone, f"联系人{i}", f"13{rng.randrange(10**9):09d}",
                         province, city, f"{city}测试路{i % 999}号", ""])
    return out.getvalue().encode("gb18030")


def run_import_bench(size: str, rows: int = 100_000) -> dict[str, Any]:
    from guanxi.core import jobs
    from guanxi.core.models import User
    from guanxi.customers.models import Account, ImportRun
    from guanxi.customers.services import imports
    from guanxi.demo import build_demo

    build_demo(size)
    actor = User.objects.get(username="manager")
    existing = list(Account.objects.exclude(credit_code="").order_by("id").values_list("name", "credit_code")[:5000])
    data = make_csv(rows, existing, seed=ImportRun.objects.count() + 1)  # fresh names on every run
    accounts_before = Account.objects.count()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    run = imports.import_upload(actor=actor, name="bench.csv", data=data)
    upload_s = time.perf_counter() - started
    imports.import_set_mapping(actor=actor, run=run, mapping=run.mapping, mode=ImportRun.Mode.SKIP)
    job = imports.import_start(actor=actor, run=run)
    started = time.perf_counter()
    jobs.execute(str(job.pk))
    job_s = time.perf_counter() - started
    run.refresh_from_db()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": rows, "file_mb": len(data) / 2**20, "accounts_before": accounts_before,
        "upload_s": upload_s, "job_s": job_s, "rows_per_s": rows / job_s if job_s else 0.0,
        "rows_per_s_with_upload": rows / (job_s + upload_s), "peak_rss_mb": rss_peak,
        "rss_before_mb": rss_before, "stats": run.stats, "state": run.state,
    }
