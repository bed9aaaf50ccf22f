"""What the demo manufacturer sells and how it sells it: products, price lists, rates,
pipelines, loss reasons, rebate rules (演示数据: 产品目录). Written once, idempotently.

The demo company is a machinery maker (广信精密机械) with five product lines, from machine
tools worth a million yuan to cutting fluid by the barrel, so orders range from one large
line to many small ones, and distributors buy the spares and drives.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from guanxi.core import search

COMPANY = "苏州广信精密机械股份有限公司"  # party B of the demo contracts when no company name is set
VAT = Decimal("13")


class ProductSpec(NamedTuple):
    code: str
    name: str
    model: str
    specification: str
    packaging: str
    unit: str
    features: str  # one per line
    price: int  # list price in CNY, tax included
    quantity: tuple[int, int]  # what one order line usually asks for
    popularity: int  # relative weight inside its line


class ProductLine(NamedTuple):
    name: str
    weight: int  # how many customers buy mainly this line
    products: tuple[ProductSpec, ...]


P = ProductSpec
LINES: tuple[ProductLine, ...] = (
    ProductLine("数控机床", 18, (
        P("JC-VMC850", "立式加工中心", "GX-VMC850", "工作台 1000×500 mm；行程 X800/Y500/Z500 mm；主轴 BT40，8000 rpm",
          "防锈处理，出口木箱", "台", "铸件经二次时效处理\n三轴线轨，快移 36 m/min\n配 24 把刀臂式刀库", 268_000, (1, 2), 10),
        P("JC-VMC1160", "立式加工中心", "GX-VMC1160", "工作台 1200×600 mm；行程 X1100/Y600/Z600 mm；主轴 BT40，10000 rpm",
          "防锈处理，出口木箱", "台", "重切削型床身\n主轴中心出水（选配）\n发那科 0i-MF 系统", 358_000, (1, 2), 7),
        P("JC-CK6140", "数控车床", "GX-CK6140", "最大回转直径 400 mm；最大加工长度 750 mm；主轴孔径 52 mm",
          "木箱包装", "台", "整体斜床身\n排刀式刀架\n适合盘类、轴类零件批量加工", 98_000, (1, 2), 12),
        P("JC-CK6150", "数控车床", "GX-CK6150", "最大回转直径 500 mm；最大加工长度 1000 mm；主轴孔径 82 mm",
          "木箱包装", "台", "八工位电动刀塔\n液压卡盘和尾座\n广数 980TDi 系统", 158_000, (1, 2), 9),
        P("JC-HMC630", "卧式加工中心", "GX-HMC630", "工作台 630×630 mm，双交换工作台；主轴 BT50，6000 rpm",
          "防锈处理，出口木箱", "台", "B 轴 0.001° 分度\n双工作台交换 12 s\n适合箱体类零件", 980_000, (1, 1), 3),
        P("JC-GMC2518", "龙门加工中心", "GX-GMC2518", "工作台 2500×1600 mm；行程 X2600/Y1800/Z800 mm",
          "分体运输，现场安装", "台", "横梁阶梯式结构\n齿轮箱主轴，低速大扭矩\n适合模具和大型结构件", 1_680_000, (1, 1), 2),
    )),
    ProductLine("伺服与驱动", 26, (
        P("SF-SM130-15", "交流伺服电机", "GX-SM130-1.5kW", "额定功率 1.5 kW；额定转速 2000 rpm；额定扭矩 7.2 N·m",
          "纸箱，每箱 1 台", "台", "17 位绝对值编码器\nIP65 防护\n低齿槽转矩", 2_380, (1, 16), 12),
        P("SF-SM180-30", "交流伺服电机", "GX-SM180-3kW", "额定功率 3 kW；额定转速 1500 rpm；额定扭矩 19 N·m",
          "纸箱，每箱 1 台", "台", "23 位绝对值编码器\n带抱闸（选配）\nIP65 防护", 4_650, (1, 12), 8),
        P("SF-SD20", "伺服驱动器", "GX-SD20", "适配 0.75–2 kW 电机；EtherCAT 总线；AC 220 V",
          "纸箱，每箱 1 台", "台", "电子齿轮与全闭环\n自动增益调整\n支持 EtherCAT / CANopen", 3_200, (1, 16), 11),
        P("SF-VF75", "通用变频器", "GX-VF-7.5kW", "三相 380 V；额定功率 7.5 kW；矢量控制", "纸箱，每箱 1 台", "台",
          "无速度传感器矢量控制\n内置 PID 和简易 PLC\n0.5 Hz 150% 起动转矩", 2_980, (1, 16), 12),
        P("SF-VF22", "通用变频器", "GX-VF-22kW", "三相 380 V；额定功率 22 kW；矢量控制", "木托盘", "台",
          "适合风机水泵节能改造\n内置制动单元\n支持 Modbus 通讯", 7_860, (1, 6), 6),
        P("SF-PLC32", "PLC 控制器", "GX-PLC-M32", "16 入 16 出；晶体管输出；2 路以太网", "纸箱，每箱 1 台", "台",
          "支持 IEC 61131-3 编程\n8 轴脉冲输出\n可扩展 16 个模块", 5_600, (1, 6), 7),
        P("SF-HMI10", "触摸屏", "GX-HMI-10", "10.1 寸 TFT；1024×600；以太网 + 串口", "纸箱，每箱 1 台", "台",
          "工业级宽温设计\n支持远程监控\n配套组态软件免费", 2_200, (1, 6), 6),
    )),
    ProductLine("工业机器人与自动化", 14, (
        P("JQ-GR6", "六轴工业机器人", "GX-GR6-1400", "负载 6 kg；臂展 1400 mm；重复定位精度 ±0.03 mm",
          "专用木箱", "台", "中空手腕，走线方便\n支持视觉引导\n适合搬运、焊接、打磨", 168_000, (1, 2), 6),
        P("JQ-GR20", "六轴工业机器人", "GX-GR20-1800", "负载 20 kg；臂展 1800 mm；重复定位精度 ±0.05 mm",
          "专用木箱", "台", "大负载码垛与上下料\n防护等级 IP67\n离线编程软件", 238_000, (1, 2), 4),
        P("JQ-GS600", "SCARA 机器人", "GX-GS600", "负载 6 kg；臂展 600 mm；循环时间 0.38 s", "专用木箱", "台",
          "高速装配与分拣\n内置电磁阀和气管\n占地小", 86_000, (1, 3), 5),
        P("JQ-GV2000", "视觉检测系统", "GX-GV2000", "500 万像素工业相机；检测速度 600 件/分钟", "纸箱", "套",
          "缺陷、尺寸、字符一体检测\n深度学习算法\n与 PLC 直接通讯", 58_000, (1, 2), 5),
        P("JQ-GCB500", "皮带输送线", "GX-GCB500", "带宽 500 mm；速度 5–30 m/min 可调；铝型材机架", "分段包装", "米",
          "模块化拼接\n变频调速\n可配阻挡、顶升、转向机构", 1_850, (10, 60), 6),
    )),
    ProductLine("注塑与包装设备", 12, (
        P("ZS-GJ160", "伺服节能注塑机", "GX-GJ160T", "锁模力 1600 kN；注射量 298 g；模板 680×680 mm", "裸装，防雨布覆盖",
          "台", "伺服油泵节能 30%–70%\n五点双曲肘合模\n中文操作界面", 268_000, (1, 2), 6),
        P("ZS-GJ280", "伺服节能注塑机", "GX-GJ280T", "锁模力 2800 kN；注射量 805 g；模板 900×900 mm", "裸装，防雨布覆盖",
          "台", "大容模空间\n高刚性模板\n远程运维模块", 428_000, (1, 2), 4),
        P("BZ-ZX20", "全自动装箱机", "GX-ZX20", "速度 20 箱/分钟；适用纸箱 250–600 mm", "木箱", "台",
          "伺服驱动，换规格 10 分钟内\n与封箱机联动\n缺料自动报警", 186_000, (1, 2), 3),
        P("BZ-CR1650", "缠绕包装机", "GX-CR1650", "转盘直径 1650 mm；承重 2000 kg；预拉伸 250%", "木托盘", "台",
          "膜架预拉伸省膜\n顶部压紧（选配）\n低台面设计", 42_000, (1, 2), 5),
        P("KY-GA37", "螺杆式空压机", "GX-GA37A", "功率 37 kW；排气量 6.2 m³/min；压力 0.8 MPa", "木托盘", "台",
          "永磁变频，节能 30%\n低噪音 68 dB\n物联网远程监控", 68_000, (1, 2), 7),
    )),
    ProductLine("备件与耗材", 30, (
        P("BJ-7014C", "精密角接触轴承", "7014C P4", "内径 70 mm；外径 110 mm；宽 20 mm；P4 级", "单套塑封，每盒 2 套", "套",
          "主轴专用\n高转速低温升\n成对安装", 1_280, (2, 16), 9),
        P("BJ-SFU3210", "滚珠丝杠", "SFU3210-1000", "直径 32 mm；导程 10 mm；长度 1000 mm；C5 级", "防锈油封，单根管装",
          "根", "研磨级精度\n含螺母座\n两端可按图加工", 1_650, (1, 8), 7),
        P("BJ-HGH25", "直线导轨", "HGH25CA", "宽 25 mm；滑块 HGH25CA；长度 1000 mm", "防锈油封，纸箱", "套",
          "四方向等负荷\n自润滑滑块\n可互换", 980, (2, 16), 8),
        P("HC-CL20", "水溶性切削液", "GX-CL20", "20 L/桶；稀释比 1:20", "塑料桶", "桶",
          "防锈性能好\n不伤手不发臭\n适用钢铁、铝合金", 680, (4, 50), 12),
        P("HC-GY68", "导轨油", "68#", "18 L/桶；ISO VG 68", "铁桶", "桶",
          "防爬行\n抗乳化\n各类机床导轨通用", 420, (2, 30), 10),
        P("BJ-SVC5", "伺服编码器电缆", "GX-SVC-5M", "长度 5 m；高柔性拖链电缆", "每卷 1 根", "根",
          "1000 万次弯曲寿命\n双层屏蔽\n插头镀金", 260, (4, 40), 8),
        P("BJ-BT40ER32", "数控刀柄", "BT40-ER32-100", "BT40 锥柄；ER32 夹头；有效长度 100 mm", "单支装", "个",
          "动平衡 G2.5 / 25000 rpm\n跳动 ≤ 0.003 mm\n20CrMnTi 渗碳淬火", 380, (4, 30), 9),
    )),
)

PRODUCTS: tuple[ProductSpec, ...] = tuple(p for line in LINES for p in line.products)
LINE_OF: dict[str, str] = {p.code: line.name for line in LINES for p in line.products}

# Price lists (product code prefix → factor of the list price): distributors buy the drives,
# spares and consumables cheaper; A-grade customers get a little off everything.
DISTRIBUTOR_LIST = "经销商价"
A_GRADE_LIST = "A级客户价"
PRICE_FACTORS = {
    DISTRIBUTOR_LIST: {"JC": Decimal("0.88"), "SF": Decimal("0.78"), "JQ": Decimal("0.90"), "ZS": Decimal("0.88"),
                       "BZ": Decimal("0.88"), "KY": Decimal("0.85"), "BJ": Decimal("0.75"), "HC": Decimal("0.72")},
    A_GRADE_LIST: {prefix: Decimal("0.95") for prefix in ("JC", "SF", "JQ", "ZS", "BZ", "KY", "BJ", "HC")},
}
# A volume break on the distributor list: 50 or more of a spare part another 5 % off.
VOLUME_BREAK = Decimal("50")

# (currency, CNY per unit at the start of the history, drift per quarter)
RATES = (("USD", Decimal("7.0850"), Decimal("0.012")), ("EUR", Decimal("7.7420"), Decimal("0.028")))

PROJECT_PIPELINE = "项目型销售"
PROJECT_STAGES: tuple[tuple[str, int, str], ...] = (
    ("项目立项", 10, "open"), ("技术交流", 25, "open"), ("方案与投标", 45, "open"), ("商务谈判", 70, "open"),
    ("中标", 100, "won"), ("未中标", 0, "lost"),
)
COMPETITORS = ("沈阳机床", "大连机床", "海天精工", "汇川技术", "埃斯顿", "新松机器人", "海天塑机", "伊之密",
               "发那科", "西门子", "安川电机", "台达", "马扎克", "哈斯")


def product_row(spec: ProductSpec, line: str, now: Any) -> dict[str, Any]:
    return {
        "code": spec.code, "name": spec.name, "model": spec.model, "specification": spec.specification,
        "packaging": spec.packaging, "unit": spec.unit, "features": spec.features, "category": line,
        "list_price": Decimal(spec.price), "currency": "CNY", "tax_rate": VAT, "active": True,
        "description": f"{spec.name}（{spec.model}），{line}产品线。",
        "search_text": search.build(names=[spec.name], codes=[spec.code, spec.model]),
        "created_at": now, "updated_at": now,
    }


def ensure_catalogue(first_day: date, today: date, now: Any) -> dict[str, Any]:
    """Products, price lists, rates, pipelines, loss reasons and rebate rules (idempotent)."""
    from guanxi.sales.models import (
        ExchangeRate,
        LossReason,
        Pipeline,
        PriceList,
        PriceListItem,
        Product,
        RebateRule,
        Stage,
    )
    from guanxi.sales.services.pipeline_setup import ensure_defaults

    have = set(Product.all_objects.values_list("code", flat=True))
    Product.objects.bulk_create([Product(**product_row(spec, line.name, now))
                                 for line in LINES for spec in line.products if spec.code not in have])
    products = {p.code: p for p in Product.all_objects.filter(code__in=[s.code for s in PRODUCTS])}

    lists = {}
    for name, fields in ((DISTRIBUTOR_LIST, {"channel": "distributor", "priority": 20}),
                         (A_GRADE_LIST, {"grade": "A", "priority": 10})):
        price_list = PriceList.all_objects.filter(name=name).first() or PriceList.objects.create(
            name=name, valid_from=first_day, **fields)
        lists[name] = price_list
        if not price_list.items.exists():
            items = []
            for spec in PRODUCTS:
                price = (Decimal(spec.price) * PRICE_FACTORS[name][spec.code[:2]]).quantize(Decimal("1"))
                items.append(PriceListItem(price_list=price_list, product=products[spec.code], price=price))
                if name == DISTRIBUTOR_LIST and spec.code[:2] in ("BJ", "HC"):
                    items.append(PriceListItem(price_list=price_list, product=products[spec.code],
                                               min_quantity=VOLUME_BREAK,
                                               price=(price * Decimal("0.95")).quantize(Decimal("1"))))
            PriceListItem.objects.bulk_create(items)

    if not ExchangeRate.objects.exists():
        rows = []
        for currency, start, drift in RATES:
            day, rate, quarter = first_day, start, 0
            while day <= today:
                wobble = Decimal((-1, 1, 0, 1, -1)[quarter % 5]) * drift
                rows.append(ExchangeRate(currency=currency, rate=(rate + wobble).quantize(Decimal("0.0001")),
                                         valid_from=day))
                day += timedelta(days=91)
                quarter += 1
        ExchangeRate.objects.bulk_create(rows)

    ensure_defaults()
    LossReason.objects.bulk_create([LossReason(name=name, sort_order=90 + n) for n, name in
                                    enumerate(("交期太长", "技术方案不符", "客户自行生产"), 1)
                                    if not LossReason.objects.filter(name=name).exists()])
    project = Pipeline.objects.filter(name=PROJECT_PIPELINE).first()
    if project is None:
        project = Pipeline.objects.create(name=PROJECT_PIPELINE, sort_order=20)
        Stage.objects.bulk_create([Stage(pipeline=project, name=name, probability=p, kind=kind, position=n)
                                   for n, (name, p, kind) in enumerate(PROJECT_STAGES, 1)])
    default = Pipeline.objects.filter(is_default=True).first() or Pipeline.objects.exclude(pk=project.pk).first()
    assert default is not None

    if not RebateRule.objects.exists():
        rules = []
        for year in range(first_day.year, now.year + 1):
            rules.append(RebateRule(
                name="经销商年度返利", year=year, basis="received",
                tiers=[{"from": "0.00", "rate": "1.00"}, {"from": "300000.00", "rate": "2.00"},
                       {"from": "1000000.00", "rate": "3.00"}, {"from": "3000000.00", "rate": "4.00"}],
                target=Decimal("2000000"), target_rate=Decimal("1.00"), points_per_10k=Decimal("10")))
            rules.append(RebateRule(
                name="A级经销商订货奖励", year=year, basis="ordered", grade="A",
                tiers=[{"from": "500000.00", "rate": "1.50"}, {"from": "2000000.00", "rate": "2.50"}],
                target=Decimal("5000000"), target_rate=Decimal("0.50"), points_per_10k=Decimal("20")))
        RebateRule.objects.bulk_create(rules)

    def stages(pipeline: Any) -> dict[str, list[Any]]:
        rows = list(Stage.objects.filter(pipeline=pipeline, active=True).order_by("position", "id"))
        return {"open": [s for s in rows if s.kind == "open"], "won": [s for s in rows if s.kind == "won"],
                "lost": [s for s in rows if s.kind == "lost"]}

    return {
        "products": products, "lists": lists, "default": default, "project": project,
        "stages": {default.pk: stages(default), project.pk: stages(project)},
        "loss_reasons": list(LossReason.objects.filter(active=True).order_by("sort_order", "id")),
    }
