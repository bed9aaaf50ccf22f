"""The deterministic demo company: departments, teams, users and accounts (演示数据).

``build_demo("S" | "M" | "L")`` builds the same company for the same seed every time, with
``random.Random`` only, so benchmarks compare like with like and tests can name what they
expect. The generator is split in two:

* pure planning (``plan_organisation``, ``generate_accounts``): no database, so a test can
  produce the very rows a build wrote and compare them;
* the writer (``build_demo``): bulk inserts in committed batches, marked in the
  ``CodeSequence`` row ``"demo"`` so a second call does nothing and an interrupted build
  resumes where it stopped.

Sizes follow docs/benchmarks (``/work/shared/BENCHMARKS.md``). There, "departments" counts
the departments *below* the company: the root "总公司" is the company itself, so a build of
size S holds 1 + 4 department rows.
"""

from __future__ import annotations

import bisect
import importlib
import itertools
import random
import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from guanxi.core.demo_load import (
    Table,
    analyze,
    bulk_load,
    bulk_session,
    db_time,
    next_ids,
    reset_sequences,
    restore_indexes,
)
from guanxi.core.validators import CREDIT_CODE_ALPHABET, credit_code_check_char

DEMO_PASSWORD = "guanxi-demo-2026"  # noqa: S105 - published demo password, printed at start
DEFAULT_SEED = 20261123
MARKER = "demo"  # CodeSequence row whose value counts the demo accounts already written
BATCH = 5_000
HISTORY_DAYS = 3 * 365
ROOT_NAME = "总公司"


class Size(NamedTuple):
    accounts: int
    users: int
    departments: int  # below the root company department


SIZES: dict[str, Size] = {
    "S": Size(accounts=2_000, users=20, departments=4),
    "M": Size(accounts=100_000, users=200, departments=12),
    "L": Size(accounts=1_000_000, users=2_000, departments=60),
}


class _Writer(Protocol):
    def write(self, msg: str, /) -> Any: ...


# --- Embedded vocabulary ------------------------------------------------------------------------
class City(NamedTuple):
    province: str
    province_short: str
    name: str
    code: str  # administrative division code: positions 3–8 of a credit code
    weight: int  # relative business weight: more companies in Shenzhen than in Xining
    area: str

    @property
    def short(self) -> str:
        return self.name.removesuffix("市")

    @property
    def region(self) -> str:
        # Municipalities are their own province: "上海市", not "上海市 上海市".
        return self.name if self.name == self.province else f"{self.province} {self.name}"


# One line per province (a long one continues on the next line with the same head):
# province, its short form, sales area, then city:division code:business weight.
_CITY_TABLE = """
上海市 上海 华东 上海市:310000:10
江苏省 江苏 华东 苏州市:320500:8 南京市:320100:7 无锡市:320200:5 常州市:320400:4 南通市:320600:3
浙江省 浙江 华东 杭州市:330100:8 宁波市:330200:6 温州市:330300:4 嘉兴市:330400:3 绍兴市:330600:3
山东省 山东 华东 青岛市:370200:5 济南市:370100:5 烟台市:370600:3 潍坊市:370700:3
福建省 福建 华东 厦门市:350200:4 福州市:350100:4 泉州市:350500:4
安徽省 安徽 华东 合肥市:340100:5 芜湖市:340200:2
江西省 江西 华东 南昌市:360100:3
广东省 广东 华南 深圳市:440300:10 广州市:440100:9 东莞市:441900:6 佛山市:440600:6 珠海市:440400:3
广东省 广东 华南 中山市:442000:3 惠州市:441300:3 汕头市:440500:2
广西壮族自治区 广西 华南 南宁市:450100:3 柳州市:450200:2
海南省 海南 华南 海口市:460100:2
北京市 北京 华北 北京市:110000:9
天津市 天津 华北 天津市:120000:5
河北省 河北 华北 石家庄市:130100:3 唐山市:130200:3 保定市:130600:2
山西省 山西 华北 太原市:140100:2
内蒙古自治区 内蒙古 华北 呼和浩特市:150100:2 包头市:150200:1
湖北省 湖北 华中 武汉市:420100:6 宜昌市:420500:2 襄阳市:420600:2
河南省 河南 华中 郑州市:410100:5 洛阳市:410300:2
湖南省 湖南 华中 长沙市:430100:5 株洲市:430200:2
重庆市 重庆 西南 重庆市:500000:6
四川省 四川 西南 成都市:510100:7 绵阳市:510700:2
贵州省 贵州 西南 贵阳市:520100:2
云南省 云南 西南 昆明市:530100:3
辽宁省 辽宁 东北 沈阳市:210100:4 大连市:210200:4 鞍山市:210300:1
吉林省 吉林 东北 长春市:220100:3 吉林市:220200:1
黑龙江省 黑龙江 东北 哈尔滨市:230100:3 大庆市:230600:1
陕西省 陕西 西北 西安市:610100:5 宝鸡市:610300:1
甘肃省 甘肃 西北 兰州市:620100:2
宁夏回族自治区 宁夏 西北 银川市:640100:1
新疆维吾尔自治区 新疆 西北 乌鲁木齐市:650100:2
青海省 青海 西北 西宁市:630100:1
"""


def _cities() -> tuple[City, ...]:
    cities = []
    for line in _CITY_TABLE.strip().splitlines():
        province, short, area, *entries = line.split()
        for entry in entries:
            name, code, weight = entry.split(":")
            cities.append(City(province, short, name, code, int(weight), area))
    return tuple(cities)


CITIES = _cities()

# Surnames in rough order of frequency; the generator weights them so 王/李/张 dominate.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方")
GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英文华辉玲鹏建国红燕晨宇浩欣怡婷俊峰宁博志海斌颖晓雪梅琳佳"
    "子涵轩泽睿诗雨思嘉一鑫凯瑶琪慧昊天成立新春秋云飞龙凤德福寿康丹阳光荣坤婉清帆航毅瑞"
)
# Characters Chinese companies pick for their trade names (字号): auspicious and ordinary.
BRAND_CHARS = "".join(dict.fromkeys(  # de-duplicated: a sampled 字号 never repeats a character
    "华东兴达恒盛鑫瑞泰宏建联创新源信通安德福祥嘉佳利顺昌隆海天和金远辉光明力强中南北丰益浩博宇凯锦荣美优"
    "正永长合众诚汇鼎晟峰腾耀启航广聚川奥捷精威科越亿万豪卓尚润铭"
))
INDUSTRIES = tuple("""
科技 电子科技 信息技术 网络科技 智能科技 机械 机械设备 精密机械 自动化设备 电气 电器 五金 塑胶 化工
新材料 贸易 国际贸易 商贸 实业 纺织 服饰 食品 医疗器械 生物科技 建材 建设工程 物流 供应链管理
环保科技 新能源 汽车零部件 包装材料 家具 照明 印刷 仪器仪表 水处理设备 餐饮管理 文化传媒 农业发展
""".split())
SUFFIXES = ("有限公司", "有限责任公司", "股份有限公司", "集团有限公司")
SUFFIX_WEIGHTS = (70, 12, 12, 6)
ROADS = tuple("""
人民路 中山路 解放路 建设路 工业大道 科技园路 长江路 黄河路 滨海大道 学府路 创业路 高新大道 环城东路
迎宾大道 新华路 开发区兴业路 东风路 世纪大道 和平路 金融街
""".split())
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
    "156", "157", "158", "159", "166", "173", "177", "178", "180", "181", "182", "183", "185", "186", "187",
    "188", "189", "191", "198", "199",
)


def _cum(weights: list[float] | tuple[float, ...]) -> list[float]:
    return list(itertools.accumulate(weights))


_SURNAME_CUM = _cum([1 / (rank + 4) for rank in range(len(SURNAMES))])
_SUFFIX_CUM = _cum(SUFFIX_WEIGHTS)


def person_name(rng: random.Random) -> str:
    """Return a plausible Chinese personal name: surname plus one or two given characters."""
    if rng.random() < 0.01:
        surname = rng.choice(COMPOUND_SURNAMES)
    else:
        surname = SURNAMES[bisect.bisect(_SURNAME_CUM, rng.random() * _SURNAME_CUM[-1])]
    given = rng.choice(GIVEN_CHARS)
    if rng.random() < 0.65:
        given += rng.choice(GIVEN_CHARS)
    return surname + given


def company_name(rng: random.Random, city: City) -> str:
    """Return a company name in the usual 行政区划 + 字号 + 行业 + 组织形式 shape."""
    brand = "".join(rng.sample(BRAND_CHARS, 3 if rng.random() < 0.15 else 2))
    industry = rng.choice(INDUSTRIES)
    suffix = SUFFIXES[bisect.bisect(_SUFFIX_CUM, rng.random() * _SUFFIX_CUM[-1])]
    form = rng.random()
    if form < 0.45:
        prefix = city.short
    elif form < 0.65:
        prefix = city.name
    elif form < 0.75:
        prefix = city.province_short
    else:
        prefix = ""  # nationally registered names carry no place
    return f"{prefix}{brand}{industry}{suffix}"


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"


def _base31(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rest = divmod(value, 31)
        chars.append(CREDIT_CODE_ALPHABET[rest])
    return "".join(reversed(chars))


# Multiplier of the index → body bijection below; must not be divisible by 31.
_SCATTER = 2_654_435_761
_OFFSET = 9_876_543_211  # large, so the first index does not start with zeros
assert _SCATTER % 31


def credit_code(index: int, city: City, classic: bool, lead: int) -> str:
    """Return a valid 18-character credit code that no other ``index`` ever gets.

    The nine body characters are ``index`` run through an affine bijection modulo 31**k, so
    codes look scattered yet are unique by construction: no set of a million seen codes,
    and a later, larger build (which continues the indexes) cannot collide with an earlier
    one. ``classic`` picks the pre-2015 organisation-code shape (digit first) over the
    common "MA…" shape; the two never overlap because their first characters differ.
    """
    if classic:
        body = str(lead % 10) + _base31((_SCATTER * index + _OFFSET) % 31**8, 8)
    else:
        body = "MA" + _base31((_SCATTER * index + _OFFSET) % 31**7, 7)
    first17 = "91" + city.code + body
    return first17 + credit_code_check_char(first17)


# --- The organisation plan (pure) ----------------------------------------------------------------
class DepartmentPlan(NamedTuple):
    name: str
    parent: str | None
    kind: str  # company, sales, service, marketing, other
    territory: tuple[City, ...]  # where its customers are; empty = nationwide
    focus: City | None  # a regional office's own city


class UserPlan(NamedTuple):
    username: str
    name: str
    department: str
    role: str
    phone: str
    joined_days_ago: int


class TeamPlan(NamedTuple):
    name: str
    department: str
    leader: str | None
    members: tuple[str, ...]


class OrgPlan(NamedTuple):
    size: str
    departments: tuple[DepartmentPlan, ...]
    users: tuple[UserPlan, ...]
    teams: tuple[TeamPlan, ...]
    managers: dict[str, str]  # department name → its sales manager's username
    owners: tuple[str, ...]  # usernames that own accounts
    owner_cum: tuple[float, ...]  # cumulative ownership weights, aligned with owners


# (name, kind, area): the first four make size S; regional offices are added beyond twelve.
_SUB_DEPARTMENTS: tuple[tuple[str, str, str | None], ...] = (
    ("华东销售部", "sales", "华东"),
    ("华南销售部", "sales", "华南"),
    ("客户服务部", "service", None),
    ("市场部", "marketing", None),
    ("华北销售部", "sales", "华北"),
    ("华中销售部", "sales", "华中"),
    ("西南销售部", "sales", "西南"),
    ("大客户部", "sales", None),
    ("东北销售部", "sales", "东北"),
    ("西北销售部", "sales", "西北"),
    ("渠道销售部", "sales", None),
    ("财务部", "other", None),
)

# The personas every test and benchmark names (username, name, department, role).
FIXED_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("admin", "赵立新", ROOT_NAME, "admin"),
    ("gm", "王建华", ROOT_NAME, "general_manager"),
    ("manager", "李文博", "华东销售部", "sales_manager"),
    ("sales", "张伟", "华东销售部", "salesperson"),
    ("sales2", "陈静", "华东销售部", "salesperson"),
    ("service", "刘芳", "客户服务部", "service_agent"),
    ("service2", "周晓明", "客户服务部", "service_agent"),
    ("servicemgr", "孙丽华", "客户服务部", "service_manager"),
    ("marketing", "杨帆", "市场部", "marketing"),
    ("outsider", "黄志强", "华南销售部", "salesperson"),
)
# Share of all accounts owned by the named salespeople: `sales` gets a realistic book
# (about 60 at S, 3,000 at M, enough for page 50 of the benchmark lists).
# The share is capped (FIXED_BOOK_CAP) so at L the persona is still one person's book.
FIXED_SHARES = {"sales": 0.03, "sales2": 0.02, "outsider": 0.02}
FIXED_BOOK_CAP = 3_000
TEAM_SIZE = 10
_DIGITS = "一二三四五六七八九"


def chinese_number(n: int) -> str:
    """Return 1–99 in Chinese numerals (十一, 二十三), as team names use them."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens - 1] + "十")
    return head + (_DIGITS[ones - 1] if ones else "")


def plan_departments(size: str) -> tuple[DepartmentPlan, ...]:
    """Return the department tree for ``size``, parents before children."""
    wanted = SIZES[size].departments
    plans = [DepartmentPlan(ROOT_NAME, None, "company", (), None)]
    for name, kind, area in _SUB_DEPARTMENTS[:wanted]:
        territory = tuple(c for c in CITIES if c.area == area) if area else ()
        plans.append(DepartmentPlan(name, ROOT_NAME, kind, territory, None))
    # Beyond the head-office departments, regional sales departments open offices in
    # their biggest cities, taking turns so every region grows.
    regional = [p for p in plans if p.kind == "sales" and p.territory]
    queues = [sorted(p.territory, key=lambda c: -c.weight) for p in regional]
    missing = wanted - len(_SUB_DEPARTMENTS)
    while missing > 0:
        progressed = False
        for parent, queue in zip(regional, queues, strict=True):
            if missing > 0 and queue:
                city = queue.pop(0)
                plans.append(DepartmentPlan(f"{city.short}办事处", parent.name, "sales", (city,), city))
                missing -= 1
                progressed = True
        if not progressed:
            raise ValueError(f"not enough cities for {wanted} departments")
    return tuple(plans)


def _sales_weight(dept: DepartmentPlan, has_offices: bool) -> float:
    if dept.focus is not None:
        return float(dept.focus.weight)
    if not dept.territory:
        return 8.0  # nationwide departments (key accounts, channels)
    total = float(sum(c.weight for c in dept.territory))
    return total * 0.25 if has_offices else total


def plan_organisation(size: str, seed: int = DEFAULT_SEED) -> OrgPlan:
    """Return departments, users, teams and ownership weights for ``size``; no database."""
    size = size.upper()
    spec = SIZES[size]
    rng = random.Random(f"guanxi-demo:{seed}:organisation")
    departments = plan_departments(size)
    by_name = {d.name: d for d in departments}
    sales_depts = [d for d in departments if d.kind == "sales"]
    parents_with_offices = {d.parent for d in departments if d.focus is not None}

    taken_names = {name for _, name, _, _ in FIXED_USERS}

    def new_name() -> str:
        for _ in range(20):
            name = person_name(rng)
            if name not in taken_names:
                break
        taken_names.add(name)
        return name

    users = [UserPlan(u, n, d, r, mobile(rng), HISTORY_DAYS) for u, n, d, r in FIXED_USERS if d in by_name]
    managers = {u.department: u.username for u in users if u.role == "sales_manager"}
    counter = itertools.count(1)
    budget = spec.users - len(users)

    def add(department: str, role: str) -> UserPlan:
        user = UserPlan(f"u{next(counter):04d}", new_name(), department, role, mobile(rng),
                        rng.randrange(30, HISTORY_DAYS))
        users.append(user)
        return user

    # One sales manager per sales department or office, while the user budget lasts.
    for dept in sales_depts:
        if dept.name not in managers and budget > 0:
            managers[dept.name] = add(dept.name, "sales_manager").username
            budget -= 1
    service_count = round(budget * 0.08) if "客户服务部" in by_name else 0
    marketing_count = round(budget * 0.04) if "市场部" in by_name else 0
    for _ in range(service_count):
        add("客户服务部", "service_agent")
    for _ in range(marketing_count):
        add("市场部", "marketing")
    weights = [_sales_weight(d, d.name in parents_with_offices) for d in sales_depts]
    for _ in range(budget - service_count - marketing_count):
        add(rng.choices(sales_depts, weights=weights)[0].name, "salesperson")

    teams: list[TeamPlan] = []
    # The service agents work in teams led by the service manager (客服一组 …).
    service_lead = next((u.username for u in users if u.role == "service_manager"), None)
    agents = [u.username for u in users if u.department == "客户服务部" and u.role == "service_agent"]
    for number, start in enumerate(range(0, len(agents), TEAM_SIZE)):
        teams.append(TeamPlan(f"客服{chinese_number(number + 1)}组", "客户服务部", service_lead,
                              tuple(agents[start:start + TEAM_SIZE])))
    for dept in sales_depts:
        people = [u.username for u in users if u.department == dept.name and u.role == "salesperson"]
        short = dept.name.removesuffix("销售部").removesuffix("办事处").removesuffix("部")
        for number, start in enumerate(range(0, len(people), TEAM_SIZE)):
            name = f"{short}{chinese_number(number + 1)}组"
            members = tuple(people[start:start + TEAM_SIZE])
            teams.append(TeamPlan(name, dept.name, managers.get(dept.name), members))

    # Ownership: a few salespeople own many accounts (Zipf over a shuffled ranking),
    # managers keep a handful, the named personas get fixed shares.
    fixed = {
        u: min(share, FIXED_BOOK_CAP / spec.accounts)
        for u, share in FIXED_SHARES.items() if any(p.username == u for p in users)
    }
    others = [u.username for u in users if u.role == "salesperson" and u.username not in fixed]
    rng.shuffle(others)
    zipf = [1 / (rank + 1) ** 0.8 for rank in range(len(others))]
    mgrs = [u.username for u in users if u.role == "sales_manager"]
    mgr_weight = 0.3 * (sum(zipf) / len(zipf)) if zipf else 1.0
    rest = sum(zipf) + mgr_weight * len(mgrs)
    scale = (1 - sum(fixed.values())) / rest if rest else 0.0
    owner_weights = {**{u: w * scale for u, w in zip(others, zipf, strict=True)},
                     **{u: mgr_weight * scale for u in mgrs}, **fixed}
    owners = tuple(sorted(owner_weights))  # stable order, independent of dict history
    return OrgPlan(
        size=size,
        departments=departments,
        users=tuple(users),
        teams=tuple(teams),
        managers=managers,
        owners=owners,
        owner_cum=tuple(_cum([owner_weights[o] for o in owners])),
    )


# --- The accounts (pure) -------------------------------------------------------------------------
class AccountRow(NamedTuple):
    serial: int  # place in the stream: the credit-code index and the resume point
    name: str
    kind: str
    credit_code: str
    phone: str
    region: str
    address: str
    owner: str | None
    created_by: str | None
    approved_by: str | None
    approved_at: datetime | None
    created_at: datetime
    updated_at: datetime


def account_code(number: int, row: AccountRow) -> str:
    """Return the customer code for sequence ``number``, in the year the account was created."""
    from guanxi.core.codes import customer_code

    return customer_code(number, row.created_at.year)


def _anchor(now: datetime | None) -> date:
    # The history ends at the start of today (local time): two builds on the same day
    # write identical rows, whatever the hour.
    return timezone.localdate(now or timezone.now())


def _before(end: datetime, start: datetime, delay: timedelta, rng: random.Random) -> datetime:
    # A later event that would fall in the future lands somewhere before ``end`` instead,
    # not all on the same instant.
    moment = start + delay
    return moment if moment < end else start + (end - start) * rng.random()


def generate_accounts(
    size: str, *, seed: int = DEFAULT_SEED, now: datetime | None = None, start: int = 0,
    plan: OrgPlan | None = None,
) -> Iterator[AccountRow]:
    """Yield the accounts of ``size`` in creation order, skipping the first ``start``.

    Skipped rows are still drawn, so row *i* is the same whether a build starts afresh or
    resumes after *i*. ``created_at`` rises with the index (stratified draws over the last
    three years, denser lately as the company grew), so codes and ids read chronologically.
    """
    size = size.upper()
    total = SIZES[size].accounts
    plan = plan or plan_organisation(size, seed)
    rng = random.Random(f"guanxi-demo:{seed}:accounts")
    tz = timezone.get_default_timezone()
    first_day = _anchor(now) - timedelta(days=HISTORY_DAYS)
    day_zero = datetime.combine(first_day, dtime(0), tzinfo=tz)
    end = datetime.combine(_anchor(now), dtime(0), tzinfo=tz)

    user_dept = {u.username: u.department for u in plan.users}
    depts = {d.name: d for d in plan.departments}
    all_cum = _cum([c.weight for c in CITIES])
    territory_cum = {d.name: _cum([c.weight for c in d.territory]) for d in plan.departments if d.territory}
    salespeople = [u.username for u in plan.users if u.role == "salesperson"] or ["admin"]
    owners, owner_cum = plan.owners, plan.owner_cum
    seen_names: set[str] = set()

    for index in range(total):
        u = rng.random()
        # Owner first: the customer's city follows the owner's territory.
        owner = None if u < 0.05 or not owners else owners[
            bisect.bisect(owner_cum, rng.random() * owner_cum[-1], hi=len(owners) - 1)]
        dept = depts.get(user_dept.get(owner, "")) if owner else None
        if dept is not None and dept.focus is not None and rng.random() < 0.7:
            city = dept.focus
        elif dept is not None and dept.territory and rng.random() < 0.9:
            cum = territory_cum[dept.name]
            city = dept.territory[bisect.bisect(cum, rng.random() * cum[-1], hi=len(cum) - 1)]
        else:
            city = CITIES[bisect.bisect(all_cum, rng.random() * all_cum[-1], hi=len(CITIES) - 1)]

        if rng.random() < 0.10:
            kind, name, code = "individual", person_name(rng), ""
            address = f"{city.name}{rng.choice(ROADS)}{rng.randrange(1, 300)}号" if rng.random() < 0.3 else ""
            phone = mobile(rng)
        else:
            kind = "enterprise"
            for _ in range(10):
                name = company_name(rng, city)
                if name not in seen_names:
                    break
            seen_names.add(name)
            code = credit_code(index, city, classic=rng.random() < 0.35, lead=rng.randrange(10))
            address = f"{city.name}{rng.choice(ROADS)}{rng.randrange(1, 999)}号" if rng.random() < 0.8 else ""
            phone = mobile(rng) if rng.random() < 0.92 else ""

        # Stratified time: index/total plus jitter keeps the stream in order; the power
        # skews it towards recent years.
        position = ((index + rng.random()) / total) ** 0.75 * HISTORY_DAYS
        day = int(position)
        created_at = day_zero + timedelta(days=day, seconds=30_600 + (position - day) * 36_000)  # 08:30–18:30
        approved = rng.random() < 0.20
        approved_by = (plan.managers.get(dept.name, "gm") if dept else "gm") if approved else None
        approved_at = (_before(end, created_at, timedelta(hours=rng.uniform(2, 240)), rng)
                       if approved else None)
        updated_at = _before(end, created_at, timedelta(days=rng.expovariate(1 / 60)), rng)
        if approved_at and updated_at < approved_at:
            updated_at = approved_at
        created_by = owner or salespeople[rng.randrange(len(salespeople))]
        if index < start:
            continue
        yield AccountRow(index, name, kind, code, phone, city.region, address, owner, created_by,
                         approved_by, approved_at, created_at, updated_at)


# --- Writing it to the database ------------------------------------------------------------------
def _already_built(spec: Size) -> bool:
    from guanxi.core.models import CodeSequence, User
    from guanxi.customers.models import Account

    marker = CodeSequence.objects.filter(name=MARKER).values_list("value", flat=True).first()
    if marker is not None:
        return marker >= spec.accounts
    # A database that predates the marker: the named logins and enough accounts mean built.
    return User.objects.filter(username="admin").exists() and Account.all_objects.count() >= spec.accounts


def _ensure_departments(plan: OrgPlan, anchor: datetime) -> dict[str, Any]:
    from guanxi.core.models import Department

    existing = {(d.name, d.parent_id): d for d in Department.all_objects.all()}
    result: dict[str, Department] = {}
    for spec in plan.departments:
        parent = result[spec.parent] if spec.parent else None
        dept = existing.get((spec.name, parent.pk if parent else None))
        if dept is None:
            dept = Department.objects.create(name=spec.name, parent=parent,
                                             created_at=anchor, updated_at=anchor)
        # The materialised path is ours to keep right: parent's path plus our own id.
        path = f"{parent.path if parent else '/'}{dept.pk}/"
        if dept.path != path:
            dept.path = path
            dept.save(update_fields=["path"])
        result[spec.name] = dept
    return result


def _ensure_users(plan: OrgPlan, departments: dict[str, Any], now: datetime) -> dict[str, Any]:
    from guanxi.core.models import Role, User

    roles = {code: Role.objects.get_or_create(code=code)[0] for code in Role.Code.values}
    existing = set(User.objects.values_list("username", flat=True))
    missing = [u for u in plan.users if u.username not in existing]
    # One hash for everyone: PBKDF2 two thousand times would take minutes.
    password = make_password(DEMO_PASSWORD) if missing else ""
    new = [
        User(
            username=u.username, name=u.name, email=f"{u.username}@example.com", phone=u.phone,
            department=departments[u.department], password=password, is_active=True,
            is_staff=u.role == "admin", date_joined=now - timedelta(days=u.joined_days_ago),
        )
        for u in missing
    ]
    User.objects.bulk_create(new, batch_size=BATCH)
    users = {u.username: u for u in User.objects.filter(username__in=[p.username for p in plan.users])}
    role_of = {p.username: p.role for p in plan.users}
    through = User.roles.through
    through.objects.bulk_create(
        [through(user_id=users[u.username].pk, role_id=roles[role_of[u.username]].pk) for u in new],
        batch_size=BATCH, ignore_conflicts=True,
    )
    return users


def _ensure_teams(plan: OrgPlan, departments: dict[str, Any], users: dict[str, Any]) -> None:
    from guanxi.core.models import Team

    through = Team.members.through
    for spec in plan.teams:
        team = Team.all_objects.filter(name=spec.name, department=departments[spec.department]).first()
        if team is None:
            team = Team.objects.create(name=spec.name, department=departments[spec.department],
                                       leader=users.get(spec.leader) if spec.leader else None)
        through.objects.bulk_create(
            [through(team_id=team.pk, user_id=users[m].pk) for m in spec.members if m in users],
            ignore_conflicts=True,
        )


CONTACTS_PER_ACCOUNT = 3  # BENCHMARKS.md: contacts = 3 × accounts at every size
TITLES = ("总经理", "副总经理", "采购经理", "采购员", "技术总监", "财务经理", "生产厂长", "销售总监", "办公室主任", "董事长")
CONTACT_ROLES = ("principal", "decision_maker", "handler", "influencer", "user", "other")
DEPTHS = ("passer_by", "acquaintance", "friend", "confidant")
DEPTH_WEIGHTS = _cum([40, 35, 20, 5])
INTERESTS = ("钓鱼", "茶", "高尔夫", "书法", "象棋", "登山", "摄影", "羽毛球", "收藏", "旅游")


def contact_rows(serial: int, seed: int, account_kind: str) -> list[dict[str, Any]]:
    """The people at account ``serial``: a pure function of the seed, like the accounts."""
    rng = random.Random(seed * 1_000_003 + serial)
    rows = []
    for i in range(CONTACTS_PER_ACCOUNT):
        birthday = date(1960, 1, 1) + timedelta(days=rng.randrange(38 * 365))
        rows.append({
            "name": person_name(rng),
            "title": "" if account_kind == "individual" else rng.choice(TITLES),
            "role": CONTACT_ROLES[0] if i == 0 else rng.choice(CONTACT_ROLES[1:]),
            "depth": DEPTHS[bisect.bisect(DEPTH_WEIGHTS, rng.random() * DEPTH_WEIGHTS[-1])],
            "mobile": mobile(rng),
            "birthday": birthday,
            "interests": "、".join(rng.sample(INTERESTS, 2)),
        })
    return rows


# --- Classification and rating history (R2) -------------------------------------------------------
LIFECYCLES = (("potential", 30), ("intent", 25), ("closed", 40), ("lost", 5))
RELATIONSHIP_TYPES = (("transactional", 50), ("preferred", 25), ("partner", 18), ("strategic", 7))
VALUE_SEGMENTS = (("value", 20), ("potential", 35), ("migrating", 25), ("frozen", 20))
URGENCIES = (("urgent", 10), ("soon", 30), ("later", 40), ("slow", 20))
CREDIT_STANDINGS = (("excellent", 15), ("good", 45), ("fair", 25), ("poor", 5), ("", 10))
IMPORTANCES = (("key", 10), ("important", 30), ("general", 50), ("", 10))
RATING_NOTES_UP = ("新增订单", "回款及时", "关键人关系加深", "签订年度协议", "拓展新产品线")
RATING_NOTES_DOWN = ("拖欠货款", "关键人离职", "订单减少", "出现投诉", "转向竞争对手")
MANUAL_FACTOR_KEYS = ("contribution", "law_abiding", "integrity", "influence")


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _w in table], weights=[w for _v, w in table])[0]


def classify_and_rate(accounts: list[dict[str, Any]], batch: list[AccountRow], seed: int, end: datetime,
                      grades: list[tuple[Any, str]], categories: dict[str, int]) -> list[dict[str, Any]]:
    """Fill the classification of ``accounts`` (rows not yet written) and draw each one's rating history.

    Deterministic per account (its own ``Random`` from seed and serial, like the contacts), so a
    resumed build draws the same. Sets grade/score/rated_at from the last rating and returns the
    ``AccountRating`` rows (``account_id`` taken from each account's ``id``).
    """
    ratings: list[dict[str, Any]] = []
    for account, row in zip(accounts, batch, strict=True):
        rng = random.Random(seed * 2_000_003 + row.serial)
        account["lifecycle"] = lifecycle = _pick(rng, LIFECYCLES)
        account["relationship_type"] = _pick(rng, RELATIONSHIP_TYPES)
        account["value_segment"] = _pick(rng, VALUE_SEGMENTS)
        account["urgency"] = _pick(rng, URGENCIES)
        account["credit_standing"] = _pick(rng, CREDIT_STANDINGS)
        account["importance"] = _pick(rng, IMPORTANCES)
        if row.kind == "individual":
            account["category_id"] = categories.get("居民")
        elif lifecycle == "potential":
            account["category_id"] = categories.get("潜在客户")
        else:
            account["category_id"] = categories.get(rng.choice(("餐饮", "制造", "制造", "工商业")))
        if not grades:
            continue
        count = rng.randint(3, 6)
        span = end - row.created_at
        level = rng.uniform(35, 92)
        previous = ""
        order = [c for _l, c in grades]
        for i in range(count):
            at = row.created_at + span * ((i + rng.uniform(0.2, 0.9)) / count)
            if i:
                level = min(100.0, max(5.0, level + rng.gauss(0, 9)))
            score = Decimal(f"{level:.2f}")
            grade = next((code for low, code in grades if score >= low), grades[-1][1])
            note = ""
            if previous and grade != previous:
                went_up = order.index(grade) < order.index(previous)
                note = rng.choice(RATING_NOTES_UP if went_up else RATING_NOTES_DOWN)
            factors = {key: round(min(100.0, max(0.0, level + rng.uniform(-12, 12))), 2)
                       for key in MANUAL_FACTOR_KEYS}
            ratings.append({"account_id": account["id"], "rated_at": at, "score": score, "grade": grade,
                            "previous_grade": previous, "kind": "manual" if i == 0 else "scheduled", "note": note,
                            "factors": factors})
            previous = grade
        account["rated_at"], account["score"], account["grade"] = at, score, grade
    return ratings


class _SearchTextSource:
    """What ``Account.derived_fields`` reads of an account, for a row not made into a model instance."""

    pk = None
    custom: dict[str, Any] = {}

    def __init__(self, account: dict[str, Any]) -> None:
        self.name, self.phone = account["name"], account["phone"]
        self.code, self.credit_code = account["code"], account["credit_code"]


def _history_in_step() -> bool:
    """Whether every account already written has its contact history: then the accounts written
    now get theirs in the same batch (one pass, no read-back, no UPDATE of last_activity_at)."""
    from guanxi.core.models import CodeSequence
    from guanxi.customers.models import Account

    last_account = Account.all_objects.order_by("-pk").values_list("pk", flat=True).first()
    marker = CodeSequence.objects.filter(name=ACTIVITY_MARKER).values_list("value", flat=True).first()
    return last_account is None or (marker is not None and marker >= last_account)


def _insert_accounts(plan: OrgPlan, seed: int, now: datetime, users: dict[str, Any],
                     stdout: _Writer | None) -> int:
    """Write the accounts not written yet, with their people and ratings, in committed batches.

    Ids are given explicitly (the next free one), so a resumed build writes the very rows an
    uninterrupted one does. When every earlier account has its contact history, each batch
    writes its accounts' history too (``_Histories``), as ``_insert_activities`` would.
    """
    from guanxi.activities.models import FollowUp, Interaction
    from guanxi.core import codes
    from guanxi.core.models import CodeSequence
    from guanxi.customers.models import Account, AccountRating, Category, Contact, Grade
    from guanxi.sales.demo import is_distributor

    total = SIZES[plan.size].accounts
    done = CodeSequence.objects.get(name=MARKER).value
    tz = timezone.get_default_timezone()
    history_end = datetime.combine(_anchor(now), dtime(0), tzinfo=tz)
    grades = list(Grade.objects.order_by("-min_score").values_list("min_score", "code"))
    categories = dict(Category.objects.filter(active=True).values_list("name", "pk"))
    ids: dict[str | None, tuple[int | None, int | None]] = {
        name: (user.pk, user.department_id) for name, user in users.items()
    }
    city_of = {city.region: city for city in CITIES}
    with_history = _history_in_step()
    written = 0
    last_report = done * 10 // total

    def flush(batch: list[AccountRow]) -> None:
        nonlocal written, last_report
        with transaction.atomic():
            numbers = codes.reserve("customer", len(batch))
            first = next_ids(Account, Contact, AccountRating)
            accounts_table, contacts_table = Table(Account, with_id=True), Table(Contact, with_id=True)
            ratings_table = Table(AccountRating, with_id=True)
            histories = _Histories(seed, history_end, tz) if with_history else None
            accounts: list[dict[str, Any]] = []
            contact_id = first["Contact"]
            people: list[list[tuple[int, str]]] = []
            for pk, (number, row) in enumerate(zip(numbers, batch, strict=True), start=first["Account"]):
                owner_id, department_id = ids.get(row.owner, (None, None))
                city = city_of[row.region]
                account: dict[str, Any] = {
                    "id": pk, "code": account_code(number, row), "name": row.name, "kind": row.kind,
                    "credit_code": row.credit_code, "phone": row.phone, "region": row.region,
                    # What the sales demo reads (price lists, forecast by region, rebates), written now
                    # rather than by an UPDATE of every account later.
                    "province": city.province, "city": city.name, "is_distributor": is_distributor(pk, seed, row.kind),
                    "address": row.address, "owner_id": owner_id, "department_id": department_id,
                    "created_by_id": ids.get(row.created_by, (None, None))[0],
                    "approval_state": "approved" if row.approved_by else "draft",
                    "approved_by_id": ids.get(row.approved_by, (None, None))[0], "approved_at": row.approved_at,
                    "created_at": row.created_at, "updated_at": row.updated_at, "version": 1, "custom": {},
                }
                mine = []
                for fields in contact_rows(row.serial, seed, row.kind):
                    contacts_table.add({"id": contact_id, "account_id": pk, "created_at": row.created_at,
                                        "updated_at": row.created_at, "version": 1, **fields})
                    mine.append((contact_id, fields["name"]))
                    contact_id += 1
                # Written without the services: fill the derived columns (search text) here.
                account.update(Account.derived_fields(_SearchTextSource(account),  # type: ignore[arg-type]
                                                      [name for _pk, name in mine]))
                accounts.append(account)
                people.append(mine)
            ratings = classify_and_rate(accounts, batch, seed, history_end, grades, categories)
            for pk, rating in enumerate(ratings, start=first["AccountRating"]):
                ratings_table.add({"id": pk, **rating})
            if histories is not None:
                for account, mine in zip(accounts, people, strict=True):
                    # As _insert_activities reads it back: created_at in UTC, contacts in id order.
                    last = histories.add(account["id"], account["owner_id"], account["created_by_id"],
                                         account["created_at"].astimezone(UTC), account.get("grade", ""),
                                         account["urgency"], mine)
                    if last is not None:
                        account["last_activity_at"] = last
            for account in accounts:
                accounts_table.add(account)
            accounts_table.flush()
            ratings_table.flush()
            contacts_table.flush()
            models: list[Any] = [Account, Contact, AccountRating]
            if histories is not None:
                histories.flush()
                models += [Interaction, FollowUp]
                CodeSequence.objects.update_or_create(name=ACTIVITY_MARKER, defaults={"value": accounts[-1]["id"]})
            reset_sequences(*models)
            # Same transaction as the rows: the marker never claims accounts that are missing.
            CodeSequence.objects.filter(name=MARKER).update(value=batch[-1].serial + 1)
        written += len(batch)
        if stdout is not None and (batch[-1].serial + 1) * 10 // total > last_report:
            last_report = (batch[-1].serial + 1) * 10 // total
            stdout.write(f"  客户 accounts: {batch[-1].serial + 1:,} / {total:,}\n")

    batch: list[AccountRow] = []
    for row in generate_accounts(plan.size, seed=seed, now=now, start=done, plan=plan):
        batch.append(row)
        if len(batch) >= BATCH:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return written


# --- Contact and follow-up (R3) -----------------------------------------------------------------
# Every account gets a history of contacts and follow-ups drawn from its own Random (seed and
# account id), so a resumed build writes the same rows. Volumes follow BENCHMARKS.md: about
# ten interactions and two follow-ups per account, over the account's life (up to three years).
ACTIVITY_MARKER = "demo-activities"  # CodeSequence: the last account id whose history is written
ACTIVITY_DONE = "demo-activities-done"  # present once every demo account has its history
SHOWCASE_MARKER = "demo-showcase"  # the hand-written stories of the named salespeople
ACTIVITY_BATCH = 2_000  # accounts per committed batch
# (grade, urgency, days, title): A weekly when urgent or soon, else fortnightly; the default
# covers accounts not rated yet.
CADENCE_RULES: tuple[tuple[str, str, int, str], ...] = (
    ("", "", 30, "定期联系（每 30 天）"),
    ("A", "urgent", 7, "重点客户（紧急）：每周联系"),
    ("A", "soon", 7, "重点客户（较急）：每周联系"),
    ("A", "", 14, "重点客户：每两周联系"),
    ("B", "", 21, "主要客户：每三周联系"),
    ("C", "", 45, "潜力客户：每 45 天联系"),
    ("D", "", 90, "一般客户：每季度联系"),
)
# Contacts come a little less often than the cadence asks (people are busy); this factor
# stretches the gaps so the demo averages ten interactions per account (measured at S).
GAP_FACTOR = 1.75
POOL_GAP_FACTOR = 4.0  # accounts now in the pool were followed up rarely before they went there
MAX_INTERACTIONS = 150
KINDS = (("call", 34), ("visit", 22), ("message", 20), ("email", 12), ("meeting", 9), ("fax", 3))
PURPOSES = (("information", 34), ("deal", 25), ("care", 15), ("service", 16), ("intelligence", 10))
PRODUCTS = ("数控机床", "伺服电机", "工业机器人", "包装设备", "检测仪器", "注塑机", "空压机", "PLC 控制柜",
            "激光切割机", "输送线", "变频器", "精密轴承")
_OPENERS = {
    "visit": ("上门拜访{who}，", "到客户工厂拜访{who}，", "陪同技术工程师拜访{who}，"),
    "call": ("与{who}电话沟通，", "给{who}打电话，", "{who}来电，"),
    "email": ("给{who}发邮件，", "邮件回复{who}，"),
    "fax": ("向{who}传真了资料，",),
    "meeting": ("与{who}等人开会，", "在我司会议室接待{who}一行，", "参加客户的供应商大会，会上与{who}交流，"),
    "message": ("微信联系{who}，", "给{who}发微信，", "短信提醒{who}，"),
}
_BODIES = {
    "information": ("介绍了新款{product}的参数和交期", "了解了对方下半年的生产计划", "沟通了{product}的报价调整",
                    "确认了对方新的收货地址和开票信息", "发送了{product}的产品目录和案例"),
    "deal": ("推进{n}台{product}的采购合同，对方基本认可价格", "讨论{product}订单的付款方式和交期",
             "催促对方确认年度框架协议", "就{product}的折扣反复磋商", "确认了{n}台{product}的订单细节"),
    "care": ("问候近况，聊了聊{interest}", "节日问候并送上小礼品", "关心{who}家人身体情况",
             "祝贺对方新厂房落成", "约了周末一起{interest}"),
    "service": ("处理{product}安装调试中的问题", "回访上月交付的{product}使用情况", "安排工程师上门维护{product}",
                "解答{product}保养方面的疑问", "跟进一起{product}的质量投诉"),
    "intelligence": ("了解到竞争对手近期降价约{pct}%", "得知对方新厂房明年投产，设备需求较大",
                     "对方采购负责人可能调整", "了解到对方正在评估其他供应商的{product}",
                     "得知对方明年预算增加约{pct}%"),
}
_OUTCOMES = ("对方同意下周提供需求清单", "价格还需请示领导", "已确认，等待下单", "暂无进展，保持联系",
             "问题已解决，客户满意", "对方表示会优先考虑我们", "需要技术部门配合出方案", "客户要求再降价 {pct}%",
             "", "", "")
_AGREEMENTS = ("{date}前提供正式报价", "安排技术交流会", "下月初到我司工厂参观", "寄送样品 {n} 件",
               "{date}前确认合同条款", "技术部出具选型方案", "财务核对上季度对账单")
_STEPS = ("电话回访", "发送报价单", "安排样品寄送", "确认合同条款", "上门拜访", "催收货款", "准备技术交流会材料",
          "跟进投诉处理结果", "提交选型方案")
_GIFTS = (("月饼礼盒", 298), ("茶叶礼盒", 560), ("粽子礼盒", 168), ("年货礼包", 388), ("鲜花", 199))


def cadence_days(grade: str, urgency: str) -> int:
    """The demo cadence for an account: the most specific of CADENCE_RULES, as rule_for picks it."""
    return max((rule for rule in CADENCE_RULES if rule[0] in ("", grade) and rule[1] in ("", urgency)),
               key=lambda rule: (rule[0] != "", rule[1] != ""))[2]


def _cadence_title(grade: str, urgency: str) -> str:
    return max((rule for rule in CADENCE_RULES if rule[0] in ("", grade) and rule[1] in ("", urgency)),
               key=lambda rule: (rule[0] != "", rule[1] != ""))[3]


def _table(table: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], list[float]]:
    return tuple(v for v, _w in table), _cum([w for _v, w in table])


_KIND_TABLE, _PURPOSE_TABLE = _table(KINDS), _table(PURPOSES)


def _weighted(rng: random.Random, table: tuple[tuple[str, ...], list[float]]) -> str:
    values, cum = table
    return values[bisect.bisect(cum, rng.random() * cum[-1], hi=len(values) - 1)]


def _work_time(rng: random.Random, start: datetime, end: datetime, tz: Any) -> datetime:
    """A moment between ``start`` and ``end``, on a working day and in office hours when it can be."""
    span = (end - start).total_seconds()
    moment = (start + timedelta(seconds=rng.random() * span)).astimezone(tz)
    if moment.weekday() >= 5 and rng.random() < 0.85:
        moment -= timedelta(days=moment.weekday() - 4)  # to the Friday before
    moment = moment.replace(hour=8 + int(rng.random() * 10), minute=int(rng.random() * 60),
                            second=int(rng.random() * 60), microsecond=0)
    if moment < start or moment >= end:
        return start + timedelta(seconds=rng.random() * span)
    return moment


class _Fill(dict):  # type: ignore[type-arg]
    """What a phrase's placeholders need, drawn only when a phrase asks (cheaper than drawing all)."""

    def __init__(self, rng: random.Random, who: str, at: datetime) -> None:
        super().__init__(who=who)
        self.rng, self.at = rng, at

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key == "product":
            value = PRODUCTS[int(rng.random() * len(PRODUCTS))]
        elif key == "interest":
            value = INTERESTS[int(rng.random() * len(INTERESTS))]
        elif key == "n":
            value = str(2 + int(rng.random() * 29))
        elif key == "pct":
            value = str(3 + int(rng.random() * 13))
        else:  # date: a few days after the contact
            when = self.at + timedelta(days=3 + int(rng.random() * 12))
            value = f"{when.month}月{when.day}日"
        self[key] = value
        return value


def _pick_one(rng: random.Random, values: tuple[str, ...]) -> str:
    return values[int(rng.random() * len(values))]


class AccountHistory(NamedTuple):
    # (kind, purpose, occurred_at, subject, summary, outcome, agreements, gift, gift_value, contact ids)
    interactions: list[tuple[Any, ...]]
    # (title, due_at, state, source, done_at, outcome, agreed in (interaction index) or None, notified_at)
    followups: list[tuple[Any, ...]]


def account_history(rng: random.Random, *, created_at: datetime, end: datetime, grade: str, urgency: str,
                    owned: bool, contacts: list[tuple[int, str]], tz: Any = None) -> AccountHistory:
    """Draw one account's contacts and follow-ups up to ``end`` (the start of today); pure."""
    tz = tz or timezone.get_default_timezone()
    interval = cadence_days(grade, urgency)
    life_days = max(0.0, (end - created_at).total_seconds() / 86_400)
    mean_gap = interval * (GAP_FACTOR if owned else POOL_GAP_FACTOR)
    expected = life_days / mean_gap
    count = max(0, min(MAX_INTERACTIONS, round(expected + rng.gauss(0, expected ** 0.5 or 0.5))))
    times = sorted(_work_time(rng, created_at, end, tz) for _ in range(count)) if life_days > 0 else []
    interactions: list[tuple[Any, ...]] = []
    for at in times:
        kind, purpose = _weighted(rng, _KIND_TABLE), _weighted(rng, _PURPOSE_TABLE)
        if purpose == "care" and kind in ("fax", "email"):
            kind = "message"
        people: list[tuple[int, str]] = []
        if contacts and (kind not in ("email", "fax") or rng.random() < 0.5):
            first = contacts[int(rng.random() * len(contacts))]
            people = [first]
            if len(contacts) > 1 and rng.random() < 0.3:
                second = contacts[int(rng.random() * len(contacts))]
                if second != first:
                    people.append(second)
        fill = _Fill(rng, "、".join(name for _pk, name in people) or "对方负责人", at)
        body = _pick_one(rng, _BODIES[purpose]).format_map(fill)
        summary = _pick_one(rng, _OPENERS[kind]).format_map(fill) + body + "。"
        outcome = _pick_one(rng, _OUTCOMES).format_map(fill)
        agreements = ""
        if kind in ("visit", "meeting") and rng.random() < 0.5:
            agreements = "\n".join(a.format_map(fill) for a in rng.sample(_AGREEMENTS, 1 + int(rng.random() * 3)))
        gift, value = "", None
        if purpose == "care" and rng.random() < 0.3:
            gift, value = _GIFTS[int(rng.random() * len(_GIFTS))]
        interactions.append((kind, purpose, at, body[:40], summary, outcome, agreements, gift, value,
                             [pk for pk, _name in people]))

    followups: list[tuple[Any, ...]] = []
    # Follow-ups agreed in one contact and done at the next, a quarter of them late.
    for i in range(1, len(interactions)):
        if rng.random() < 0.11:
            done_at = interactions[i][2]
            late = rng.random() < 0.25
            due = done_at - timedelta(days=rng.uniform(1, 10)) if late else done_at + timedelta(hours=rng.uniform(1, 72))
            source = "cadence" if rng.random() < 0.5 else "manual"
            title = _cadence_title(grade, urgency) if source == "cadence" else rng.choice(_STEPS)
            followups.append((title, due, "done", source, done_at, interactions[i][5], i - 1, None))
    if owned:
        last = interactions[-1][2] if interactions else created_at
        # A next step agreed in the last contact, for some accounts contacted lately.
        if interactions and rng.random() < 0.12 and last > end - timedelta(days=30):
            due = last + timedelta(days=rng.uniform(1, 14))
            followups.append((rng.choice(_STEPS), due.replace(minute=0, second=0, microsecond=0), "open", "manual",
                              None, "", len(interactions) - 1, due + timedelta(days=1) if due < end else None))
        # The cadence follow-up: due one interval after the last contact. Most long-overdue
        # ones were rescheduled by their owner; the rest are the overdue list, already notified.
        due = last + timedelta(days=interval)
        if due < end and rng.random() < 0.8:
            due = end + timedelta(days=rng.uniform(0, interval))
        elif due < end - timedelta(days=60):
            due = end - timedelta(days=rng.uniform(1, 60))
        due = timezone.localtime(due).replace(hour=9, minute=0, second=0, microsecond=0)
        notified = due + timedelta(days=1) if due + timedelta(days=1) < end else None
        followups.append((_cadence_title(grade, urgency), due, "open", "cadence", None, "", None, notified))
    return AccountHistory(interactions, followups)


def _ensure_cadence_rules() -> None:
    from guanxi.activities.models import CadenceRule

    existing = set(CadenceRule.objects.values_list("grade", "urgency"))
    CadenceRule.objects.bulk_create([CadenceRule(grade=g, urgency=u, interval_days=d, title=t)
                                     for g, u, d, t in CADENCE_RULES if (g, u) not in existing])


class _Histories:
    """The contact history of a run of accounts as rows of the three tables, ids given explicitly
    (the next free ones), so the same accounts get the same rows however the build was cut."""

    def __init__(self, seed: int, end: datetime, tz: Any) -> None:
        from guanxi.activities.models import FollowUp, Interaction

        self.seed, self.end, self.tz = seed, end, tz
        self.interactions = Table(Interaction, with_id=True)
        self.people = Table(Interaction.their_people.through)
        self.followups = Table(FollowUp, with_id=True)
        first = next_ids(Interaction, FollowUp)
        self.next_interaction, self.next_followup = first["Interaction"], first["FollowUp"]
        self.written_interactions = self.written_followups = 0

    def add(self, account_id: int, owner_id: int | None, created_by_id: int | None, created_at: datetime,
            grade: str, urgency: str, contacts: list[tuple[int, str]]) -> datetime | None:
        """Draw one account's history; return its last contact if the account has an owner (the
        account's ``last_activity_at``), else None."""
        who = owner_id or created_by_id
        if who is None:
            return None
        rng = random.Random(self.seed * 3_000_017 + account_id)
        history = account_history(rng, created_at=created_at, end=self.end, grade=grade, urgency=urgency,
                                  owned=owner_id is not None, contacts=contacts, tz=self.tz)
        ids = []
        add_interaction, add_person, add_followup = self.interactions.add, self.people.add, self.followups.add
        for kind, purpose, at, subject, summary, outcome, agreements, gift, value, people in history.interactions:
            pk = self.next_interaction
            self.next_interaction += 1
            ids.append(pk)
            add_interaction({"id": pk, "account_id": account_id, "owner_id": who, "kind": kind, "purpose": purpose,
                             "occurred_at": at, "subject": subject, "summary": summary, "outcome": outcome,
                             "agreements": agreements, "gift": gift,
                             "gift_value": Decimal(value) if value else None, "version": 1, "created_at": at,
                             "updated_at": at})
            for contact_id in people:
                add_person({"interaction_id": pk, "contact_id": contact_id})
        for title, due, state, source, done_at, outcome, agreed, notified in history.followups:
            created = history.interactions[agreed][2] if agreed is not None else (done_at or due)
            created = min(created, due, self.end)
            add_followup({"id": self.next_followup, "account_id": account_id, "owner_id": who, "title": title,
                          "due_at": due, "state": state, "source": source,
                          "interaction_id": ids[agreed] if agreed is not None else None, "done_at": done_at,
                          "done_by_id": who if done_at else None, "outcome": outcome,
                          "overdue_notified_at": notified, "version": 1, "created_at": created,
                          "updated_at": done_at or created})
            self.next_followup += 1
        self.written_interactions += len(history.interactions)
        self.written_followups += len(history.followups)
        return history.interactions[-1][2] if history.interactions and owner_id is not None else None

    def flush(self) -> None:
        self.interactions.flush()
        self.people.flush()
        self.followups.flush()


def _insert_activities(seed: int, now: datetime, stdout: _Writer | None,
                       max_batches: int | None = None) -> tuple[int, int]:
    """Write the history of every demo account that has none yet, in committed batches; resumes
    after the last one. (A company built in one go gets it with its accounts: ``_insert_accounts``.)

    ``max_batches`` stops early, as an interrupted build would (tests).
    """
    from guanxi.activities.models import FollowUp, Interaction
    from guanxi.core.models import CodeSequence
    from guanxi.customers.models import Account, Contact

    tz = timezone.get_default_timezone()
    end = datetime.combine(_anchor(now), dtime(0), tzinfo=tz)
    t = db_time()
    qn = connection.ops.quote_name
    total = Account.all_objects.count()
    done = Account.all_objects.filter(pk__lte=CodeSequence.objects.get(name=ACTIVITY_MARKER).value).count()
    written_i = written_f = 0
    last_report = -1
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        last_id = CodeSequence.objects.get(name=ACTIVITY_MARKER).value
        accounts = list(Account.all_objects.filter(pk__gt=last_id).order_by("pk").values_list(
            "pk", "owner_id", "created_by_id", "created_at", "grade", "urgency")[:ACTIVITY_BATCH])
        if not accounts:
            return written_i, written_f
        contacts: dict[int, list[tuple[int, str]]] = {}
        for account_id, pk, name in (Contact.all_objects.filter(account_id__in=[a[0] for a in accounts])
                                     .order_by("pk").values_list("account_id", "pk", "name")):
            contacts.setdefault(account_id, []).append((pk, name))
        with transaction.atomic():
            histories = _Histories(seed, end, tz)
            touched: list[tuple[Any, int]] = []
            for account_id, owner_id, created_by_id, created_at, grade, urgency in accounts:
                last = histories.add(account_id, owner_id, created_by_id, created_at, grade, urgency,
                                     contacts.get(account_id, []))
                if last is not None:
                    touched.append((t(last), account_id))
            histories.flush()
            reset_sequences(Interaction, FollowUp)
            if touched:
                with connection.cursor() as cursor:
                    cursor.executemany(f"UPDATE {qn(Account._meta.db_table)} "  # noqa: S608
                                       f"SET {qn('last_activity_at')} = %s WHERE {qn('id')} = %s", touched)
            CodeSequence.objects.filter(name=ACTIVITY_MARKER).update(value=accounts[-1][0])
        written_i += histories.written_interactions
        written_f += histories.written_followups
        done += len(accounts)
        if stdout is not None and done * 10 // max(total, 1) > last_report:
            last_report = done * 10 // max(total, 1)
            stdout.write(f"  联系记录 interactions: {written_i:,}, 跟进 follow-ups: {written_f:,} "
                         f"({done:,} / {total:,} accounts)\n")
    return written_i, written_f


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, dtime(hour, minute)))


def _next_date(month: int, day: int, after: date) -> date:
    for year in (after.year, after.year + 1, after.year + 2):
        try:
            candidate = date(year, month, day)
        except ValueError:  # 29 February
            candidate = date(year, 3, 1)
        if candidate >= after:
            return candidate
    return after


def build_showcase(now: datetime) -> bool:
    """Hand-written days of the named salespeople: what the first screens of the demo show.

    张伟 (``sales``) has a visit with agreed points and people from both sides, a care message
    with a gift, follow-ups due today, overdue and coming up, done ones with their outcome,
    a birthday and a Spring Festival greeting planned, support given, and a project with a
    cost change waiting for the customer; 陈静 (``sales2``) has a smaller day. Written through
    the services (audited, cadence applied), once.
    """
    from decimal import Decimal as D

    from lunardate import LunarDate

    from guanxi.activities import services
    from guanxi.activities.models import CarePlan, CostChange, FollowUp, Interaction, Phase, Project, Support
    from guanxi.core.models import CodeSequence, User
    from guanxi.customers.models import Account, Contact

    if CodeSequence.objects.filter(name=SHOWCASE_MARKER).exists():
        return False
    users = {u.username: u for u in User.objects.filter(username__in=["sales", "sales2", "manager"])}
    sales = users.get("sales")
    if sales is None:
        return False
    today = _anchor(now)
    # Real time may be behind a pinned ``now`` (tests): nothing is logged after either.
    latest = min(now, timezone.now())
    day = lambda n: today - timedelta(days=n)  # noqa: E731

    def book(user: User, n: int) -> list[Account]:
        return list(Account.objects.filter(owner=user).exclude(grade="").order_by("-score", "pk")[:n])

    def people(account: Account) -> list[Contact]:
        return list(Contact.objects.filter(account=account).order_by("pk"))

    def log(user: User, account: Account, when: datetime, **fields: Any) -> Any:
        return services.interaction_create(actor=user, account=account, occurred_at=min(when, latest), **fields)

    def plan(user: User, account: Account, title: str, due: datetime, **fields: Any) -> FollowUp:
        return services.followup_create(actor=user, account=account, title=title, due_at=due, owner=user, **fields)

    with transaction.atomic():
        accounts = book(sales, 5)
        if len(accounts) < 5:
            return False
        top, second, third, fourth, fifth = accounts
        them = people(top)
        manager = users.get("manager")
        visit = log(sales, top, _at(day(12), 10, 30), kind="visit", purpose="deal", subject="年度采购框架协议洽谈",
                    summary=f"上门拜访{them[0].name}和{them[1].name}，介绍了今年新款数控机床的性能、交期和售后方案。"
                            "对方对交期和付款方式比较关心，希望分三期付款。",
                    outcome="对方原则同意签订年度框架协议，单价还需再议。",
                    agreements="本周五前提供正式报价单\n下月初安排对方到我司工厂参观\n技术部提供设备选型方案",
                    their_people=[them[0].pk, them[1].pk], our_people=[manager.pk] if manager else [])
        quote = plan(sales, top, "发送正式报价单", _at(day(9), 17), interaction=visit, contact=them[0])
        services.followup_complete(actor=sales, followup=quote, outcome="报价单已邮件发送，对方确认收到。")
        FollowUp.objects.filter(pk=quote.pk).update(done_at=_at(day(9), 16, 20))  # done then, not today
        log(sales, top, _at(day(3), 15, 10), kind="call", purpose="deal", subject="报价细节电话确认",
            summary=f"与{them[0].name}电话沟通报价，对方希望单价再降 3%，并要求延长质保一年。",
            outcome="答应请示领导后回复。", their_people=[them[0].pk])
        plan(sales, top, "回复降价和延保要求", _at(today, 10), contact=them[0],
             notes="领导同意最多降 2%，质保可延长一年。")
        plan(sales, top, "安排客户来厂参观", _at(today + timedelta(days=6), 9, 30), contact=them[1])

        them2 = people(second)
        meeting = log(sales, second, _at(day(5), 14), kind="meeting", purpose="service", subject="设备调试问题协调会",
                      summary=f"在客户会议室与{them2[0].name}、设备科开会，讨论上月交付的两台注塑机调试中出现的温控问题。",
                      outcome="确认是参数设置问题，不涉及设备质量。",
                      agreements="我方派工程师上门重新调试\n客户安排两名操作员参加培训",
                      their_people=[them2[0].pk])
        plan(sales, second, "安排工程师上门调试", _at(day(2), 9), interaction=meeting, contact=them2[0])
        plan(sales, second, "电话回访设备使用情况", _at(today, 15), contact=them2[0])

        them3 = people(third)
        log(sales, third, _at(day(1), 19, 20), kind="message", purpose="care", subject="节日问候",
            summary=f"微信问候{them3[0].name}，送上一盒茶叶，聊了聊他最近学的书法。", outcome="对方很高兴，约了下月喝茶。",
            gift="茶叶礼盒", gift_value=D("560"), their_people=[them3[0].pk])
        log(sales, fourth, _at(day(20), 11), kind="email", purpose="information", subject="新产品资料",
            summary="给采购部发邮件，附上伺服电机新品目录和三个同行业案例。", outcome="对方回复下季度有采购计划。")
        intel = log(sales, fifth, _at(day(8), 16, 40), kind="call", purpose="intelligence", subject="竞争对手动态",
                    summary="与对方采购经理闲聊，了解到竞争对手近期报价低了约 8%，并承诺 30 天账期。",
                    outcome="需要核实竞争对手的真实报价。")
        plan(sales, fifth, "核实竞争对手报价", _at(day(5), 10), interaction=intel)
        plan(sales, fourth, "准备技术交流会材料", _at(today + timedelta(days=3), 14))

        # Care: the nearest birthday among the top account's people, and the Spring Festival.
        def next_birthday(p: Contact) -> date:
            return _next_date(p.birthday.month, p.birthday.day, today) if p.birthday else today + timedelta(days=10)

        person = min(them, key=next_birthday)
        birthday = next_birthday(person)
        CarePlan.objects.create(account=top, contact=person, occasion="birthday", date=birthday, owner=sales,
                                message=f"{person.name}总：祝您生日快乐，身体健康，万事如意！", gift="蛋糕券",
                                gift_value=D("300"))
        spring = LunarDate(today.year, 1, 1).to_solar_date()
        if spring < today:
            spring = LunarDate(today.year + 1, 1, 1).to_solar_date()
        CarePlan.objects.create(account=second, contact=them2[0], occasion="spring_festival", date=spring, owner=sales,
                                message="值此新春佳节，感谢您一年来的信任与支持，恭祝阖家幸福、新春快乐！",
                                gift="年货礼包", gift_value=D("388"))
        Support.objects.create(account=second, kind="training", owner=sales, given_on=day(25), value=D("8000"),
                               description="为客户设备操作人员组织两天免费培训（12 人），内容为注塑机操作与保养。",
                               outcome="操作失误明显减少，客户设备科很满意。")
        Support.objects.create(account=top, kind="policy", owner=sales, given_on=day(40),
                               description="协助客户申报本市智能制造专项补贴，提供设备清单和技术说明。",
                               outcome="申报材料已提交，等待审批。")

        project = Project.objects.create(account=top, name="生产线自动化改造项目", owner=sales,
                                         goal="三条装配线改为自动化，人工减少 40%，年内投产。",
                                         starts_on=day(60), ends_on=today + timedelta(days=120), budget=D("1200000"))
        Phase.objects.create(project=project, position=1, name="方案设计", owner=sales, goal="完成工艺方案和设备选型",
                             starts_on=day(60), ends_on=day(31), cost=D("150000"), state="done")
        install = Phase.objects.create(project=project, position=2, name="设备安装", owner=sales,
                                       goal="安装机器人和输送线，完成单机调试", starts_on=day(30),
                                       ends_on=today + timedelta(days=45), cost=D("850000"), state="active")
        Phase.objects.create(project=project, position=3, name="联调验收", owner=sales, goal="整线联调，客户验收",
                             starts_on=today + timedelta(days=46), ends_on=today + timedelta(days=120),
                             cost=D("200000"))
        CostChange.objects.create(phase=install, amount=D("85000"), requested_by=sales,
                                  reason="客户要求增加两台视觉检测设备，费用增加 85,000 元。")

        mate = users.get("sales2")
        mine = book(mate, 2) if mate else []
        if mate and len(mine) == 2:
            them4 = people(mine[0])
            log(mate, mine[0], _at(day(4), 10), kind="visit", purpose="information", subject="了解明年采购计划",
                summary=f"拜访{them4[0].name}，了解到对方明年计划新增一条生产线。", outcome="对方下月发来需求清单。",
                their_people=[them4[0].pk])
            plan(mate, mine[0], "索取需求清单", _at(day(1), 10), contact=them4[0])
            plan(mate, mine[1], "电话问候", _at(today, 11))
        # The last contact date follows the newest contact (completing the quote above today moved it).
        Account.all_objects.filter(pk=top.pk).update(
            last_activity_at=Interaction.objects.filter(account=top).order_by("-occurred_at")
            .values_list("occurred_at", flat=True).first())
        CodeSequence.objects.create(name=SHOWCASE_MARKER, value=1)
    return True


def build_activities(*, seed: int = DEFAULT_SEED, now: datetime | None = None,
                     stdout: _Writer | None = None) -> bool:
    """Add the contact history to a built demo company, unless it has it already; resumable."""
    from guanxi.activities.models import FollowUp, Interaction
    from guanxi.core.models import CodeSequence

    now = now or timezone.now()
    if CodeSequence.objects.filter(name=ACTIVITY_DONE).exists():
        return False
    bulk_session()
    _ensure_cadence_rules()
    CodeSequence.objects.get_or_create(name=ACTIVITY_MARKER)
    if stdout is not None:
        stdout.write("正在生成联系与跟进记录 / building interactions and follow-ups …\n")
    started = time.perf_counter()
    with bulk_load(*_activity_models()):
        interactions, followups = _insert_activities(seed, now, stdout)
    reset_sequences(Interaction, FollowUp)
    build_showcase(now)
    if stdout is not None:
        stdout.write(f"  {interactions:,} interactions, {followups:,} follow-ups in "
                     f"{time.perf_counter() - started:.1f} s\n")
    CodeSequence.objects.get_or_create(name=ACTIVITY_DONE)
    return True


def _activity_models() -> tuple[Any, ...]:
    from guanxi.activities.models import FollowUp, Interaction

    return Interaction, Interaction.their_people.through, FollowUp


def _account_models() -> tuple[Any, ...]:
    from guanxi.customers.models import Account, AccountRating, Contact

    return Account, Contact, AccountRating


# Every module the build imports on its way, imported before it writes a row: a module broken
# while a long build runs (edited, half installed) stops the build at its start, not an hour in.
BUILD_MODULES = (
    "guanxi.activities.services", "guanxi.core.codes", "guanxi.core.search", "guanxi.loyalty.demo",
    "guanxi.sales.demo", "guanxi.sales.demo_batch", "guanxi.sales.services.board", "guanxi.sales.services.common",
    "guanxi.sales.services.orders", "guanxi.sales.services.pipeline_setup", "guanxi.sales.services.totals",
    "guanxi.service.demo", "guanxi.service.demo_showcase", "guanxi.service.services.calendar",
    "guanxi.service.services.visits", "lunardate",
)


RATING_MARKER = "demo-rating"  # CodeSequence: the last account id the closing rating has done
RATING_DONE = "demo-rating-done"  # present once the closing rating is done


class _RatingCheckpoint:
    """Where the closing rating has got to, kept in ``RATING_MARKER`` by each chunk's transaction,
    so a stopped build resumes after the last committed chunk (the shape of ``jobs.Progress``)."""

    def __init__(self, stdout: _Writer | None) -> None:
        self.stdout, self.total, self.done = stdout, 0, 0

    def set_total(self, total: int) -> None:
        self.total = total

    def advance(self, done: int = 0, failed: int = 0, *, checkpoint: dict[str, Any] | None = None,
                errors: list[dict[str, Any]] | None = None) -> None:
        from guanxi.core.models import CodeSequence

        self.done += done
        if checkpoint is not None:
            CodeSequence.objects.filter(name=RATING_MARKER).update(value=checkpoint["after_id"])
        if self.stdout is not None and (self.done % 100_000 < done or self.done == self.total):
            self.stdout.write(f"  测评 / rating: {self.done:,} / {self.total:,}\n")


def settle_ratings(*, now: datetime, stdout: _Writer | None = None) -> bool:
    """Rate every demo account once by the rules (a scheduled rating at ``now``), unless done.

    The drawn rating histories end in grades the rules would not give; a real company's stored
    grades are the last rating's. Resumable: each committed chunk moves ``RATING_MARKER``.
    Returns whether anything was rated.
    """
    from guanxi.core.models import CodeSequence
    from guanxi.customers.models import AccountRating
    from guanxi.customers.services.classification import rerate_all

    if CodeSequence.objects.filter(name=RATING_DONE).exists():
        return False
    marker, _ = CodeSequence.objects.get_or_create(name=RATING_MARKER)
    if stdout is not None:
        stdout.write("正在按规则测评客户 / rating every account by the rules …\n")
    checkpoint = _RatingCheckpoint(stdout)
    rated = rerate_all(kind=AccountRating.Kind.SCHEDULED, after_id=marker.value, at=now,
                       progress=checkpoint, note="")  # type: ignore[arg-type]
    with transaction.atomic():
        CodeSequence.objects.filter(name=RATING_MARKER).delete()
        CodeSequence.objects.create(name=RATING_DONE, value=1)
    return rated > 0


POOL_DONE = "demo-pool"  # present once the customer pool's notices are given (value: how many)


def settle_pool(*, now: datetime, stdout: _Writer | None = None) -> bool:
    """Give the notices the customer pool's nightly job would have given by ``now``, unless done.

    The demo's history leaves many accounts idle for longer than their grade allows; a company
    that has run guanxi has told their owners on earlier nights. Without this the first real night
    (B7) announces a third of the company at once. Safe to repeat after a stop: an account already
    announced is not announced again. Returns whether it ran.
    """
    from guanxi.core import context
    from guanxi.core.models import CodeSequence
    from guanxi.customers.services.pool import pool_return_idle

    if CodeSequence.objects.filter(name=POOL_DONE).exists():
        return False
    if stdout is not None:
        stdout.write("正在发出公海提醒 / giving the customer pool's notices …\n")
    with context.origin(None, "job"):
        stats = pool_return_idle(now=now)
    CodeSequence.objects.create(name=POOL_DONE, value=stats["noticed"])
    if stdout is not None:
        stdout.write(f"  {stats['noticed']:,} accounts announced, {stats['returned']:,} returned\n")
    return True


JOBS_DONE = "demo-jobs"  # present once the frequent jobs have caught up with the history


def settle_jobs(*, now: datetime, stdout: _Writer | None = None) -> bool:
    """Do what the frequent jobs (every minute to hourly) would have done by ``now``, unless done.

    A company that has run guanxi was told of its overdue follow-ups and instalments as they
    fell due, its sent quotes expired when their validity passed and its cases' SLA timers were
    swept every minute; the drawn history has done none of it. Without this the first real night
    (B7) would do months of that work at once. Each job marks what it did, so a repeat after a
    stop does nothing twice. Returns whether it ran.
    """
    from guanxi.activities.services.desk import followup_notify_overdue
    from guanxi.core import context
    from guanxi.core.models import CodeSequence
    from guanxi.sales.services.payments import receivables_notify
    from guanxi.sales.services.quotes import quotes_expire
    from guanxi.service.services.sla import sweep

    if CodeSequence.objects.filter(name=JOBS_DONE).exists():
        return False
    if stdout is not None:
        stdout.write("正在补上定时任务 / catching the frequent jobs up …\n")
    with context.origin(None, "job"):
        told = followup_notify_overdue(now=now)
        expired = quotes_expire(today=timezone.localtime(now).date())
        receivables = receivables_notify(now=now)
        swept = sweep(now)
    CodeSequence.objects.create(name=JOBS_DONE, value=1)
    if stdout is not None:
        stdout.write(f"  {told:,} overdue follow-ups told, {expired:,} quotes expired, "
                     f"{sum(receivables.values()):,} receivables told, {sum(swept.values()):,} SLA events\n")
    return True


def build_demo(size: str = "S", *, seed: int = DEFAULT_SEED, stdout: _Writer | None = None,
               now: datetime | None = None) -> dict[str, Any]:
    """Build the demo company of ``size`` (S, M or L) unless it is already there.

    Idempotent: a second call returns ``created: False`` and writes nothing. A larger size
    after a smaller one adds the missing departments, users and accounts; an interrupted
    build resumes at its last committed batch. ``now`` pins the end of the history (tests).
    """
    from guanxi.activities.models import FollowUp, Interaction
    from guanxi.core.models import CodeSequence, Department, User
    from guanxi.customers.models import Account, AccountRating, Contact

    started = time.perf_counter()
    size = size.upper()
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; choose one of {', '.join(SIZES)}")
    spec = SIZES[size]
    now = now or timezone.now()
    created = False
    for module in BUILD_MODULES:
        importlib.import_module(module)
    bulk_session()
    if not _already_built(spec):
        created = True
        plan = plan_organisation(size, seed)
        anchor = datetime.combine(_anchor(now) - timedelta(days=HISTORY_DAYS), dtime(9),
                                  tzinfo=timezone.get_default_timezone())
        if stdout is not None:
            stdout.write(f"正在生成演示数据 / building demo data (size {size}, seed {seed}) …\n")
        with transaction.atomic():
            # Growing a company whose closing rating is done: the rating goes on after its last account.
            CodeSequence.objects.filter(name=POOL_DONE).delete()  # the new accounts' notices too
            CodeSequence.objects.filter(name=JOBS_DONE).delete()  # and their history's jobs
            if CodeSequence.objects.filter(name=RATING_DONE).delete()[0]:
                last = Account.all_objects.order_by("-id").values_list("id", flat=True).first() or 0
                CodeSequence.objects.update_or_create(name=RATING_MARKER, defaults={"value": last})
            departments = _ensure_departments(plan, anchor)
            users = _ensure_users(plan, departments, now)
            _ensure_teams(plan, departments, users)
            CodeSequence.objects.get_or_create(name=MARKER)
        # The accounts, their people and (when in step) their contact history, loaded into
        # tables without their secondary indexes when the tables start empty (demo_load).
        with bulk_load(*_account_models(), *_activity_models()):
            _insert_accounts(plan, seed, now, users, stdout)
        # New accounts need their contact history too (the loop finds none left when the
        # batches above wrote it).
        CodeSequence.objects.filter(name=ACTIVITY_DONE).delete()
    accounts_seconds = time.perf_counter() - started
    # Separate from the accounts: a company built before contacts existed gets them now.
    activities_started = time.perf_counter()
    if build_activities(seed=seed, now=now, stdout=stdout):
        created = True
        # Bulk loads leave the planner's statistics stale (PostgreSQL then estimates 73
        # alive accounts out of 100,000 and picks bitmap scans and sorts): refresh them.
        analyze(*_account_models(), *_activity_models())
    activities_seconds = time.perf_counter() - activities_started
    # Then the sales (products, deals, quotes, orders, contracts, receipts): guanxi.sales.demo.
    from guanxi.sales.demo import build_sales

    sales_started = time.perf_counter()
    if build_sales(size=size, seed=seed, now=now, stdout=stdout):
        created = True
    sales_seconds = time.perf_counter() - sales_started
    # Then a year of customer service (guanxi.service.demo) and its satisfaction surveys.
    from guanxi.loyalty.demo import build_loyalty
    from guanxi.service.demo import build_service

    service_started = time.perf_counter()
    if build_service(size=size, seed=seed, now=now, stdout=stdout):
        created = True
    if build_loyalty(size=size, seed=seed, now=now, stdout=stdout):
        created = True
    service_seconds = time.perf_counter() - service_started
    # A build stopped while it built the indexes of a finished load has left some in the ledger.
    restore_indexes()
    # Last, the month's scheduled rating, so the grades shown are the ones the rules give and the
    # first real night (B7) re-rates a company in its normal state, not a freshly drawn one; and
    # the customer pool's notices of the nights before: owners were told which idle accounts go
    # back. Both rewrite most account rows, so they run without the accounts' secondary indexes.
    unsettled = not CodeSequence.objects.filter(name=RATING_DONE).exists() or \
        not CodeSequence.objects.filter(name=POOL_DONE).exists()
    with bulk_load(Account, AccountRating, filled=True) if unsettled else nullcontext():
        rating_started = time.perf_counter()
        if settle_ratings(now=now, stdout=stdout):
            created = True
        rating_seconds = time.perf_counter() - rating_started
        pool_started = time.perf_counter()
        if settle_pool(now=now, stdout=stdout):
            created = True
        pool_seconds = time.perf_counter() - pool_started
    # And the frequent jobs' work of the days before (overdue notices, expired quotes, SLA timers).
    jobs_started = time.perf_counter()
    if settle_jobs(now=now, stdout=stdout):
        created = True
    jobs_seconds = time.perf_counter() - jobs_started
    return {
        "size": size,
        "created": created,
        "departments": Department.objects.count(),
        "users": User.objects.count(),
        "accounts": Account.objects.count(),
        "contacts": Contact.objects.count(),
        "interactions": Interaction.objects.count(),
        "followups": FollowUp.objects.count(),
        "seconds": round(time.perf_counter() - started, 2),
        "accounts_seconds": round(accounts_seconds, 2),
        "activities_seconds": round(activities_seconds, 2),
        "sales_seconds": round(sales_seconds, 2),
        "service_seconds": round(service_seconds, 2),
        "rating_seconds": round(rating_seconds, 2),
        "pool_seconds": round(pool_seconds, 2),
        "jobs_seconds": round(jobs_seconds, 2),
    }
