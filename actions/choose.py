"""One decision per question: which knowledge entry answers it, from entities and retrieval.

The entities say exactly which entry a message names, when it names one; the retrieval
ranking (core/knowledge/retrieval.py) finds entries for wordings no alias covers. This
module combines them, so that a question is never answered from the wrong programme in
silence and never gets a figure the documents do not give:

- a message that names a specific entry is answered from it; if the term it uses exists on
  both platforms (客服, 流量扶持, 贷款, ...) and the message does not say which platform it
  means, or it asks about both ("两边", "1688和速卖通各是怎样"), the other platform's best
  match is answered too, under its own label;
- a message that names nothing specific (a tier, an aspect word, or nothing at all) is
  answered from the best-ranked entry when the ranking is clear, and from the two best when
  they are ranked almost alike; but gold compared with silver stays the comparison, and a
  programme named with an aspect its own facets answer ("五大保障总价值") keeps its figure;
- an aspect the chosen entry does not cover (a fee, a formula, an amount it never states)
  is said to be missing from the document, before the nearest facts it does give.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import jieba

from actions.answers import Answer
from actions.focus import (
    names_unlisted,
    price_unanswered,
    reference_unvalued,
    share_unanswered,
    undefined_term,
    unheard_thing,
    unheard_use,
    unit_unanswered,
    unlisted_benefit,
    unnamed_thing,
)
from actions.questions import SPECIFIC_KINDS, Question, facet_keys
from actions.status import format_date
from core.knowledge.model import ALL_TIERS, COMPARISON_TOPIC, Entry, KnowledgeBase
from core.knowledge.retrieval import Hit, Retriever

# A ranking this strong (BM25 over words and bigrams) is a match, not a shared stop word.
MIN_SCORE = 4.0
# A message the classifier reads as out of scope is answered only above this score: on the first
# blind set, no out-of-scope question without another platform's name ranked above 6.2 and
# three answerable questions in four ranked above 7.6.
OUT_OF_SCOPE_MIN_SCORE = 8.0
# One of our platforms named (or a tier), a message the classifier reads as out of scope is
# answered from an entry that scores this much and is clearly ahead of the next (CLEAR_LEAD).
HINTED_MIN_SCORE = 6.0
# A message the classifier is unsure about is answered from an entry this far ahead of the next
# one, scoring at least CLEAR_MIN_SCORE; anything less clear gets suggestions.
CLEAR_LEAD = 1.3
CLEAR_MIN_SCORE = 5.0
# Another platform's best match this close to the chosen one's means the term is shared.
RIVAL_RATIO = 0.7
# The second-best entry this close to the best one (by the ranking alone) is answered too.
CLOSE_RATIO = 0.85
# A tier or programme named beside a question: the best entry for the rest of the message must
# lead the next one by this factor to replace the tier's or programme's overview.
RESIDUAL_LEAD = 1.15
# With a term both documents use, a weaker match on the other platform still counts.
SHARED_MIN_SCORE = 1.0
SHARED_RIVAL_RATIO = 0.4
# Another platform named, the rest of the message must rank one entry this many times ahead
# of the next for the documents' own words about that platform to answer it.
OTHER_PLATFORM_LEAD = 1.5
# Entity kinds that name one programme's entry outright.
SPECIFIC = ("measure", "resource", "version", "feature", "section", "guarantee", "metric",
            "violation", "topic", "benefit")
# Aspects no facet may answer unless an entry has it: asked, the reply says it is not given.
NEVER_IMPLIED = ("calculation", "contact", "stacking", "documents", "position", "repayment", "place")
# A message this long (Han characters) may tell about the merchant before it asks; what it
# asks must then name something only our programmes have (not a word like 要求 or 条件).
BACKGROUND_MIN_CHARS = 40
OWN_NAMES = ("measure", "resource", "version", "feature", "section", "guarantee", "tier",
             "metric", "violation", "benefit")
_HAN = re.compile(r"[\u4e00-\u9fff]")
# Words of any question, which say nothing of which facet is meant.
_EVERYDAY = frozenset({"什么", "到底", "一直", "怎么", "多少", "可以", "哪些", "就是", "这个", "那个",
                       "我们", "你们", "他们", "一下", "是不是", "有没有", "现在", "还是", "老师"})
# "除了X(以外),还有…": X is what the merchant already knows.
_BESIDES = re.compile("(?:除了|除咗|除开|除開|除去)([^,\uff0c\u3002!\uff01?\uff1f;\uff1b]{1,24}?)"
                      "(?:以外|之外|外|,|\uff0c|还|還|仲|另外)")
# What the merchant says they are ("我是…", "我们是做…的"), to the end of its clause.
_SELF = re.compile(r"^\W*(?:我|我们|我們|我哋|本人|我家|我司|我们家|我們家)"
                   r"(?:是|系|係|属于|屬於|做|开|開|有)")
_SELF_END = re.compile(r"[\s,\uff0c\u3002!\uff01?\uff1f;\uff1b]")
_CLAUSE_END = re.compile(r"[,\uff0c\u3002\u3001!\uff01?\uff1f;\uff1b\n]")
# A facet that only points elsewhere ("优惠获取方式详见产品页面") does not give what was asked.
_DEFERS = re.compile(r"详见|具体见|请见|具体以[^。;]{0,16}为准")
# Aspects a plain answer covers when it contains a figure or a date.
_SUM = r"[\d一二三四五六七八九十两百千万.]+(万|亿)?元|\d+(万|亿)"
_MONEY = _SUM + r"|免费"
_FIGURES = {"amount": re.compile(r"(?<![第\d一二三四五六七八九十两百千万])"  # "第15条" counts nothing
                                 r"[\d一二三四五六七八九十两百千万]+(万|亿|元|个|家|次|分|款|条|项|名|人|bps)"),
            # An amount of money ("多少钱", "几钱") is covered only by a sum of money.
            "money": re.compile(_MONEY),
            # What something is worth ("值多少钱", "折合多少") is a sum; "免费" is not a worth.
            "worth": re.compile(_SUM),
            # A percentage is an amount of a threshold (好评率≥92%), not of a benefit (9折, 90%).
            "threshold": re.compile(r"\d+(\.\d+)?%"),
            "rate": re.compile(r"\d+(\.\d+)?(%|折|bps)"),
            "time": re.compile(r"\d+(年|月|日|天|周|点)|[一二三四五六七八九十两]+(个月|天|周|年)"),
            # How long ("多少天", "几多日"): "近90天", "两个月"; a date ("1月19日") is none.
            "duration": re.compile(r"(?<!\d)(\d{1,3}|[一二三四五六七八九十两]+)\s*"
                                   r"(天|个月|周|星期|年(?!\d))"),
            "deadline": re.compile(r"\d+(年|月|日)"),
            # A day asked ("由哪一天开始算"): a date, not a length ("为期两个月").
            "date": re.compile(r"\d+月\d+(日|号)|\d+月(上|中|下)旬|\d{4}年\d+月|"
                               r"(?<![\d.])\d{1,2}[-/]\d{1,2}(?![\d.%])"),
            "cost": re.compile(_MONEY + r"|收费|赠送|送"),
            # A fee charged ("收费20元", "手续费0.1元"), not any sum nearby ("最高额度100万").
            "fee": re.compile(r"(收|费)[^,;。,;]{0,8}?(" + _SUM + ")"),
            # How to apply: a way or a place, not the word 申请 ("申请成功后…").
            "apply": re.compile(r"入口|操作|提交|登录|无需|详见|开通|审批|在线|渠道|页面")}
# A fee asked beyond what is free ("平时收费多少", "两个月以后呢"): only a sum answers it.
_BEYOND_FREE = re.compile(r"平时|平常|正常|之后|以后|过后|到期后|用完|本身|原价|不免费")
# Words that make an amount asked for an amount of money, or for what something is worth.
# How much may be borrowed ("网商贷最高能贷多少", "额度会提高吗") is a sum too: a rate cut is none.
_MONEY_ASKED = re.compile(r"钱|块|费|价格|价钱|额度|(?:贷|借)(?:款)?得?(?:多少|几多)")
# A length of time asked as an amount ("多少天", "几个月").
_DURATION_ASKED = re.compile(r"(?:多少|几多|几)(?:个)?(?:天|日|月|年|周|星期|礼拜)")
# A day asked, not a length of time: "由边一日开始计", "几号截止", "从什么时候起".
_DATE_ASKED = re.compile(r"(?:哪|边)一?(?:天|日|号)|几号|几月几|"
                         r"(?:从|由)(?:什么|啥|哪|边|几)(?:时候|时|天|日|号)|(?:什么|啥)日子|日期")
# A day of a year, as merchants write it ("2月20号", "2020年3月1日").
_DAY = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})(?:日|号)?")
# What happens once an entry's period is over ("3月1号结束后我勋章会不会掉回去").
_AFTER_END = re.compile(r"(?:结束|到期|截止|过期|期满|完结|完咗)(?:了|咗)?(?:之后|以后|后|过后)|"
                        r"(?:规则|活动|政策|期限|时间|日期)(?:过咗|过了)(?:之后|以后|后)")
# A day named before "之后" ("3月1号之后"): what follows it, when it is the period's last day.
_AFTER_DAY = re.compile(r"(\d{1,2})月(\d{1,2})[日号]?(?:之后|以后|过后)")
# An answer that says what follows the period ("到期按1688平台标准考核").
_AFTER_SAID = re.compile(r"到期|结束后|之后|以后|届时|恢复|延续|过后")
# What it costs to buy ("自己花钱买要多少钱") is a price: "免费" said of a part of it is none.
_WORTH_ASKED = re.compile(r"值多少|值几|价值|折合|值不值|花钱买|花錢買|自己买|单独买|另外买|买的话")

# A tier as what the store may become, keep or lose ("能上金牌不", "会影响评金银牌吗",
# "还能当金牌吗"): who gets a tier is what its entry conditions say, not what it brings.
_BECOMING = re.compile(r"(评|当|升|拿|上|保|掉|降|晋|成为|影响)(得|不|唔)?(上|到|成)?(金银牌|金牌|银牌)|"
                       r"(金银牌|金牌|银牌)(还|仲)?(有戏|有机会|有希望|有冇机会|有没有机会|有冇得|有没有得|冇戏|没戏)|"
                       # "金牌资格会唔会因为违法就冇咗": a tier lost
                       r"(金银牌|金牌|银牌)(资格|身份)?[^,,。??!!]{0,12}(冇咗|没了|没有了|取消|丢了|被拿走|被收回)")
# A tier's criteria asked as what the platform looks at ("金牌除咗数据指标仲睇咩"): its entry
# conditions too.
_CRITERIA = re.compile(r"(金银牌|金牌|银牌)[^,,。??!!]{0,12}(看什么|看啥|看哪些|看些什么|睇咩|睇乜|睇啲咩|"
                       r"睇边啲|考什么|考啥|考哪些|考核什么|考核啥|还要什么|还要啥|仲要咩|仲要乜)")
# Metrics the merchant meets, and whether that is enough ("好评率上网率都达标了还是没金牌",
# "这样金牌稳了吗", "都要达标还是满足一个就行"): the conditions as a whole, not the thresholds
# of the metrics named.
_WHOLE = re.compile(r"都要|都需要|都得|全部|满足一个|满足其中|一个就行|一项就|一个就够|其中一|其中一个|"
                    r"稳了|稳吗|稳不稳|稳唔稳|稳阵|还是没|还是冇|仲系冇|仲係冇|为啥没|为什么没|为什么还没|"
                    r"点解冇|點解冇|怎么还没|咋还没|就一定|就能|就可以|"
                    # "还差什么", "仲要满足咩先上到金牌", "其他条件呢": what else it takes, beside
                    # the figures given
                    r"(还|仲|另外|其他|其它|别的|其余|剩下)(要|需要|需|差|缺|得)?(再)?(满足|达到|做到|符合)?"
                    r"(什么|啥|咩|乜|哪些|边啲|的条件|嘅条件|条件)|"
                    # "…钉钉天天用 够金牌了吧": enough for the tier
                    r"够(得上|格|资格)?(做|评|拿|上)?(金银牌|金牌|银牌)")
# ... unless what it brings is asked ("评上金牌有什么好处").
_BENEFIT_ASKED = re.compile(r"权益|好处|福利|待遇|享受|特权|有什么用|有啥用|有咩用|送什么|送啥|给什么|给啥|"
                            r"多咗|多了|多出|多啲|多些")

# A programme referred to without its name ("呢个计划", "这个活动"), in a message that names no
# entry: any of our programmes may be meant.
_THIS_PROGRAMME = re.compile(r"(这|呢|该|那|此)(个|项)?(计划|活动|政策|项目|扶持|体系)")

# Which or what things are asked for ("哪些", "什么", "边啲").
_WHICH = re.compile(r"哪|什么|啥|咩|乜|边啲|边几")
# Several things asked for at once ("有哪些", "边啲", "讲几个"), not one.
_SEVERAL_ASKED = re.compile(r"哪些|哪几|边啲|边几|有什么|有啥|有咩|有乜|几个|几项|几条|列出|都有")

Compose = Callable[[Question], Tuple[Optional[object], Optional[str]]]


@dataclass
class Choice:
    """What was decided for one message."""

    answer: Optional[object]  # Answer, a plain text, or None when nothing fits
    topic: Optional[str]
    question: Question
    how: str  # "entities", "retrieval", "none"
    hits: List[Hit] = field(default_factory=list)


def aspects_in(kb: KnowledgeBase, text: str) -> List[str]:
    """Aspects whose words appear in the text (the NLU tags most; this sees every one), or
    that one of the glossary's patterns finds ("咋开通", "给哪种商家的")."""
    lowered = (text or "").lower()
    found = [aspect for aspect, words in kb.aspects.items()
             if any(w.lower() in lowered for w in words)]
    return found + [aspect for aspect, patterns in kb.aspect_patterns.items()
                    if aspect not in found and any(p.search(lowered) for p in patterns)]


def platforms_hinted(kb: KnowledgeBase, text: str, question: Question) -> List[str]:
    """Platforms the message points to by its words or by the kinds of entry it names."""
    lowered = (text or "").lower()
    hinted = [p.id for p in kb.platforms if any(h in lowered for h in p.hints)]
    # A tier is AliExpress's alone; other names may be shared words ("客服" names measure 17).
    if question.of("tier") and "aliexpress" not in hinted:
        hinted.append("aliexpress")
    if question.measure_numbers and "1688" not in hinted:
        hinted.append("1688")
    for programme in question.of("programme"):
        site = kb.platform_of(programme)
        if site and site.id not in hinted:
            hinted.append(site.id)
    return hinted


def clear_lead(hits: Sequence[Hit], floor: float = 0.0) -> bool:
    """The best entry scores at least `floor` and CLEAR_LEAD times the next one. A programme's
    overview does not count: it matches any message naming the programme's platform."""
    ranked = [h for h in hits if not (h.kind == "programme" and h.facet is None)]
    if not ranked or ranked[0].score < max(floor, MIN_SCORE):
        return False
    return len(ranked) == 1 or ranked[0].score >= CLEAR_LEAD * ranked[1].score


def _own_names(kb: KnowledgeBase, hit: Hit) -> List[str]:
    """The words of the message (as the ranking read it, slips corrected) that name the hit's
    entry."""
    names = kb.names.get(hit.kind, {})
    return [word for word in hit.words if names.get(word) == hit.id]


def names_its_entry(kb: KnowledgeBase, hits: Sequence[Hit]) -> bool:
    """Whether the message holds a name of the best entry's own (a programme's overview aside,
    as in clear_lead)."""
    best = next((h for h in hits if not (h.kind == "programme" and h.facet is None)), None)
    return best is not None and bool(_own_names(kb, best))


def asks_both(kb: KnowledgeBase, text: str) -> bool:
    """The message asks about both platforms at once ("两边", "哪个计划")."""
    lowered = (text or "").lower()
    return any(w in lowered for w in kb.both_words)


def _label(kb: KnowledgeBase, platform_id: str) -> str:
    """The heading a platform's part of a two-platform answer goes under."""
    site = next((p for p in kb.platforms if p.id == platform_id), None)
    return kb.replies["platform_label"].format(platform=site.name) if site else ""


def site_of(kb: KnowledgeBase, programme: str) -> str:
    """The id of the platform a programme belongs to."""
    site = kb.platform_of(programme)
    return site.id if site else programme



def _with_categories(kb: KnowledgeBase, question: Question, text: str) -> Question:
    """"流量扶持有哪些" names a category of benefits: every benefit of it, not the one it aliases."""
    lowered = (text or "").lower()
    named = list(question.of("benefit"))
    for benefit in kb.benefits:
        if benefit.id in named:
            continue
        if any(b.category == benefit.category and b.id in named for b in kb.benefits) \
                and benefit.category.lower() in lowered:
            named.append(benefit.id)
    if named == question.of("benefit"):
        return question
    ids = dict(question.ids)
    ids["benefit"] = [b.id for b in kb.benefits if b.id in named]
    return Question(ids=ids, measure_numbers=list(question.measure_numbers))


def _without(text: str, words: Sequence[str]) -> str:
    """The lower-cased text with the words removed, longest first."""
    lowered = (text or "").lower()
    for word in sorted(words, key=len, reverse=True):
        lowered = lowered.replace(word, " ")
    return lowered


def _without_names(kb: KnowledgeBase, text: str, question: Question) -> str:
    """The text without the names of the tiers and programmes it names."""
    named = {(kind, i) for kind in ("tier", "programme") for i in question.of(kind)}
    return _without(text, [alias for kind, aliases in kb.names.items() for alias, i in aliases.items()
                           if (kind, i) in named])


def _programme_facet_asked(kb: KnowledgeBase, question: Question) -> bool:
    """A programme named with an aspect its own facets answer (and no entry of it named)."""
    return any(a in kb.programmes[p].facets for p in question.of("programme") if p in kb.programmes
               for a in question.aspects)


def _both_tiers(question: Question) -> bool:
    tiers = question.of("tier")
    return len(tiers) > 1 or ALL_TIERS in tiers


def _without_hints(kb: KnowledgeBase, text: str) -> str:
    """The text without the words that point to a platform or to both."""
    return _without(text, [h for p in kb.platforms for h in p.hints] + list(kb.both_words))


def question_for(hit: Hit, base: Question) -> Question:
    """The question as if the merchant had named the hit's entry, keeping tiers and aspects."""
    ids = {hit.kind: [hit.id]}
    for kind in ("tier", "aspect"):
        if base.of(kind):
            ids[kind] = list(base.of(kind))
    if hit.facet and hit.facet not in ids.get("aspect", []):
        # The passage that matched was this facet: answer it.
        ids["aspect"] = [*ids.get("aspect", []), hit.facet]
    return Question(ids=ids)


def _within_named_programmes(kb: KnowledgeBase, question: Question) -> Question:
    """A programme named, names that belong to another programme's entries are dropped: in
    "新商家扶持计划的商家服务保障送什么" 商家服务保障 is the new-merchant plan's service pack,
    not the 春雷 guarantee of that name; the ranking then looks within the programme named.
    With both programmes named, or names of the programme named, nothing changes."""
    named = set(question.of("programme"))
    if not named:
        return question
    ids = {kind: [i for i in found if kind not in SPECIFIC or kb.programme_of(i) in (None, *named)]
           for kind, found in question.ids.items()}
    if ids == question.ids:
        return question
    return Question(ids=ids, measure_numbers=list(question.measure_numbers))


# Two things asked together ("关键词跟类目", "各能订多少").
_JOINED = re.compile(r"[跟和与同及、]|以及|还有|各|分别")


def _common_suffix(one: str, other: str) -> int:
    size = 0
    while size < min(len(one), len(other)) and one[-1 - size] == other[-1 - size]:
        size += 1
    return size


def _with_sibling_rows(kb: KnowledgeBase, question: Question, text: str) -> Question:
    """Rows of a table asked beside the one named, by the word that sets them apart ("关键词跟
    类目各订几个": 类目订阅 shares 订阅 with 关键词订阅, and 类目 is in the message)."""
    named = question.of("feature")
    if not named:
        return question
    lowered = text.lower()
    if not _JOINED.search(lowered):
        return question  # "关键词订阅能按类目筛选吗": a row's word, not a second row asked
    added = []
    for table in kb.tables.values():
        names = {row.id: row.name.lower() for row in table.rows}
        for row in table.rows:
            if row.id in named or row.id in added:
                continue
            for other in named:
                size = _common_suffix(row.name.lower(), names.get(other, ""))
                head = row.name.lower()[:-size] if size >= 2 else ""
                if len(head) >= 2 and head in lowered:
                    added.append(row.id)
                    break
    if not added:
        return question
    ids = dict(question.ids)
    ids["feature"] = [*named, *added]
    return Question(ids=ids, measure_numbers=list(question.measure_numbers))


def _with_aspects(question: Question, aspects: Sequence[str]) -> Question:
    named = list(question.of("aspect"))
    named += [a for a in aspects if a not in named]
    ids = dict(question.ids)
    if named:
        ids["aspect"] = named
    return Question(ids=ids, measure_numbers=list(question.measure_numbers))


# Metrics named that make a store's whole case ("好评率…上网率…纠纷率… 能上金牌不"): asked
# whether it becomes a tier, the conditions as a whole answer, not each metric's own.
WHOLE_CASE_METRICS = 3


def _asks_whole(question: Question, lowered: str) -> bool:
    """Metrics named with a tier, and whether they are enough ("好评率93% 够银牌吗"), or most
    of a store's figures given and whether it becomes the tier."""
    return bool(question.of("tier") and question.of("metric") and not question.of("benefit")
                and (_WHOLE.search(lowered) or (len(set(question.of("metric"))) >= WHOLE_CASE_METRICS
                                                 and _BECOMING.search(lowered))))


def _with_becoming(question: Question, text: str, whole: bool) -> Question:
    """A tier the store may become, keep or lose, and nothing else asked about it: who gets
    the tier (the eligibility aspect, answered by the entry conditions). Metrics named with
    a tier and a question of whether they are enough (`whole`, as _asks_whole tells): the
    conditions as a whole."""
    lowered = (text or "").lower()
    if whole:
        ids = {k: list(v) for k, v in question.ids.items() if k != "metric"}
        return _with_aspects(Question(ids=ids, measure_numbers=list(question.measure_numbers)),
                             ["eligibility"])
    if (not question.of("tier") or question.of("benefit") or question.aspects
            or not (_BECOMING.search(lowered) or _CRITERIA.search(lowered))
            or _BENEFIT_ASKED.search(lowered)):
        return question
    return _with_aspects(question, ["eligibility"])


def decide(kb: KnowledgeBase, retriever: Retriever, question: Question, text: str,
           compose: Compose) -> Choice:
    """Choose the entry (or entries) that answer the message, and compose the answer."""
    question = _with_sibling_rows(kb, _within_named_programmes(
        kb, _with_categories(kb, _with_aspects(question, aspects_in(kb, text)), text)), text)
    whole = _asks_whole(question, text.lower())
    question = _with_becoming(question, text, whole)
    hits = retriever.rank(text, limit=8)
    hinted = platforms_hinted(kb, text, question)
    if hinted:
        allowed = [h for h in hits if site_of(kb, h.programme) in hinted]
    else:
        allowed = hits
    specific = bool(question.measure_numbers) or any(question.of(k) for k in SPECIFIC)
    answer, topic = (compose(question) if (specific or question.of("tier") or question.of("programme"))
                     else (None, None))
    how = "entities"
    if not specific and (question.of("tier") or question.of("programme")):
        # "金牌全平台有多少个名额": what matters is what is asked beside the tier's name; the
        # best entry for the rest must also lead the next one clearly.
        residual = _without_names(kb, text, question)
        allowed = [h for h in retriever.rank(residual, limit=8)
                   if not hinted or site_of(kb, h.programme) in hinted]
        # "新商家的流量红包": a programme named, its own entries answer before the other's.
        own = [h for h in allowed if h.programme in question.of("programme")]
        if own and own[0].score >= MIN_SCORE:
            allowed = own
        if len(allowed) > 1 and allowed[0].score < RESIDUAL_LEAD * allowed[1].score \
                and not _two_close_entries(question, allowed):
            allowed = []
        lowered = text.lower()
        if question.compare and _both_tiers(question) or (
                len(question.of("tier")) > 1 and _BENEFIT_ASKED.search(lowered) and _WHICH.search(lowered)):
            # "金牌跟银牌差在哪"; "银牌想冲金牌 权益多出哪些" (each tier named, which benefits
            # asked): the tiers compared are the question. ("金牌掉到银牌 权益马上取消吗" asks
            # when, not which.)
            allowed = []
        if _programme_facet_asked(kb, question):
            allowed = []  # "五大保障总价值多少": the programme's own figure, not a measure's
        if question.of("tier") and not question.of("benefit") and _BENEFIT_ASKED.search(lowered) \
                and allowed and allowed[0].kind == "metric":
            # "我们店类目排前20了 冲金牌有啥好处": the figures the store gives of itself rank a
            # metric; what the tier brings is asked.
            allowed = []
        if topic == COMPARISON_TOPIC and not question.compare and not question.aspects \
                and not _BENEFIT_ASKED.search(lowered) \
                and not (allowed and allowed[0].score >= MIN_SCORE):
            # "金银牌最后是谁决定的": both tiers named and something asked of them that is no
            # comparison; what is left beside the names ranks nothing, the whole message does.
            whole_ranked = [h for h in hits if site_of(kb, h.programme) == site_of(kb, kb.tier_programme)
                            and not (h.kind == "programme" and h.facet is None)]
            if clear_lead(whole_ranked, CLEAR_MIN_SCORE):
                allowed = whole_ranked
    top = (allowed[0] if allowed and allowed[0].score >= MIN_SCORE and not retriever.weak(allowed[0])
           else None)
    if top is not None and top.kind == "programme" and top.facet is None and question.of("programme"):
        top = None  # a programme's overview is what naming it already gives
    # "呢个计划主要帮边类商家": a programme referred to without its name, and what is asked (who,
    # when, how much) of it; a programme the ranking finds by the word 计划 is a guess.
    unnamed = not hinted and bool(question.of("aspect")) and bool(_THIS_PROGRAMME.search(text.lower()))
    if unnamed and top is not None and top.kind == "programme":
        top = None
    # "速卖通的客服": the name is 1688's, the platform word says AliExpress.
    programme = kb.programme_of(topic) if topic else None
    other_platform = bool(answer is not None and hinted and programme
                          and site_of(kb, programme) not in hinted)
    tier_overview = top is not None and top.kind == "benefit" and topic in {t.id for t in kb.tiers}
    member = top is not None and _member_of_named_group(kb, question, top)
    # "厂货同 入驻条件": a name misspelt is still a name, more telling than a topic's general
    # word; not more than an entry named outright ("SuperDeals", "好评率").
    misspelt = (top is not None and top.id not in question.ids.get(top.kind, [])
                and not any(question.of(k) for k in SPECIFIC if k != "topic")
                and any(name not in text.lower() for name in _own_names(kb, top)))
    # "好评率93% 上网率88% 够格评银牌吗": the conditions as a whole, not the one condition the
    # rest of the message ranks first.
    if ((not specific or other_platform or member or misspelt) and top is not None and not tier_overview
            and not whole):
        # Nothing specific named (or the other platform's name): the ranking knows better.
        candidate, candidate_topic = compose(question_for(top, question))
        if candidate is not None:
            answer, topic, how = candidate, candidate_topic, "retrieval"
            if isinstance(answer, Answer):
                _add_close_second(kb, answer, top, allowed, question, compose)
    first = hits[0] if hits else None
    if (how == "entities" and first is not None and first.facet and first.id == topic
            and not question.aspects and isinstance(answer, Answer) and clear_lead(hits, CLEAR_MIN_SCORE)
            and _facet_adds_words(kb, first, answer, text)):
        # "电商三板斧是哪三板斧": the entry named, and the message's own words found only in one
        # facet of it: that facet answers.
        candidate, candidate_topic = compose(question_for(first, question))
        if isinstance(candidate, Answer):
            answer, topic = candidate, candidate_topic
    if top is not None and not specific:
        # "湖北商家有哪些专属优惠": several of one programme's entries answer the aspect asked,
        # and the programme's own facet for it lists them all.
        listed = _listing_facet(kb, question, allowed, text)
        if listed is not None:
            candidate, candidate_topic = compose(listed)
            if isinstance(candidate, Answer):
                answer, topic, how, question = candidate, candidate_topic, "retrieval", listed
    # "1688和速卖通的客服各是怎样" / "两边各给什么": both platforms asked for at once.
    both = len(hinted) > 1 or asks_both(kb, text)
    if answer is None and (both or unnamed):
        every = _every_programme(kb, question, compose)
        return Choice(every, None, question, "retrieval" if every else "none", hits)
    if answer is None:
        return Choice(None, None, question, "none", hits)
    if isinstance(answer, Answer):
        _mark_not_given(kb, answer, question, topic, text)
        if topic is not None and (both or not hinted):
            # With both asked, the platforms' names say nothing about which entry of each is meant.
            ranked = retriever.rank(_without_hints(kb, text), limit=8) if both else hits
            _add_rival(kb, answer, topic, ranked, question, compose, text, both)
    return Choice(answer, topic, question, how, hits)


def _platform_words(kb: KnowledgeBase, text: str) -> List[str]:
    """The other platforms' names the text contains."""
    lowered = (text or "").lower()
    return [w for w in kb.names.get("platform", {}) if w in lowered]


def entry_about_other_platform(kb: KnowledgeBase, retriever: Retriever, text: str) -> Optional[Hit]:
    """Another platform named, the entry of the documents that speaks of it and that the rest of
    the message clearly asks about: "淘宝天猫有多少商家,贸易商占几成" is the 淘工厂 section's
    own figure, while "淘宝保证金多少" matches nothing in particular and stays declined."""
    words = _platform_words(kb, text)
    if not words:
        return None
    ranked = retriever.rank(_without(text, words), limit=2)
    if not ranked or ranked[0].score < MIN_SCORE or (
            len(ranked) > 1 and ranked[0].score < OTHER_PLATFORM_LEAD * ranked[1].score):
        return None
    passage = retriever.passage_of(ranked[0]).lower()
    return ranked[0] if any(w in passage for w in words) else None


def without_background(entities: List[dict], text: str) -> List[dict]:
    """The names of what a long message asks, without what it first tells about the merchant
    when that names another platform: a clause ends after the platform's last mention and a
    name only our programmes have (OWN_NAMES) comes after it ("老闆兼做客服…之前一直喺淘寶做
    零售,…仲有詢價單3.0係咪可以訂10個類目?" asks about 询价单订阅 3.0, not about 淘宝 or 客服).
    A short message naming another platform ("淘宝店的好评率怎么提高") is about that platform;
    in one, what the merchant says they are may still be set apart (_without_self_description)."""
    if len(_HAN.findall(text)) < BACKGROUND_MIN_CHARS:
        return _without_self_description(entities, text)
    ends = [e["end"] for e in entities
            if e.get("entity") == "platform" and isinstance(e.get("end"), int)]
    boundary = _CLAUSE_END.search(text, max(ends)) if ends else None
    if boundary is None:
        return entities
    asked = [e for e in entities
             if isinstance(e.get("start"), int) and e["start"] > boundary.start()]
    if not any(e.get("entity") in OWN_NAMES for e in asked):
        return entities
    return [e for e in entities if e in asked or e.get("entity") == "aspect"]


def _without_self_description(entities: List[dict], text: str) -> List[dict]:
    """Without the entries a merchant names in saying what they are, when the question after it
    names another: "我是续费好几年的老诚信通 能拿直播大礼包吗" asks about the live-stream pack,
    not the renewal subsidy."""
    found = _SELF.search(text)
    boundary = _SELF_END.search(text, found.end()) if found else None
    if boundary is None:
        return entities

    def named(e: dict, inside: bool) -> bool:
        start, end = e.get("start"), e.get("end")
        return (e.get("entity") in SPECIFIC_KINDS and isinstance(start, int) and isinstance(end, int)
                and (end <= boundary.start() if inside else start >= boundary.end()))

    told = [e for e in entities if named(e, True)]
    if not told or not any(named(e, False) for e in entities):
        return entities
    return [e for e in entities if e not in told]


def set_aside(entities: List[dict], text: str) -> List[dict]:
    """Without the names in a "除了X" clause when the message names something else to ask
    about: "除咗好評率同上網率,評金牌仲要做啲咩" asks about the other conditions, "金融服务保障
    除了保理还有啥" about the rest of the guarantee. With nothing else named, nothing is set aside."""
    found = _BESIDES.search(text)
    if not found:
        return entities
    start, end = found.span(1)
    aside = [e for e in entities if e.get("entity") != "aspect" and isinstance(e.get("start"), int)
             and start <= e["start"] < end]
    kept = [e for e in entities if e not in aside]
    if not aside or not any(e.get("entity") != "aspect" for e in kept):
        return entities
    return kept


def names_other_platform_of_its_own(kb: KnowledgeBase, question: Question, text: str) -> bool:
    """Another platform named beside an entry that itself speaks of that platform: "淘宝店主怎么
    做淘货源分销" is 淘货源's own subject, "义乌购上怎么找档口" only shares a word with 档口尖货."""
    words = _platform_words(kb, text)
    named = [kb.entries[i] for k in SPECIFIC for i in question.of(k) if i in kb.entries]
    return any(w in f"{e.name} {e.answer} {' '.join(e.aliases)}".lower() for e in named for w in words)


def _every_programme(kb: KnowledgeBase, question: Question, compose: Compose) -> Optional[Answer]:
    """Both platforms asked about and no entry matched ("这两个活动现在还有效吗"): every programme's
    answer for the aspects asked, with its validity, under its platform's label."""
    aspects = {"aspect": list(question.of("aspect"))} if question.of("aspect") else {}
    merged = Answer(lines=[kb.replies["both_asked"]])
    for platform in kb.platforms:
        merged.lines.append(_label(kb, platform.id))
        for programme in platform.programmes:
            part, _ = compose(Question(ids={"programme": [programme], **aspects}))
            if not isinstance(part, Answer):
                continue
            merged.lines.extend(part.lines + ([part.status] if part.status else []))
            for source in part.sources:
                merged.cite(source)
    return merged if merged.sources else None


def _listing_facet(kb: KnowledgeBase, question: Question, ranked: Sequence[Hit],
                   text: str) -> Optional[Question]:
    """The programme facet that answers a question asking for several things at once, when
    at least two of the three best-ranked entries belong to that programme and the
    programme's own facet for an aspect asked lists them in the message's own words for
    that aspect ("湖北商家有哪些专属优惠": the measures for Hubei, from the plan's region facet)."""
    if not _SEVERAL_ASKED.search(text.lower()):
        return None
    best = [h for h in ranked[:3] if h.kind != "programme"]
    for programme_id in dict.fromkeys(h.programme for h in best):
        programme = kb.programmes.get(programme_id)
        if programme is None or sum(h.programme == programme_id for h in best) < 2:
            continue
        # The facet must speak of what the message says of the aspect ("湖北" in a facet about
        # Hubei; "全国" is not what it lists).
        lowered = text.lower()
        asked = [a for a in question.of("aspect") if a in programme.facets
                 and any(w in lowered and w in programme.facets[a] for w in kb.aspects.get(a, ()))]
        if asked:
            return Question(ids={"programme": [programme_id], "aspect": asked[:1]})
    return None


def _member_of_named_group(kb: KnowledgeBase, question: Question, top: Hit) -> bool:
    """A group named and the best-ranked entry is one of its members: "交易勋章临时规则是哪几天"
    names 规则调整保障 by "临时规则", and the rest of the message names its measure 14."""
    groups = question.of("guarantee")
    if not groups or question.measure_numbers or any(
            question.of(k) for k in SPECIFIC if k != "guarantee"):
        return False
    entry = kb.entries.get(top.id)
    return entry is not None and entry.group in groups


def _facet_adds_words(kb: KnowledgeBase, hit: Hit, answer: Answer, text: str) -> bool:
    """Whether the hit's facet holds a word of the message (two characters or more, no
    everyday word) that the answer composed does not."""
    entry = kb.entries.get(hit.id)
    facet = entry.facets.get(hit.facet or "", "") if entry else ""
    body = "".join(answer.lines)
    return any(len(word) >= 2 and word in facet and word not in body and word not in _EVERYDAY
               for word in jieba.lcut(text.lower()))


def _two_close_entries(question: Question, ranked: Sequence[Hit]) -> bool:
    """A programme named (no tier) and the rest of the message matched well by two of its
    entries, close to each other ("金银牌考核看的是近30天还是90天的数据": the data window and the
    assessment): both answer it better than the programme's overview would."""
    if not question.of("programme") or question.of("tier") or len(ranked) < 2:
        return False
    first, second = ranked[0], ranked[1]
    return (first.kind != "programme" and second.kind != "programme"
            and second.score >= CLEAR_MIN_SCORE and second.score >= CLOSE_RATIO * first.score)


def _add_close_second(kb: KnowledgeBase, answer: Answer, top: Hit, ranked: List[Hit],
                      question: Question, compose: Compose) -> None:
    """Two entries ranked almost alike: a short answer for both, rather than a guess."""
    second = next((h for h in ranked if h.id != top.id and h.kind != "programme"), None)
    if second is None or second.score < CLOSE_RATIO * top.score or _same_group(kb, top.id, second.id):
        return
    other, _ = compose(question_for(second, question))
    if not isinstance(other, Answer):
        return
    answer.lines.insert(0, kb.replies["close_entries"])
    for line in other.lines:
        if line not in answer.lines:
            answer.lines.append(line)
    for source in other.sources:
        answer.cite(source)


def _same_group(kb: KnowledgeBase, one: str, other: str) -> bool:
    """One entry is the group of the other (a guarantee and one of its measures): they say the
    same thing, and the group's answer already covers its member."""
    first, second = kb.entries.get(one), kb.entries.get(other)
    return bool(first and second and (first.group == other or second.group == one))


def _add_rival(kb: KnowledgeBase, answer: Answer, topic: str, hits: List[Hit],
               question: Question, compose: Compose, text: str, both: bool = False) -> None:
    """A shared term, no platform named (or both asked for): add the other platform's best
    match, labelled; not when the message calls the chosen entry by a name of its own."""
    programme = kb.programme_of(topic)
    if programme is None:
        return
    mine = site_of(kb, programme)
    own = max((h.score for h in hits if site_of(kb, h.programme) == mine), default=0.0)
    rival = next((h for h in hits if site_of(kb, h.programme) != mine), None)
    if rival is None or rival.kind == "programme":
        return
    lowered = text.lower()
    others = _words_elsewhere(kb, mine)
    if not both and any(len(_HAN.findall(alias)) >= 2 and alias in lowered and _only_on(kb, alias, others)
                        for alias in _names_of(kb, topic)):
        return  # "保理优惠要审核什么": 保理 is 1688's alone, whatever else the words share
    shared = both or any(term in lowered for term in kb.shared_terms)
    if not (shared and rival.score >= SHARED_MIN_SCORE and rival.score >= SHARED_RIVAL_RATIO * own) and not (
            rival.score >= MIN_SCORE and rival.score >= RIVAL_RATIO * own):
        return
    other, _ = compose(question_for(rival, Question(ids={"aspect": question.of("aspect")})))
    if not isinstance(other, Answer):
        return
    answer.lines[:0] = [kb.replies["both_asked" if both else "both_platforms"], _label(kb, mine)]
    answer.lines.append(_label(kb, site_of(kb, rival.programme)))
    answer.lines.extend(other.lines)
    for source in other.sources:
        answer.cite(source)


def _words_elsewhere(kb: KnowledgeBase, platform_id: str) -> str:
    """Everything the other platforms' entries say, lower-cased, as one text (made once per
    loaded knowledge base and platform: it reads every entry)."""
    return kb.derived(("words_elsewhere", platform_id), lambda: _gather_words_elsewhere(kb, platform_id))


def _gather_words_elsewhere(kb: KnowledgeBase, platform_id: str) -> str:
    texts = []
    for entry in kb.entries.values():
        programme = kb.programme_of(entry.id)
        if programme and site_of(kb, programme) != platform_id:
            texts.append(" ".join([entry.name, entry.answer, *entry.aliases, *entry.facets.values()]))
    if site_of(kb, kb.tier_programme) != platform_id:
        # The tiers' benefits are no entries of their own.
        texts += [" ".join([b.name, b.category, *b.aliases, *(t.answer for t in b.by_tier.values())])
                  for b in kb.benefits]
    return "\n".join(texts).lower()


def _only_on(kb: KnowledgeBase, word: str, elsewhere: str) -> bool:
    """Whether only one platform uses the word (保理), not the others (`elsewhere`, as
    _words_elsewhere gives it: 72小时, 排名), nor is it a term both documents share. A
    character both share inside a longer name does not make it shared: 备货贷 and 网商贷 are
    1688's own loans, though AliExpress's tiers have a 贷款 too."""
    return not any(term in word for term in kb.shared_terms if len(term) > 1 or term == word) \
        and word not in elsewhere


def _amount_kind(text: str) -> str:
    """Which figure an amount asked for needs: a worth, a sum of money, a length of time
    ("数据周期是多少天"), or any amount. (A rate asked is the rate aspect's: "9折" is no rate
    when the rate itself, 年化 or 原本的利率, is what the merchant wants.)"""
    if _WORTH_ASKED.search(text):
        return "worth"
    if _MONEY_ASKED.search(text):
        return "money"
    return "duration" if _DURATION_ASKED.search(text) else "amount"


def _names_of(kb: KnowledgeBase, topic: Optional[str]) -> List[str]:
    """The lower-cased names merchants may call an entry by, its own name first."""
    if topic is None:
        return []
    own = (kb.name_of(topic) or "").lower()
    return [own, *kb.derived("names_by_id", lambda: _names_by_id(kb)).get(topic, ())]


def _names_by_id(kb: KnowledgeBase) -> Dict[str, List[str]]:
    """Each id's names (`kb.names`), in the order of the kinds and of their names."""
    by_id: Dict[str, List[str]] = {}
    for aliases in kb.names.values():
        for alias, i in aliases.items():
            by_id.setdefault(i, []).append(alias)
    return by_id


class _KnownWords:
    """Words the focus check leaves alone: aspect words (checked by the aspect rules) and the
    names of the entry answered, looked up only for the one word a question counts."""

    def __init__(self, kb: KnowledgeBase, topic: Optional[str]) -> None:
        self.kb, self.topic = kb, topic

    def __contains__(self, word: object) -> bool:
        return (any(word in words for words in self.kb.aspects.values())
                or (self.topic is not None
                    and any(self.kb.resolve(kind, word) == self.topic for kind in self.kb.names)))


def leaves_out(kb: KnowledgeBase, answer: Answer, question: Question, topic: Optional[str],
               text: str) -> bool:
    """Whether the answer leaves out something the message asks (a fee, a day, what a term
    means): the line that would say so, were the answer sent as it is."""
    trial = Answer(lines=list(answer.lines))
    _mark_not_given(kb, trial, _with_aspects(question, aspects_in(kb, text)), topic, text)
    return len(trial.lines) != len(answer.lines)


def _region_in_name(kb: KnowledgeBase, topic: Optional[str], text: str) -> bool:
    """Whether the region the text names is part of the entry's own name (湖北商家专项活动):
    it says whom the entry is for, not what is asked. Other aspects in a name are asked all
    the same ("客服电话多少": the phone number)."""
    found = [w for w in kb.aspects.get("region", ()) if w in text]
    names = _names_of(kb, topic) if found else []
    return bool(found) and all(any(w in name for name in names) for w in found)


def _beyond_window(kb: KnowledgeBase, entry: Entry, lowered: str, body: str) -> Optional[str]:
    """A day asked about outside the entry's own dated period, which the entry does not name
    either ("2月20号的订单" of a rule for 1月19日至2月16日), or what follows the period when
    the answer does not say: the detail the document leaves open, or None."""
    start, end = entry.window.valid_from, entry.window.valid_until
    if start is None or end is None:
        return None
    period = dict(start=format_date(kb, start), end=format_date(kb, end))
    own = " ".join([entry.answer, *entry.facets.values()])
    for match in _DAY.finditer(lowered):
        # A day without its year is of any year the period touches (1月15日 of 2023-07..2024-03).
        years = [int(match.group(1))] if match.group(1) else sorted({start.year, end.year})
        days = []
        for year in years:
            try:
                days.append(dt.date(year, int(match.group(2)), int(match.group(3))))
            except ValueError:
                continue
        if days and not any(start <= day <= end for day in days) \
                and f"{days[0].month}月{days[0].day}" not in own:
            return kb.replies["detail_outside_window"].format(day=format_date(kb, days[0]), **period)
    after_last_day = any((int(m.group(1)), int(m.group(2))) == (end.month, end.day)
                         for m in _AFTER_DAY.finditer(lowered))
    if (_AFTER_END.search(lowered) or after_last_day) and not _AFTER_SAID.search(body):
        return kb.replies["detail_after_window"].format(**period)
    return None


def _say_missing(answer: Answer, line: str, missing: str) -> None:
    """Open the answer with the line saying what the document does not give."""
    answer.lines.insert(0, line)
    answer.missing = missing


def _mark_not_given(kb: KnowledgeBase, answer: Answer, question: Question,
                    topic: Optional[str], text: str = "") -> None:
    """Say first that the document does not give the detail or aspect asked about, when it
    does not."""
    lowered = text.lower()
    silence = next((s for s in kb.silences if topic in s.about
                    and any(w in lowered for w in s.words)), None)
    if silence is not None:
        _say_missing(answer, kb.replies["not_given_detail"].format(detail=silence.detail), silence.detail)
        return
    body = "".join(answer.lines)
    entry = kb.entries.get(topic or "")
    # "2月20号的订单超时发货会怎样" of a rule for 1月19日至2月16日; "结束后会不会掉回去";
    # "流量红包每家能分到多少": a share of a total; "那10家服务商是哪几家": names of what is counted.
    detail = ((_beyond_window(kb, entry, lowered, body) if entry is not None else None)
              or (kb.replies["detail_share"] if share_unanswered(lowered, body)
                  else kb.replies["detail_names"] if names_unlisted(lowered, body)
                  else kb.replies["detail_price"] if price_unanswered(lowered, body) else None))
    if detail is not None:
        _say_missing(answer, kb.replies["not_given_detail"].format(detail=detail), detail)
        return
    # "万店直播给多少曝光量": what is counted or listed, when the answer never names it.
    thing = unnamed_thing(lowered, body, _KnownWords(kb, topic), kb.synonyms)
    if thing is not None:
        _say_missing(answer, kb.replies["not_given_focus"].format(thing=thing), thing)
        return
    # "美化照片最多几多张": a count by a measure word no figure of the answer uses.
    unit = unit_unanswered(lowered, body)
    if unit is not None:
        thing = kb.replies["detail_count"].format(unit=unit)
        _say_missing(answer, kb.replies["not_given_detail"].format(detail=thing), thing)
        return
    # "基准定价是多少": the answer gives a cut from it, not its value.
    reference = reference_unvalued(lowered, body)
    if reference is not None:
        thing = kb.replies["detail_reference"].format(reference=reference)
        _say_missing(answer, kb.replies["not_given_focus"].format(thing=thing), reference)
        return
    # "渠道商是谁": a term the answer only mentions in passing is not explained by it.
    term = undefined_term(lowered, body, _names_of(kb, topic))
    if term is not None:
        _say_missing(answer, kb.replies["not_given_definition"].format(term=term), term)
        return
    # "湖北打标活动几时开始": 湖北 is in the entry's own name; the time is what is asked.
    aspects = [a for a in question.of("aspect")
               if not (a == "region" and _region_in_name(kb, topic, lowered))]
    facets = entry.facets if entry else {}
    # An aspect no entry gives (叠加, 公式, 电话) is missing whatever else was asked.
    missing = next((a for a in aspects if a in NEVER_IMPLIED and not facet_keys(facets, [a])), None)
    amount_kind = _amount_kind(text)
    # "极速到账平时收费多少": 免费 for two months is not the fee asked; only a fee charged is.
    cost_kind = "fee" if _BEYOND_FREE.search(lowered) else "cost"
    time_kind = "date" if _DATE_ASKED.search(lowered) else "time"
    covered, deferred = set(), []  # aspects a facet answers; facets that only point elsewhere
    for aspect in aspects if missing is None else ():
        keys = facet_keys(facets, [aspect])
        if keys and _DEFERS.search(facets[keys[0]]) and not _DEFERS.search(lowered):
            # "保理融资要怎么申请": the facet says only where to look; "利息下调10%,具体以页面为准"
            # gives a cut, and the rate itself (年化, 原本的利率) only on the loan's page.
            deferred.append(aspect)
        elif keys and aspect == "amount" and amount_kind != "amount" \
                and not _FIGURES[amount_kind].search(facets[keys[0]]):
            continue  # "无纺布几多钱一吨": a facet that counts brands is no sum of money
        elif keys and aspect == "cost" and cost_kind == "fee" and not _FIGURES["fee"].search(facets[keys[0]]):
            continue  # "极速到账平时收费多少": free for two months says no fee
        elif keys and aspect == "time" and time_kind == "date" \
                and not _FIGURES["date"].search(facets[keys[0]]):
            continue  # "由哪一天开始算": "为期两个月" is no day
        elif keys:
            covered.add(aspect)
    if missing is None and deferred and not covered:
        missing = deferred[0]
    if missing is None:
        # With one aspect answered, another is missing only if it asks for a figure ("过年期间
        # 延迟发货扣几分": the period is given, the points are not); a time word beside it is
        # often incidental ("签咗第二年仲有冇份").
        for aspect in ("cost", "amount", "rate") if covered else (
                "cost", "apply", "amount", "rate", "time", "deadline"):
            kind = {"amount": amount_kind, "cost": cost_kind, "time": time_kind}.get(aspect, aspect)
            # A percentage answers "how much" of a threshold, never "how much money".
            if aspect in aspects and aspect not in covered and not _FIGURES[kind].search(body) and not (
                    kind == "amount" and entry is not None and _FIGURES["threshold"].search(body)):
                missing = aspect
                break
    if missing is None:
        # "直播课有回放吗": a thing no document mentions, asked whether it exists.
        thing = (unheard_thing(lowered, body, kb.vocabulary, kb.synonyms)
                 or unheard_use(lowered, body, kb.vocabulary, kb.synonyms))
        if thing is None and (topic == COMPARISON_TOPIC or topic in {t.id for t in kb.tiers}):
            # "金牌有没有专属物流优惠": the tiers' benefits are a closed list.
            thing = unlisted_benefit(lowered, body, kb.synonyms)
        if thing is not None:
            _say_missing(answer, kb.replies["not_mentioned"].format(thing=thing), thing)
        return
    _say_missing(answer, kb.replies["not_given"].format(name=kb.name_of(topic or "") or topic,
                                                        aspect=kb.replies[f"aspect_label_{missing}"]),
                 missing)

