"""What the offline tools know about the vibe, read once: :func:`read_facts` → :class:`Facts`.

Node parameters (``style``, ``constraints``, ``domain``) take precedence over the vibe. From
the description come the language (:func:`detect_language`), the topic (``subject``), the
audience and the deliverable; from the constraints and the description the resolved
:class:`~vibe_aigc.tools.constraints.Targets` (durations, word counts, counted items), with
domain defaults (:func:`default_targets`) for what the vibe leaves open.

Non-English vibes: Japanese, Chinese and Korean topics are cut from the request at the
particles that end a topic (について, に関する, 关于…的, 에 대한, …) or before the deliverable
noun; Spanish, French, German, Portuguese, Italian and Dutch requests are read with their own
prepositions. The topic and titles keep the original script; the tools' scaffolding is in
English, and :data:`LANGUAGE_NOTE` says so in every output of a non-English vibe.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode
from vibe_aigc.tools.constraints import Targets, resolve_targets
from vibe_aigc.tools.textkit import clip, wordlist

LANGUAGE_NOTE = (
    "offline tools write their scaffolding in English; the topic and titles keep your language"
)
CJK_LANGUAGES = ("ja", "zh", "ko")
_PEOPLE = wordlist(
    "beginner developer engineer kid children teen student parent customer user marketer "
    "designer manager founder reader fan listener viewer team owner professional adult gamer "
    "traveler investor buyer shopper executive nurse teacher startup"
)
_SPOKEN = ("podcast", "episode", "interview", "voiceover", "voice-over", "audiobook", "radio")
_DELIVERABLE = {
    "writing": "piece", "docs": "documentation", "video": "video", "audio": "audio piece",
    "visual": "design", "marketing": "campaign", "general": "piece",
}  # fmt: skip


@dataclass(frozen=True)
class Facts:
    """What a tool knows about the vibe, with node parameters taking precedence."""

    description: str
    style: str | None
    constraints: list[str]
    domain: str
    subject: str
    audience: str
    deliverable: str
    language: str = "en"
    audience_stated: bool = True
    targets: Targets = field(default_factory=Targets)

    @property
    def text(self) -> str:
        return " ".join([self.description, self.style or "", *self.constraints]).lower()

    def mentions(self, *terms: str) -> bool:
        """True when a term occurs as a whole word or phrase (a plural "s"/"es" is allowed)."""
        return any(re.search(rf"\b{re.escape(t)}(?:s|es)?\b", self.text) for t in terms)

    @property
    def note(self) -> str | None:
        """:data:`LANGUAGE_NOTE` for a non-English vibe, else None."""
        return None if self.language == "en" else LANGUAGE_NOTE

    @property
    def spoken(self) -> bool:
        return self.mentions(*_SPOKEN)

    @property
    def instrumental(self) -> bool:
        """Music without words (lo-fi beats, ambient, a score)."""
        return self.mentions("instrumental", "beats", "beat tape", "ambient", "score")

    @property
    def album(self) -> bool:
        return self.mentions("album", "ep", "lp", "mixtape", "playlist", "tracklist") or (
            self.targets.constrained("track") and (self.targets.value("track") or 0) > 1
        )


# --------------------------------------------------------------------------- language

_SCRIPTS = (
    ("ja", r"[\u3040-\u30ff]"), ("ko", r"[\uac00-\ud7af]"), ("zh", r"[\u4e00-\u9fff]"),
    ("cyrillic", r"[\u0400-\u04ff]"), ("greek", r"[\u0370-\u03ff]"),
    ("arabic", r"[\u0600-\u06ff]"), ("hebrew", r"[\u0590-\u05ff]"),
    ("devanagari", r"[\u0900-\u097f]"), ("thai", r"[\u0e00-\u0e7f]"),
)  # fmt: skip
_STOPWORDS = {
    "en": "the a an and of for to about with on in is my our your please write create make",
    "es": "el la los las un una y de del para sobre con por mi escribe crea haz",
    "fr": "le la les un une et de des du pour sur avec mon notre écris écrivez crée créez",
    "de": "der die das ein eine einen und für über mit zum zur mein unser schreibe erstelle",
    "pt": "o a os as um uma e de do da para sobre com meu escreva crie faça",
    "it": "il lo la gli le un una e di del della per su sul sulla con scrivi crea",
    "nl": "de het een en van voor over met mijn onze schrijf maak",
}
_STOP_SETS = {lang: frozenset(ws.split()) for lang, ws in _STOPWORDS.items()}


def detect_language(text: str) -> str:
    """ "en", a language code ("ja", "zh", "ko", "es", "fr", "de", "pt", "it", "nl"), or the
    name of a script ("cyrillic", "arabic", ...) for other non-Latin text."""
    letters = re.findall(r"[^\W\d_]", text)
    for code, pattern in _SCRIPTS:
        if letters and len(re.findall(pattern, text)) * 4 >= len(letters):
            return code
    tokens = re.findall(r"[^\W\d_]+", text.lower())
    scores = {lang: sum(t in stops for t in tokens) for lang, stops in _STOP_SETS.items()}
    best = max(scores, key=lambda lang: (scores[lang], lang == "en"))
    accents = bool(re.search(r"[à-ÿ]", text.lower()))
    if best != "en" and (scores[best] > scores["en"] or (accents and scores[best] > 0)):
        return best
    return "en"


# --------------------------------------------------------------------------- topics, CJK

_CJK_NOUNS = (
    "ブログ記事", "ブログ", "記事", "エッセイ", "小説", "物語", "ガイド", "マニュアル", "説明書",
    "ドキュメント", "チュートリアル", "ミュージックビデオ", "動画", "ビデオ", "映像", "アルバム",
    "楽曲", "曲", "歌", "ポッドキャスト", "画像", "イラスト", "ロゴ", "ポスター", "写真",
    "デザイン", "キャンペーン", "広告", "スライド", "プレゼン", "アプリ",
    "博客文章", "博客", "文章", "视频", "視頻", "影片", "音乐", "音樂", "歌曲", "专辑", "專輯",
    "播客", "图片", "圖片", "插画", "插畫", "海报", "海報", "标志", "標誌", "广告", "廣告",
    "文档", "文檔", "教程", "指南", "故事", "诗", "詩",
    "블로그 글", "블로그", "기사", "글", "동영상", "영상", "비디오", "앨범", "노래", "음악",
    "팟캐스트", "이미지", "일러스트", "포스터", "로고", "광고", "캠페인", "가이드", "문서",
)  # fmt: skip
_NOUN_RE = "|".join(sorted(_CJK_NOUNS, key=len, reverse=True))
_JA_TAIL = re.compile(
    r"(?:を|の|で)?(?:書いて|かいて|作って|つくって|作成して|制作して|描いて|デザインして|考えて|"
    r"撮って|録音して|企画して|用意して|生成して|作る|書く|作成|制作|ください|下さい|ほしい|"
    r"欲しい|お願いします|お願い|して|する|です|ます|[。！!？?\s])+$"
)
_ZH_HEAD = re.compile(
    r"^(?:请|請|帮我|幫我|给我|給我)?(?:写|寫|做|制作|製作|创建|創建|设计|設計|创作|創作|生成|拍|"
    r"录制|錄製|策划|策劃|准备|準備)?(?:一篇|一个|一個|一首|一张|一張|一部|一段|一份|一套|一支)?"
)
_KO_TAIL = re.compile(
    r"\s*(?:을|를)?\s*(?:써|만들어|작성해|그려|디자인해|기획해|해)?\s*(?:주세요|줘|주십시오)[.!?\s]*$"
)
_TOPIC_MARKS = (
    r"(.+?)(?:について|に関する|に関して|をテーマにした|をテーマに|がテーマの)(?:の)?(.*)",
    r"(?:关于|關於|有关|有關)(.+)的(.+)",
    r"(?:关于|關於|有关|有關)(.+)()",
    r"(.+?)\s*(?:에\s*대한|에\s*관한|에\s*대해)\s*(.*)",
)
_AUDIENCE_MARKS = (
    r"^(.+?)(?:向けの|向け|むけの|のための|のために)",
    r"^(?:给|給|面向|为|為)(.+?)的",
    r"^(.+?)(?:을|를)\s*위한\s*",
)


def _cjk_facts(description: str) -> tuple[str, str, str]:
    """(subject, audience, deliverable) of a Japanese, Chinese or Korean request."""
    rest = _KO_TAIL.sub("", _JA_TAIL.sub("", description.strip()))
    rest = _ZH_HEAD.sub("", rest).strip(" 。、,.")
    audience = ""
    for pattern in _AUDIENCE_MARKS:
        if m := re.match(pattern, rest):
            audience, rest = m.group(1).strip(), rest[m.end() :].strip()
            break
    subject, deliverable = rest, ""
    for pattern in _TOPIC_MARKS:
        if m := re.fullmatch(pattern, rest):
            subject, deliverable = m.group(1), m.group(2)
            break
    else:
        if m := re.fullmatch(rf"(.+?)\s*(?:の|的|な|用の)?\s*({_NOUN_RE})", rest):
            subject, deliverable = m.group(1), m.group(2)
    deliverable = re.sub(r"^[のな的\s]+", "", deliverable).strip()
    subject = re.sub(r"^\d+\s*(?:秒|分|曲|枚|本|つ)の", "", subject.strip(" 、。の的"))
    return clip(subject or rest or description, 24), audience, deliverable


# --------------------------------------------------------------------------- topics, Latin

_LEAD_RE = re.compile(
    r"^\s*(?:please\s+)?(?:create|write|make|design|produce|build|draft|compose|record|plan|"
    r"launch|shoot|film|generate|develop|prepare|craft|document|écris|écrivez|crée|créez|"
    r"rédige|rédigez|fais|faites|escribe|escriba|crea|cree|haz|diseña|redacta|schreibe|"
    r"schreib|erstelle|erstell|mache|gestalte|entwirf|escreva|crie|faça|scrivi|fai|progetta|"
    r"schrijf|maak)\s+",
    re.IGNORECASE,
)
_DET_RE = re.compile(
    r"^(?:a|an|the|some|our|my|your|their|un|une|le|la|les|l'|des|du|el|los|las|una|uno|der|"
    r"die|das|ein|eine|einen|o|um|uma|il|lo|gli|het|een)\s+",
    re.IGNORECASE,
)
_PREPS = tuple(
    wordlist(
        "about on covering explaining introducing showcasing promoting featuring celebrating for of"
    )
)
_FOREIGN_PREPS = {
    "fr": ("à propos de", "au sujet de", "sur", "de"),
    "es": ("acerca de", "sobre", "de"),
    "pt": ("acerca de", "sobre", "de"),
    "de": ("zum thema", "über", "zu"),
    "it": ("a proposito di", "sulla", "sul", "su", "di"),
    "nl": ("over", "van"),
}
_GUIDE_TO = re.compile(
    r"\b(?:guide|introduction|intro|primer|roadmap|handbook|tour|approach)\s+(to)\s+(?=\w)",
    re.IGNORECASE,
)
_FOR = {"en": "for", "fr": "pour", "es": "para", "pt": "para", "de": "für", "it": "per",
        "nl": "voor"}  # fmt: skip
_AUDIENCE = {
    "docs": "developers new to {s}",
    "marketing": "prospective customers",
    "video": "viewers",
    "audio": "listeners",
    "visual": "people who meet the design for the first time",
}


def _is_people(text: str) -> bool:
    return any(re.search(rf"\b{p}", text.lower()) for p in _PEOPLE)


def _latin_facts(description: str, language: str) -> tuple[str, str, str]:
    """(subject, audience, deliverable) of a request in a Latin-script language."""
    rest = _DET_RE.sub("", _LEAD_RE.sub("", description)).rstrip(" .!")
    foreign = language != "en"
    for_word = _FOR.get(language, "for")
    subject, deliverable = rest, ""
    if not foreign and (m := _GUIDE_TO.search(rest)):
        return _latin_facts(f"{rest[: m.start(1)]}about {rest[m.end() :]}", language)
    for prep in _FOREIGN_PREPS.get(language, _PREPS):
        m = re.search(rf"\b{prep}\s+(.+)", rest, re.IGNORECASE)
        if m and not (prep == "for" and _is_people(m.group(1))):
            subject, deliverable = m.group(1), rest[: m.start()].strip()
            break
    subject = re.split(rf"\s+(?:{for_word}|with|that|who)\s+(?=\w)", subject)[0].strip(" ,.;")
    subject = " ".join(_DET_RE.sub("", subject).split()[:10]) or rest or description
    m = re.search(
        rf"\b{for_word}\s+([\w\s'-]+?)(?:\s+(?:about|on|who|that|with|in)\b|[,.;:]|$)", rest
    )
    stated = m is not None and (foreign or _is_people(m.group(1)))
    audience = _DET_RE.sub("", m.group(1).strip()) if m and stated else ""
    return subject, audience, deliverable


# --------------------------------------------------------------------------- targets


def default_targets(f: Facts) -> dict[str, int | None]:
    """Domain defaults for the units a vibe leaves open (see the module docstring)."""
    d = f.domain
    seconds: int | None = None
    if d == "video":
        vertical = f.mentions("tiktok", "reel", "shorts", "vertical", "9:16", "story", "social")
        seconds = 90 if f.mentions("trailer") else 30 if vertical else 60
    elif d == "marketing":
        seconds = 30  # the teaser
    elif d == "audio":
        jingle = f.mentions("jingle", "sting", "ident", "ad")
        seconds = 1500 if f.spoken else 30 if jingle else None
    return {"second": seconds}


def _word_default(f: Facts) -> int:
    if f.domain in ("video",) or (f.domain == "audio" and f.spoken):
        return max(10, round((f.targets.seconds or 60) * 2.5))  # spoken: ~150 words a minute
    if f.domain == "audio":
        return 0 if f.instrumental else 200 * (f.targets.count("track", 1) if f.album else 1)
    sizes = (("poem", 150), ("tweet", 250), ("thread", 250), ("press release", 500),
             ("newsletter", 600), ("speech", 700), ("essay", 1200), ("short story", 1500),
             ("ebook", 6000))  # fmt: skip
    found = next((n for k, n in sizes if f.mentions(k)), None)
    per_domain = {"docs": 1200, "marketing": 400, "visual": 250, "general": 600}
    return found or per_domain.get(f.domain, 800)


def with_targets(f: Facts) -> Facts:
    """``f`` with its targets resolved: seconds and counts first, then the word count (whose
    default for spoken media follows the duration)."""
    base = resolve_targets(f.description, f.constraints, default_targets(f))
    f = replace(f, targets=base)
    album = f.domain == "audio" and f.album and not f.spoken
    tracks = f.targets.count("track", 5 if f.mentions("ep") else 10) if album else None
    seconds = f.targets.seconds
    if album and tracks and not f.targets.constrained("second"):
        seconds = None  # an album's length follows its tracks
    elif f.domain == "audio" and seconds is None:
        seconds = 180  # one song
    defaults = {**default_targets(f), "second": seconds, "track": tracks}
    f = replace(f, targets=resolve_targets(f.description, f.constraints, defaults))
    defaults["word"] = _word_default(f)
    return replace(f, targets=resolve_targets(f.description, f.constraints, defaults))


def _strings(value: object, fallback: Sequence[str]) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(c) for c in value]
    return [str(c) for c in fallback]


def read_facts(node: WorkflowNode, context: NodeContext) -> Facts:
    """Read the vibe once: subject, audience and deliverable are guessed from the description."""
    vibe, params = context.vibe, node.parameters
    style = params.get("style", vibe.style)
    constraints = _strings(params.get("constraints", vibe.constraints), vibe.constraints)
    domain = str(params.get("domain") or vibe.domain or "general").lower()
    description = " ".join(vibe.description.split())
    language = detect_language(description)
    if language in CJK_LANGUAGES:
        subject, audience, deliverable = _cjk_facts(description)
    else:
        subject, audience, deliverable = _latin_facts(description, language)
    if not audience and any("beginner" in c.lower() for c in [description, *constraints]):
        audience = "beginners"
    if not audience and domain == "visual" and re.search(r"\b(app|website|dashboard)\b", subject):
        audience = "first-time users"
    stated = bool(audience)
    audience = audience or _AUDIENCE.get(domain, "general readers").format(s=subject)
    style = style if isinstance(style, str) else None
    deliverable = deliverable or _DELIVERABLE.get(domain, "piece")
    facts = Facts(
        description, style, constraints, domain, subject, audience, deliverable, language, stated
    )
    return with_targets(facts)
