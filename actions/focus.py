"""The thing a question asks a count, a list or a day of, and whether an answer names it.

"万店直播当天平台会给多少曝光量" asks for an exposure figure; the nearest entry (the live-stream
gift pack) gives quotas and dates but never mentions exposure. Answering it without a word
about that reads as if the figures shown were the ones asked for. So when a question asks
"多少 X", "几个 X", "哪些 X" or "几号", and the chosen answer never names X (or gives no day of a
month), the reply first says the document does not give it, then the nearest facts it does give.
"""
from __future__ import annotations

import re
from typing import Collection, Container, Iterable, List, Optional, Sequence

import jieba
import jieba.posseg as pseg

# A count or a list asked for ("几多个产品?", "考哪些指标?"; not "那几个硬指标"), an optional
# measure word, then what is counted, ending its clause: "多少分会被准出" counts points, not 分会.
# Times and sums ("几月份", "几时", "多少钱补贴") are the time and amount aspects' to check.
_ASKED = re.compile(r"(?<![那这])(?:多少|几多|哪几种|哪几个|哪几|哪些|哪种|哪类|几)"
                    r"(?![多少月年天日时点号周次分钱成])"
                    r"[个家场款件次位条项只张笔样]?"
                    r"([\u4e00-\u9fff]{2,5}?)[吗呢啊呀啦嘛哦喔㗎]*(?=[^\u4e00-\u9fff]|$)")
# Endings that belong to the word before them ("曝光量", "转化率", "粉丝数").
_SUFFIX = "量数率额值"
# Parts of speech (jieba's tags) of a thing: nouns only ("先得", "才行" are not things).
_NOUNS = ("n", "vn", "eng")
# What a benefit may bring, counted ("多多少曝光"), though jieba tags these words as verbs.
_EFFECTS = frozenset({"曝光", "点击", "转化", "成交", "浏览", "访问", "展示", "展现"})
# Words too general to say what is counted (who may apply is the eligibility aspect's).
_GENERAL = frozenset({"时间", "时候", "东西", "问题", "方面", "地方", "内容", "情况", "平台",
                      "商家", "店家", "卖家", "商户", "企业", "公司", "人",
                      # a limit or a standard: not a thing to name ("名额限制": 名额 is)
                      "限制", "要求", "条件", "规定", "门槛", "标准", "期限", "上限", "下限"})
# A day asked for ("几号公布", "哪一天"; not a phone's "电话几号"), and a day of a month given.
_DAY_ASKED = re.compile(r"(?<!话)(?<!线)(?<!码)几号|哪一天|哪天|哪日|几月几日|具体日期")
_DAY_GIVEN = re.compile(r"\d+\s*(日|号)|[一二三四五六七八九十]+(日|号)")
DAY = "具体日期"
# Today's date, which answers about dates mention ("今天是2026年11月27日"): not a day given.
_TODAY = re.compile(r"今天[是为]?\s*\d+年\d+月\d+日")


def asked_things(text: str) -> List[str]:
    """What the question counts or lists ("曝光量", "指标"), each of them, or DAY."""
    things = [DAY] if _DAY_ASKED.search(text) else []
    for match in _ASKED.finditer(text):
        thing = match.group(1)
        if thing in _GENERAL or thing in things:
            continue
        # Nouns only ("先得", "才行" are not things); effects counted read as nouns ("多少曝光").
        if all(p.word in _EFFECTS or p.flag.startswith(_NOUNS) for p in pseg.cut(thing)):
            things.append(thing)
    return things


def asked_thing(text: str) -> Optional[str]:
    """The first thing asked about (asked_things), or None."""
    things = asked_things(text)
    return things[0] if things else None


def named_in(thing: str, body: str, synonyms: Iterable[Sequence[str]] = ()) -> bool:
    """Whether an answer's text names the thing asked: itself, spread over a longer word
    ("软件商" in "软件开发商"), its stem ("粉丝数" → 粉丝), or a synonym."""
    if thing == DAY:
        return bool(_DAY_GIVEN.search(_TODAY.sub("", body)))
    body = body.lower()
    thing = thing.lower()
    stem = thing[:-1] if len(thing) > 2 and thing[-1] in _SUFFIX else thing
    groups = [g for g in synonyms if any(w in stem for w in g)]
    spellings = {stem} | {stem.replace(w, other) for g in groups for w in g if w in stem for other in g}
    if any(re.search(".{0,2}".join(map(re.escape, s)), body) for s in spellings if s):
        return True
    # Its words apart ("贷款优惠" in "优惠利率9折贷款"), general ones aside ("名额限制": 名额).
    words = [w for w in jieba.lcut(stem) if len(w) >= 2 and w not in _GENERAL]
    return all(w in body for w in words)


def unnamed_thing(text: str, body: str, skip: Container[str] = (),
                  synonyms: Iterable[Sequence[str]] = ()) -> Optional[str]:
    """The thing the question asks about that the answer does not name, if any.

    `skip`: words that need no check here: the aspects (名额, 利率, 金额 ...), which have their
    own, and the names of the entry answered ("金牌考核哪些指标": 指标 names the conditions)."""
    return next((thing for thing in asked_things(text)
                 if thing not in skip and not named_in(thing, body, synonyms)), None)


# Whether something exists ("直播课有回放吗", "会唔会有罚则", "考完有冇证书"): the thing asked is the
# run of characters after the question words, up to a particle or a break; after a bare 有 only
# when a question particle follows ("也有企业买家下单," says what the merchant has).
_EXISTS = re.compile(r"(?:有没有|有冇|有无|有否|有木有|会不会有|会唔会有|"
                     r"(?:会不会|会唔会)(?:寄|送|发|给|畀|派)(?:个|些|啲)?)(得)?"
                     r"([\u4e00-\u9fff]{2,12}?)(?=吗|呢|不|没有|冇|啊|呀|[^\u4e00-\u9fff]|$)"
                     r"|有(得)?([\u4e00-\u9fff]{2,12}?)(?=吗|么|冇|没有|没|不[^\u4e00-\u9fff]|不$)")
# "有什么特权", "有啥应急机制": what there is, asked openly, is for the nearest entry to answer.
_OPEN_QUESTION = re.compile(r"^(?:什么|啥|咩|乜|乜嘢|哪|边|何|几|多少|甚么|其他|别的|哪些|些|冇|没)")
# Nouns and distinguishing words ("候补") only (jieba's tags n, nz, vn, b): a verb there is what
# the merchant wants done ("有冇帮手"), which the nearest entry answers or not on its own terms;
# after 有冇得 ("有冇得候补") a verb is what may be had.
_THING_TAGS = ("n", "nz", "vn", "b")
_CHANCE_TAGS = _THING_TAGS + ("v",)
# Below this count in jieba's general dictionary a "word" is debris of colloquial or Cantonese
# text cut apart ("系咪", "店能"), not a thing anyone asked about.
_MIN_WORD_COUNT = 5
# Nouns that say how things relate, not what exists ("有什么关系", "有啥特点").
_RELATIONS = frozenset({"关系", "特点", "细节", "总结", "疑问", "区别", "分别", "联系", "作用", "影响",
                        "意义"})


def unheard_thing(text: str, body: str, vocabulary: str,
                  synonyms: Iterable[Sequence[str]] = ()) -> Optional[str]:
    """A thing the question asks whether it exists or applies that the knowledge base never
    mentions (not in `vocabulary`, its whole text, lower-cased) and the answer does not name:
    "百人讲师团的直播课有回放吗" asks about 回放, which no document speaks of."""
    for match in _EXISTS.finditer(text):
        chance, asked = (match.group(1), match.group(2)) if match.group(2) else match.group(3, 4)
        if _OPEN_QUESTION.match(asked):
            continue
        tags = _CHANCE_TAGS if chance else _THING_TAGS
        for part in pseg.cut(asked):
            word = part.word
            if len(word) < 2 or not part.flag.startswith(tags) or word in _GENERAL \
                    or word in _RELATIONS or jieba.get_FREQ(word, 0) < _MIN_WORD_COUNT:
                continue
            if word not in vocabulary and not named_in(word, body, synonyms):
                return word
    return None


# "能不能享受无忧物流运费折扣", "可以享有X吗": whether a benefit is had.
_ENJOYS = re.compile(r"(?:能不能|可不可以|可唔可以|能唔能|能否|可否|可以|能)(?:享受|享有|享)"
                     r"([\u4e00-\u9fff]{2,12}?)(?=吗|呢|嗎|不|没有|冇|[^\u4e00-\u9fff]|$)")


def unlisted_benefit(text: str, body: str, synonyms: Iterable[Sequence[str]] = ()) -> Optional[str]:
    """A benefit asked about ("金牌有没有专属物流优惠", "能不能享受无忧物流运费折扣") that a
    tier's list of benefits (`body`) does not name: a noun of it that the list never uses.
    Only for an answer that is a closed list (the tiers' benefits)."""
    asked = [m.group(2) or m.group(4) for m in _EXISTS.finditer(text)]
    asked += [m.group(1) for m in _ENJOYS.finditer(text)]
    for phrase in asked:
        if not phrase or _OPEN_QUESTION.match(phrase):
            continue
        for part in pseg.cut(phrase):
            word = part.word
            if len(word) < 2 or not part.flag.startswith(_THING_TAGS) or word in _GENERAL \
                    or word in _RELATIONS or jieba.get_FREQ(word, 0) < _MIN_WORD_COUNT:
                continue
            if not named_in(word, body, synonyms):
                return phrase
    return None


# "渠道商是谁", "专属新品宝具体是个啥功能", "品牌专区係咩": what a term is. The term is the run of
# characters before the question (after a clause break), without words that only lead up to it.
_DEFINITION = re.compile(r"([\u4e00-\u9fffA-Za-z0-9.]{2,16}?)\s*"
                         r"(?:具体|到底|究竟|实际|其实|分别|各自|又|都)?\s*"
                         r"(?:是|係|系)\s*(?:个|個|一个|一個|一种|一種|指|啲)?\s*"
                         r"(?:啥|什么|甚么|甚麼|咩|乜嘢|乜|谁|誰|边个|邊個|哪个|哪個)"
                         r"(?:功能|东西|東西|意思|来的|來的|嚟|玩意|工具|服务|服務|机构|機構|人|公司)?"
                         r"[吗呢啊呀啦嘛哦喔㗎嚟]*(?=[^\u4e00-\u9fff]|$)")
# Words before a term that are not part of it ("你们说的渠道商", "那个专属新品宝").
_LEAD_IN = re.compile(r"^(?:请问|請問|问下|問下|想问|想問|你们|你們|你哋|文件里|文件裡|原文|里面|裡面|"
                      r"入面|上面|说的|說的|讲的|講的|提到的|写的|寫的|所谓的|所謂的|所谓|所謂|这个|這個|"
                      r"那个|那個|呢个|呢個|嗰个|嗰個|个|個|的|嘅|那|这|這)+")
# Terms too general to be defined by a document ("这是什么", "区别是啥", "条件是什么").
_NOT_TERMS = frozenset({"这", "那", "这个", "那个", "区别", "分别", "意思", "原因", "理由", "条件",
                        "要求", "标准", "流程", "步骤", "作用", "好处", "用处", "依据", "规则",
                        "门槛", "结果", "期限", "名额", "时间", "日期", "金额", "费用", "利率",
                        "差别", "关系", "内容", "范围", "情况", "方式", "办法", "优惠", "政策",
                        "活动", "计划", "权益", "福利", "服务", "东西",
                        # what makes a thing worth having: its own facts answer that
                        "卖点", "优势", "亮点", "特点", "特色", "核心", "重点", "用途"})
# An answer defines a term when it says "term:", "term是", "term(", "term即", "term指".
_DEFINES = "[::是即指(（为]"


def undefined_term(text: str, body: str, names: Collection[str]) -> Optional[str]:
    """A term the question asks to be explained that the answer only mentions, if any.

    `names`: the lower-cased names of the entry answered; asking what the entry itself is
    ("网销宝是啥") is answered by the entry."""
    lowered = text.lower()
    found = _DEFINITION.search(lowered)
    if found is None:
        return None
    clause = re.split(r"[,，。;；!！?？\s]", found.group(1))[-1]
    term = _LEAD_IN.sub("", re.split("[的嘅]", clause)[-1])
    term = term.strip()
    if len(term) < 2 or term in _GENERAL or term in _NOT_TERMS or term.isdigit():
        return None
    if any(term in name or name in term for name in names if len(name) >= 2):
        return None
    if re.search(re.escape(term) + _DEFINES, body.lower()):
        return None
    return term


# A figure given against a reference ("比照网商银行基准定价直减20bps", "参照原价打折") ...
_REFERENCE = re.compile(r"(?:比照|参照|参考|对比|相对于|相对)([\u4e00-\u9fff]{2,10}?)"
                        r"(?:的)?(?:基础上)?(?:直减|下调|降低|减少|减|上浮|打折|优惠|降)")
# ... whose own value is asked ("基准定价而家系几多%").
_VALUE_ASKED = re.compile(r"多少|几多|几个点|几%|是几|幾多")


# The difference itself asked ("比基准定价低多少", "优惠多少个点"): what the answer gives.
_DIFFERENCE_ASKED = re.compile(r"比|低|减|降|优惠|便宜|下调|少了|差")


def reference_unvalued(text: str, body: str) -> Optional[str]:
    """The reference a figure is given against, when the question asks its own value and the
    answer gives none ("基准定价是多少" of "比照基准定价直减20bps"): the document gives the
    difference, not the reference."""
    if not _VALUE_ASKED.search(text) or _DIFFERENCE_ASKED.search(text):
        return None
    lowered = body.lower()
    for match in _REFERENCE.finditer(lowered):
        term = match.group(1)
        # The question may name the reference shorter than the answer does (基准定价).
        for size in range(len(term), 2, -1):
            tail = term[-size:]
            if tail in text and tail not in _GENERAL \
                    and not re.search(re.escape(tail) + r"[::是为]\s*\d", lowered):
                return tail
    return None


# A price asked ("诚信通一年多少钱", "年费几钱") ...
_PRICE_ASKED = re.compile(r"年费|会费|一年(?:要)?(?:多少|几多|几)钱|(?:多少|几多|几)钱一年|"
                          r"价格|价钱|售价|收费标准|卖(?:多少|几多|几)钱")
# ... of which the answer gives only a subsidy or a discount on it, no price.
_SUBSIDY_GIVEN = re.compile(r"补贴|红包|赠送|送\d|奖励|优惠|减免|补助|\d折")
_PRICE_GIVEN = re.compile(r"价格|年费|售价|原价|收费|费用为|每年\d")
# A saving asked ("能便宜多少", "补贴多少"): the subsidy answers it.
_SAVING_ASKED = re.compile(r"(?:便宜|优惠|补贴|减|省|折扣?)(?:了)?(?:多少|几多|几钱|几块)|打几折")


def price_unanswered(text: str, body: str) -> bool:
    """Whether the question asks a price and the answer gives only a subsidy or discount
    ("诚信通一年多少钱" of "赠送100元续费补贴")."""
    return bool(_PRICE_ASKED.search(text) and not _SAVING_ASKED.search(text)
                and _SUBSIDY_GIVEN.search(body) and not _PRICE_GIVEN.search(body))


# How many of a thing, by its measure word ("美化照片最多几多张", "直播几场") ...
_UNIT_ASKED = re.compile(r"(?:多少|几多|几)(张|件|款|场|次|篇|单|位|间|套|节|堂|期)")


def unit_unanswered(text: str, body: str) -> Optional[str]:
    """The measure word of a count asked that no figure of the answer uses: the count is not
    given ("最多几多张" of a service that helps beautify photos)."""
    for match in _UNIT_ASKED.finditer(text):
        unit = match.group(1)
        if not re.search(r"[\d一二三四五六七八九十两百千万余多]\s*" + unit, body):
            return unit
    return None


# Whether something may be done with what is given ("补贴能提现吗", "可唔可以转让"): the
# ways a benefit, subsidy or quota may be used, which no document speaks of ...
_MAY_DO = re.compile(r"(?:能不能|可不可以|可唔可以|能唔能|能否|可否|可以|能)"
                     r"(提现|取现|转让|转赠|转给|送人|兑换|换成|折现|退回|退款|继承|过户|延期|顺延|累积|累计|结转|"
                     r"补报|补发|补领|补交|报销|抵扣|抵用|预留)")


def unheard_use(text: str, body: str, vocabulary: str,
                synonyms: Iterable[Sequence[str]] = ()) -> Optional[str]:
    """A thing the question asks may be done ("能提现吗") that no document ever speaks of
    and the answer does not name."""
    for match in _MAY_DO.finditer(text):
        word = match.group(1)
        if word not in vocabulary and not named_in(word, body, synonyms):
            return word
    return None


# A share asked for ("每家能分到多少", "我一家店能领几多"): what one merchant gets ...
_SHARE_ASKED = re.compile(r"(?:每|单|我一|一)(?:一)?(?:家|间|户|位商家|个商家|个店|个卖家|家店|间店|间铺)"
                          r"[^,，。;；!！?？]{0,8}?(?:多少|几多|几个|几钱)|"
                          # "我可以领几多", "我们能分到多少": what the merchant asking gets
                          r"我(?:们|哋)?[^,，。;；!！?？]{0,4}?(?:领|拿|分|得|攞)(?:到|得到)?(?:多少|几多)")
# ... where the answer gives a total ("总价值约2000万", "近亿元") and no share of it.
_TOTAL_GIVEN = re.compile(r"总价值|总额|总计|合计|总共|共计|近亿|近\d|约\d")
_SHARE_GIVEN = re.compile(r"每(?:家|个|间|位|户|店|月|个月)|单个商家|单店|最高额度|上限")


def share_unanswered(text: str, body: str) -> bool:
    """Whether the question asks what one merchant gets and the answer gives only a total."""
    return bool(_SHARE_ASKED.search(text) and _TOTAL_GIVEN.search(body) and not _SHARE_GIVEN.search(body))


# Names asked for ("有名单吗", "是哪几家", "都叫什么", "分别是谁") ...
_NAMES_ASKED = re.compile(r"名单|名字|名称|叫什么|叫咩|叫啥|叫乜|什么名|咩名|是谁|有谁|"
                          r"边几间|边几家|哪几家|哪几间|哪几款|具体是哪些|"
                          r"(?:哪|边)(?:\d+|[一二三四五六七八九十两]+)(?:家|间|个|款|位)|"
                          r"哪些(?:软件|公司|服务商|厂商|机构|工具|企业|品牌|合作)|边啲(?:软件|公司|服务商|工具)")
# ... where the answer counts them ("10家认证的服务商", "二十余款工具") and lists none.
_COUNTED = re.compile(r"(?:\d+|[一二三四五六七八九十两]+)余?(?:家|款|间)")
_LISTED = re.compile(r"[①②③④⑤]")


def names_unlisted(text: str, body: str) -> bool:
    """Whether the question asks for the names of things the answer only counts."""
    return bool(_NAMES_ASKED.search(text) and _COUNTED.search(body) and not _LISTED.search(body))
