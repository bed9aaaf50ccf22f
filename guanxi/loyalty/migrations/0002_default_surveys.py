"""Seed one active survey per automatic touchpoint (a case closed, a field visit done, an order
delivered), in Chinese: five RATER statements (可靠性, 保证性, 有形性, 移情性, 响应性) worded for the
touchpoint, the NPS question, a CSAT question and an optional comment; and the rating factor
"客户满意度" (rule ``satisfaction``), inactive until an administrator weighs it in.

Data, not UI strings: the texts are the company's own words, edited on the survey pages, so they
stay in Chinese here. A touchpoint that already has a survey, and an existing factor, are left alone.
"""

from decimal import Decimal

from django.db import migrations
from django.utils import timezone

INTRO = "感谢您选择我们！为了不断改进服务，请您花一分钟回答以下几个问题。"
THANKS = "感谢您的宝贵意见！我们会认真阅读每一条反馈，并据此持续改进我们的产品和服务。"
NPS = "您向朋友或同事推荐我们的可能性有多大？"
COMMENT = "您还有什么意见或建议想告诉我们吗？（选填）"

SURVEYS = [
    ("case_closed", "服务处理满意度调查", [
        ("reliability", "我们按照承诺的方式和时间解决了您反映的问题。"),
        ("assurance", "处理问题的工作人员专业、可信，让您感到放心。"),
        ("tangibles", "我们给您的答复、说明和相关资料清晰、规范、易于理解。"),
        ("empathy", "我们理解您的处境，真正站在您的角度考虑问题。"),
        ("responsiveness", "我们及时回应了您的反馈，处理过程中没有让您久等。"),
    ], "总体而言，您对本次问题处理的满意程度如何？"),
    ("visit_done", "上门服务满意度调查", [
        ("reliability", "工程师按约定的时间上门，并一次把问题处理好。"),
        ("assurance", "工程师技术熟练、讲解清楚，让您对服务质量放心。"),
        ("tangibles", "工程师着装整洁、工具和配件齐全，完工后现场清理干净。"),
        ("empathy", "工程师耐心听取您的需求，并考虑到您的实际使用情况。"),
        ("responsiveness", "从报修到上门，我们安排及时，没有让您久等。"),
    ], "总体而言，您对本次上门服务的满意程度如何？"),
    ("order_delivered", "订单交付满意度调查", [
        ("reliability", "货物按约定的时间、数量和规格送达。"),
        ("assurance", "我们的销售和服务人员专业可靠，让您放心采购。"),
        ("tangibles", "产品包装完好，送货单、发票等单据齐全规范。"),
        ("empathy", "我们了解您的业务需要，为您推荐了合适的产品和方案。"),
        ("responsiveness", "您在下单和交付过程中的询问都得到了及时答复。"),
    ], "总体而言，您对本次订单的满意程度如何？"),
]

FACTOR = ("satisfaction", "客户满意度", Decimal("1"), "rule", "satisfaction",
          "按最近 12 个月满意度调查的 CSAT 与 RATER 各维度平均分自动计算（1 分为 0 分，5 分为 100 分）；"
          "没有答卷的客户得中间分 50。启用前请确认权重。", 9)


def seed(apps, schema_editor):
    Survey = apps.get_model("loyalty", "Survey")
    Question = apps.get_model("loyalty", "Question")
    RatingFactor = apps.get_model("customers", "RatingFactor")
    now = timezone.now()
    for touchpoint, name, rater, csat in SURVEYS:
        if Survey.objects.filter(touchpoint=touchpoint).exists():
            continue
        survey = Survey.objects.create(name=name, touchpoint=touchpoint, active=True, intro=INTRO, thanks=THANKS,
                                       expires_days=14, created_at=now, updated_at=now)
        rows = [Question(survey=survey, type="rater", dimension=dimension, text=text, required=True)
                for dimension, text in rater]
        rows += [Question(survey=survey, type="nps", text=NPS, required=True),
                 Question(survey=survey, type="csat", text=csat, required=True),
                 Question(survey=survey, type="text", text=COMMENT, required=False)]
        for position, row in enumerate(rows, start=1):
            row.position = position
        Question.objects.bulk_create(rows)
    key, name, weight, method, rule, description, order = FACTOR
    if not RatingFactor.objects.filter(key=key).exists():
        RatingFactor.objects.create(key=key, name=name, weight=weight, method=method, rule=rule,
                                    description=description, active=False, sort_order=order)


def unseed(apps, schema_editor):
    # The surveys may have invitations and answers by then: going back leaves them.
    pass


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0001_initial"),
        ("customers", "0006_rating_defaults"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
