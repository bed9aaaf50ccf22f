"""Seed the rating defaults: grades A–D with their service policies (R2.2, R2.8), the rating
factors (manual and rule-based) and a small example category tree (R2.1).

Data, not UI strings: the names are the company's own words and are edited on the settings
pages, so they stay in Chinese here. Running it on a database that already has grades or
factors leaves them alone.
"""

from decimal import Decimal

from django.db import migrations

GRADES = [
    # code, name, min score, service policy, days before return to the pool, sort order
    ("A", "重点客户", Decimal("85"),
     "重点客户：优先保障供货与服务资源，专人负责，承诺响应时限（4 小时内响应、24 小时内上门），"
     "每季度至少一次高层拜访，享受价格与账期优惠。", 180, 1),
    ("B", "主要客户", Decimal("70"),
     "主要客户：定期回访（每月至少一次），优先安排服务，提供有针对性的产品与方案推荐，"
     "争取提升为重点客户。", 120, 2),
    ("C", "潜力客户", Decimal("50"),
     "潜力客户：制定客户发展计划，明确培养目标与负责人，每季度检查计划进展，"
     "投入适度的营销与服务资源。", 90, 3),
    ("D", "一般客户", Decimal("0"),
     "一般客户：按标准流程服务；定期评估后分别采取发展、保持或收缩的策略，"
     "控制服务成本，长期无价值的客户可退回公海。", 60, 4),
]

FACTORS = [
    # key, name, weight, method, rule, description, sort order
    ("contribution", "贡献", Decimal("3"), "manual", "", "客户对公司的销售额、利润等贡献，由负责人打分。", 1),
    ("law_abiding", "守法", Decimal("1"), "manual", "", "客户的守法经营情况，由负责人打分。", 2),
    ("integrity", "诚信", Decimal("2"), "manual", "", "客户履约、付款等诚信表现，由负责人打分。", 3),
    ("influence", "影响力", Decimal("2"), "manual", "", "客户在行业与地区内的影响力，由负责人打分。", 4),
    ("relationship_depth", "关系深度", Decimal("2"), "rule", "contact_depth",
     "按联系人的关系深度（过客、熟人、朋友、知己）自动计算：最深的关系占六成，平均深度占四成。", 5),
    ("credit_standing", "资信", Decimal("1"), "rule", "credit_standing", "按客户档案中的资信情况自动计算。", 6),
    ("profile_completeness", "档案完整度", Decimal("1"), "rule", "profile_completeness",
     "按客户档案已填写的主要字段比例自动计算。", 7),
    ("importance", "重要程度", Decimal("2"), "rule", "importance", "按客户档案中的“对我方的重要程度”自动计算。", 8),
]

# name, parent name
CATEGORIES = [
    ("潜在客户", None),
    ("工商业", None),
    ("餐饮", "工商业"),
    ("制造", "工商业"),
    ("居民", None),
]


def seed(apps, schema_editor):
    Grade = apps.get_model("customers", "Grade")
    RatingFactor = apps.get_model("customers", "RatingFactor")
    Category = apps.get_model("customers", "Category")
    if not Grade.objects.exists():
        for code, name, min_score, policy, days, order in GRADES:
            Grade.objects.create(code=code, name=name, min_score=min_score, service_policy=policy,
                                 pool_return_days=days, sort_order=order)
    if not RatingFactor.objects.exists():
        for key, name, weight, method, rule, description, order in FACTORS:
            RatingFactor.objects.create(key=key, name=name, weight=weight, method=method, rule=rule,
                                        description=description, sort_order=order)
    if not Category.objects.exists():
        made = {}
        for order, (name, parent_name) in enumerate(CATEGORIES, start=1):
            parent = made.get(parent_name)
            category = Category.objects.create(name=name, parent=parent, sort_order=order)
            category.path = f"{parent.path if parent else '/'}{category.pk}/"
            category.save(update_fields=["path"])
            made[name] = category


def unseed(apps, schema_editor):
    # The rows may be in use by then (accounts, ratings): going back leaves them.
    pass


class Migration(migrations.Migration):
    dependencies = [("customers", "0005_customer_file")]

    operations = [migrations.RunPython(seed, unseed)]
