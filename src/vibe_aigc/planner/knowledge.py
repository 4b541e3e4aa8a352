"""The offline knowledge planner: a vibe becomes a validated plan from domain templates.

No LLM, no clock, no randomness: the same vibe always gives the same plan (same JSON, same id
``derive_plan_id(vibe)``, ``created_at=None``). Every node names a built-in offline tool in
``parameters["tool"]`` and carries the vibe's ``domain``, ``style`` and ``constraints``.

Domain detection (:func:`detect_domain`)
    1. ``vibe.domain``: keyword match against :data:`DOMAIN_KEYWORDS`; a label with no hit is
       matched fuzzily (``difflib``, cutoff 0.8) so "vidoe" or "musics" still work.
    2. Otherwise ``vibe.description`` (exact keyword matches only).
    3. Otherwise ``"general"``.

    Text is split into lower-case words (hyphenated words stay whole: "how-to"). A keyword hits
    when its words appear in a row (a trailing "s"/"es" plural is accepted). Each hit scores its
    number of words, so "blog post" (2) outweighs "post" (1). The best score wins; ties go to
    the earlier domain in :data:`DOMAINS`.

    "Guide", "tutorial", "how-to", "manual" and the like (:data:`GENERIC_DOCS`) are software
    documentation only next to a software noun (:data:`SOFTWARE_NOUNS`: code, API, library,
    CLI, SDK, Python, ...); otherwise they name a piece of writing, so "a beginner-friendly
    guide to baking sourdough bread" is writing and "a tutorial on Python decorators" is docs.

    Other languages: :data:`FOREIGN_KEYWORDS` (Japanese, Chinese, Korean, Spanish, French,
    German, Portuguese, Italian) score one point per hit, matched as substrings in CJK text
    and as words elsewhere: ブログ / 記事 → writing, 動画 → video, 音楽 / アルバム → audio,
    画像 / イラスト → visual.

    The medium outranks the purpose: when the words naming the deliverable (everything before
    the first linking word such as "for", "about", "with", "to") contain a medium noun from
    :data:`MEDIUM_KEYWORDS` ("video", "song", "poster", "tutorial", "blog post", ...), the
    purpose words in :data:`PURPOSE_KEYWORDS` ("launch", "campaign", "promote", ...) score
    nothing. So "Create a product launch video" is a video, while "Create a marketing campaign"
    and "Launch campaign for a new app with ads" (no medium) or "A launch campaign with a teaser
    video" (the video is not the deliverable) stay marketing. ``vibe.domain`` still comes first.

Templates (all start with brief, research and style analysis in parallel, end with a review)
    writing    outline → draft (parent joining intro / body / conclusion written in parallel)
    docs       outline → write (parent joining overview / steps / troubleshooting)
    video      treatment → script → storyboard (shots → frames), soundtrack in parallel → assemble
    audio      outline → production (parent joining lyrics or script + arrangement)
    visual     concepts → assets (parent joining image prompts + design spec)
    marketing  strategy → assets (parent joining copy + key visuals + teaser shot list)
    general    outline → draft
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from typing import Any

from vibe_aigc.models import Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan, derive_plan_id

DOMAINS: tuple[str, ...] = ("docs", "video", "audio", "visual", "marketing", "writing", "general")

DOMAIN_KEYWORDS: dict[str, tuple[str, ...]] = {
    "docs": (
        "docs", "documentation", "tutorial", "api reference", "api", "guide", "readme", "how-to",
        "manual", "reference", "changelog", "sdk", "getting started", "installation",
        "technical writing", "walkthrough", "faq", "docstring", "cli", "developer guide",
    ),
    "video": (
        "video", "trailer", "film", "movie", "short film", "storyboard", "animation", "clip",
        "youtube", "tiktok", "reel", "documentary", "commercial", "vlog", "music video",
        "explainer video", "cinematography",
    ),
    "audio": (
        "song", "music", "podcast", "soundtrack", "jingle", "audio", "track", "album", "beat",
        "melody", "lyrics", "episode", "sound design", "audiobook", "radio", "playlist",
        "voiceover", "instrumental",
    ),
    "visual": (
        "logo", "poster", "illustration", "image", "picture", "photo", "icon", "banner",
        "mockup", "ui", "ux", "app design", "mobile app", "wireframe", "brand identity",
        "artwork", "painting", "infographic", "graphic", "visual", "thumbnail", "cover art",
        "album cover", "design", "flyer", "sticker", "character design", "landing page", "screen",
    ),
    "marketing": (
        "campaign", "launch", "ad", "advert", "advertising", "social media", "marketing",
        "promotion", "promo", "promote", "go-to-market", "email campaign", "seo", "funnel",
        "instagram", "influencer", "product launch", "brand awareness", "growth",
    ),
    "writing": (
        "article", "blog", "blog post", "post", "essay", "newsletter", "story", "short story",
        "poem", "copy", "op-ed", "column", "ebook", "book", "chapter", "writing", "press release",
        "speech", "letter", "memoir", "novel", "guide", "tutorial", "how-to", "manual",
        "walkthrough", "handbook", "recipe",
    ),
    "general": ("general", "other", "misc"),
}  # fmt: skip

# Words that make "guide", "tutorial", ... mean software documentation (see the docstring).
GENERIC_DOCS: frozenset[str] = frozenset(
    ("guide", "tutorial", "how-to", "manual", "walkthrough", "faq", "reference",
     "getting started", "installation")
)  # fmt: skip
SOFTWARE_NOUNS: frozenset[str] = frozenset(
    ("code", "api", "library", "cli", "sdk", "python", "javascript", "typescript", "rust",
     "golang", "java", "kotlin", "swift", "c++", "c#", "ruby", "php", "sql", "framework",
     "package", "npm", "pip", "docker", "kubernetes", "git", "github", "database", "server",
     "software", "programming", "developer", "developers", "command line", "terminal",
     "plugin", "module", "function", "decorator", "react", "django", "flask", "node.js",
     "linux", "app", "backend", "frontend", "endpoint", "repository", "script", "compiler",
     "webhook", "json", "yaml", "html", "css", "devops", "deployment", "open source")
)  # fmt: skip


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FOREIGN_KEYWORDS: dict[str, tuple[str, ...]] = {
    "docs": _split(
        "ドキュメント チュートリアル 文档 文檔 教程 문서 튜토리얼 documentación "
        "documentation dokumentation documentação documentazione"
    ),
    "video": _split(
        "動画 ビデオ 映像 ムービー 视频 視頻 影片 동영상 영상 비디오 vídeo "
        "vidéo película film cortometraje court-métrage"
    ),
    "audio": _split(
        "音楽 アルバム 楽曲 曲 歌 ポッドキャスト 音乐 音樂 歌曲 专辑 專輯 播客 "
        "음악 노래 앨범 팟캐스트 canción chanson lied canzone música musique "
        "musik musica álbum pódcast"
    ),
    "visual": _split(
        "画像 イラスト ロゴ ポスター 写真 デザイン 图片 圖片 插画 插畫 海报 "
        "海報 标志 標誌 이미지 일러스트 포스터 로고 cartel affiche plakat "
        "cartaz manifesto logotipo ilustración illustration imagen bild imagem "
        "immagine"
    ),
    "marketing": _split(
        "キャンペーン 広告 マーケティング 广告 廣告 营销 營銷 광고 캠페인 "
        "마케팅 campaña campagne kampagne campanha campagna publicidad "
        "publicité werbung publicidade pubblicità"
    ),
    "writing": _split(
        "ブログ 記事 エッセイ 小説 物語 ガイド 博客 文章 故事 指南 블로그 기사 "
        "에세이 소설 가이드 artículo article artikel artigo articolo ensayo "
        "essai aufsatz cuento nouvelle guía guide leitfaden ratgeber guia guida"
    ),
}
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")

# Nouns naming what is made (each is also a keyword of its domain); see the module docstring.
MEDIUM_KEYWORDS: dict[str, tuple[str, ...]] = {
    "docs": (
        "docs", "documentation", "tutorial", "api reference", "guide", "readme", "how-to",
        "manual", "walkthrough", "faq", "changelog", "developer guide",
    ),
    "video": (
        "video", "trailer", "film", "movie", "short film", "animation", "clip", "reel",
        "documentary", "commercial", "vlog", "music video", "explainer video",
    ),
    "audio": (
        "song", "music", "podcast", "soundtrack", "jingle", "track", "album", "episode",
        "audiobook", "instrumental",
    ),
    "visual": (
        "logo", "poster", "illustration", "image", "picture", "photo", "icon", "banner",
        "mockup", "wireframe", "artwork", "painting", "infographic", "graphic", "thumbnail",
        "cover art", "album cover", "flyer", "sticker",
    ),
    "writing": (
        "article", "blog", "blog post", "essay", "newsletter", "short story", "poem", "ebook",
        "press release", "speech", "guide", "tutorial", "how-to", "manual", "walkthrough",
    ),
}  # fmt: skip
# Marketing keywords that say why the piece exists rather than what it is.
PURPOSE_KEYWORDS: frozenset[str] = frozenset(
    ("campaign", "launch", "product launch", "promotion", "promo", "promote", "marketing",
     "go-to-market", "email campaign", "brand awareness", "growth")
)  # fmt: skip
# Words that end the deliverable: "a video | for our launch", "a campaign | with a teaser video".
_LINKS = frozenset(
    ("for", "about", "with", "on", "of", "to", "that", "which", "who", "in", "at", "from", "by",
     "featuring", "announcing", "introducing", "showcasing", "promoting", "celebrating",
     "explaining", "covering", "using")
)  # fmt: skip

_SPOKEN = ("podcast", "episode", "interview", "voiceover", "voice-over", "audiobook", "radio")


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9](?:[a-z0-9+#.]*[a-z0-9+#])?(?:[-'][a-z0-9]+)*", text.lower())


def _foreign_scores(text: str) -> dict[str, int]:
    """One point per :data:`FOREIGN_KEYWORDS` hit: a substring in CJK text; elsewhere a word,
    or (five letters or more) part of a compound word ("Blogartikel" holds "artikel")."""
    lower = text.lower()
    words = set(re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)?", lower))

    def hit(key: str) -> bool:
        if _CJK_RE.search(key):
            return key in lower
        return any(w in (key, key + "s") or (len(key) >= 5 and key in w) for w in words)

    return {domain: sum(1 for k in keys if hit(k)) for domain, keys in FOREIGN_KEYWORDS.items()}


def _hits(tokens: list[str], phrase: str) -> bool:
    want = phrase.split()
    for i in range(len(tokens) - len(want) + 1):
        if all(t in (w, w + "s", w + "es") for t, w in zip(tokens[i:], want, strict=False)):
            return True
    return False


def _best(scores: dict[str, int]) -> str | None:
    best = max(scores.values(), default=0)
    return next((d for d in DOMAINS if scores.get(d, 0) == best), None) if best else None


def _names_a_medium(tokens: list[str]) -> bool:
    """True when the deliverable (the words before the first linking word) is a medium."""
    end = next((i for i, t in enumerate(tokens) if t in _LINKS), len(tokens))
    head = tokens[:end]
    return any(_hits(head, k) for keys in MEDIUM_KEYWORDS.values() for k in keys)


def domain_scores(text: str) -> dict[str, int]:
    """Keyword score of ``text`` per domain (see the module docstring)."""
    tokens = _tokens(text)
    skip = set(PURPOSE_KEYWORDS) if _names_a_medium(tokens) else set()
    software = any(_hits(tokens, k) for k in SOFTWARE_NOUNS)
    scores = {}
    for domain, keys in DOMAIN_KEYWORDS.items():
        drop = skip | (GENERIC_DOCS if domain == "docs" and not software else set())
        if domain == "writing" and software:
            drop |= GENERIC_DOCS
        scores[domain] = sum(len(k.split()) for k in keys if k not in drop and _hits(tokens, k))
    if not any(scores.values()):
        for domain, score in _foreign_scores(text).items():
            scores[domain] = scores.get(domain, 0) + score
    return scores


def known_domain(text: str) -> str | None:
    """The domain a user's ``--domain`` text names (fuzzy), or None when it names none."""
    found = _best(domain_scores(text))
    if found is None:
        singles = {k: d for d, keys in DOMAIN_KEYWORDS.items() for k in keys if " " not in k}
        fuzzy = {
            singles[m]: 1
            for t in _tokens(text)
            for m in difflib.get_close_matches(t, sorted(singles), n=1, cutoff=0.8)
        }
        found = _best(fuzzy)
    if found is None and text.strip().lower() in DOMAINS:
        found = text.strip().lower()
    return found


def detect_domain(vibe: Vibe) -> str:
    """One of :data:`DOMAINS`: from ``vibe.domain`` first (fuzzy), then the description."""
    if vibe.domain and vibe.domain.strip():
        found = known_domain(vibe.domain)
        if found is not None:
            return found
    return _best(domain_scores(vibe.description)) or "general"


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Step:
    """One node of a template; text fields are ``str.format`` templates (see ``_fields``)."""

    id: str
    type: WorkflowNodeType
    tool: str
    text: str
    deps: tuple[str, ...] = ()
    seconds: float = 30.0
    children: tuple[Step, ...] = ()
    section: str | None = None


_A, _G, _T, _V = (WorkflowNodeType.ANALYZE, WorkflowNodeType.GENERATE,
              WorkflowNodeType.TRANSFORM, WorkflowNodeType.VALIDATE)  # fmt: skip


def _trio(research: str, style: str) -> tuple[Step, ...]:
    return (
        Step("brief", _A, "brief", 'Write the brief for "{d}": goal, audience, key messages, tone'),
        Step("research", _A, "research_notes", research, seconds=60),
        Step("style", _A, "style_analysis", style, seconds=20),
    )


_REVIEW = Step("review", _V, "review", 'Review "{d}" against the constraints: {constraints}')
_TRIO_DEPS = ("brief", "research", "style")

TEMPLATES: dict[str, tuple[Step, ...]] = {
    "writing": (
        *_trio('Collect angles, facts and references for "{d}"',
               "Turn the style ({style}) into concrete writing guidance"),
        Step("outline", _G, "outline", 'Outline "{d}": a title and sections built from the brief '
             "and research", _TRIO_DEPS, 45),
        Step("draft", _G, "combine", 'Join the sections into one draft of "{d}"', ("outline",), 10,
             children=(
                 Step("intro", _G, "draft", "Write the introduction: the hook and the promise",
                      seconds=60, section="intro"),
                 Step("body", _G, "draft", "Write the body, one section per key message",
                      seconds=120, section="body"),
                 Step("conclusion", _G, "draft", "Write the conclusion and the call to action",
                      seconds=45, section="conclusion"),
             )),
        replace(_REVIEW, deps=("draft",)),
    ),
    "docs": (
        *_trio('List prerequisites, versions and common errors for "{d}"',
               "Set the documentation voice from the style ({style})"),
        Step("outline", _G, "outline", 'Structure "{d}": overview, prerequisites, numbered steps, '
             "troubleshooting", _TRIO_DEPS, 45),
        Step("write", _G, "combine", 'Assemble the documentation for "{d}"', ("outline",), 10,
             children=(
                 Step("overview", _G, "draft", "Write the overview: what it is, who it is for",
                      seconds=45, section="intro"),
                 Step("steps", _G, "draft", "Write the prerequisites and step-by-step instructions",
                      seconds=150, section="body"),
                 Step("troubleshooting", _G, "draft", "Write troubleshooting and next steps",
                      seconds=60, section="conclusion"),
             )),
        replace(_REVIEW, deps=("write",)),
    ),
    "video": (
        *_trio('Gather visual references, b-roll and pacing examples for "{d}"',
               "Define the look and sound of the video from the style ({style})"),
        Step("treatment", _G, "outline", 'Write the treatment for "{d}": hook, beats, payoff',
             _TRIO_DEPS, 60),
        Step("script", _G, "draft", "Write the voice-over script from the treatment",
             ("treatment",), 90),
        Step("soundtrack", _G, "audio_plan", "Plan the soundtrack: tempo, key, instrumentation, "
             "timing", ("brief", "style"), 60),
        Step("storyboard", _G, "combine", 'Join shots and frames into the storyboard for "{d}"',
             ("treatment", "script"), 10, children=(
                 Step("shots", _G, "shot_list", "Break the script into numbered shots with timing",
                      seconds=60),
                 Step("frames", _G, "image_prompt", "Write an image prompt for each key frame",
                      ("shots",), 45),
             )),
        Step("assemble", _T, "combine", "Assemble script, storyboard and music into an edit plan",
             ("script", "storyboard", "soundtrack"), 15),
        replace(_REVIEW, deps=("assemble",)),
    ),
    "audio": (
        *_trio('Find reference tracks, sounds and talking points for "{d}"',
               "Translate the style ({style}) into sound: tempo, texture, delivery"),
        Step("outline", _G, "outline", 'Shape the structure of the {piece} for "{d}"',
             _TRIO_DEPS, 45),
        Step("production", _G, "combine", 'Join words and arrangement into the {piece} sheet',
             ("brief", "outline"), 10, children=(
                 Step("{words}", _G, "draft", "Write the {words} section by section",
                      seconds=120),
                 Step("arrangement", _G, "audio_plan", "Plan arrangement, tempo, key and timing",
                      seconds=90),
             )),
        replace(_REVIEW, deps=("production",)),
    ),
    "visual": (
        *_trio('Build a moodboard and category references for "{d}"',
               "Turn the style ({style}) into palette, type and composition rules"),
        Step("concepts", _G, "outline", 'Define the concepts (or screens) for "{d}"',
             _TRIO_DEPS, 45),
        Step("assets", _G, "combine", 'Package prompts and spec for "{d}"', ("brief", "concepts"),
             10, children=(
                 Step("prompts", _G, "image_prompt", "Write image-model prompts for each concept",
                      seconds=60),
                 Step("spec", _G, "draft", "Write the design rationale and spec for each concept",
                      seconds=90),
             )),
        replace(_REVIEW, deps=("assets",)),
    ),
    "marketing": (
        *_trio('Research the audience, competitors and channels for "{d}"',
               "Define the brand voice from the style ({style})"),
        Step("strategy", _G, "outline", 'Plan the strategy for "{d}": positioning, messages, '
             "channels, timeline", _TRIO_DEPS, 60),
        Step("assets", _T, "combine", 'Bundle the campaign assets for "{d}"',
             ("brief", "strategy"), 10, children=(
                 Step("copy", _G, "draft", "Write the campaign copy per channel", seconds=90),
                 Step("visuals", _G, "image_prompt", "Write prompts for the key visuals",
                      seconds=60),
                 Step("teaser", _G, "shot_list", "Plan a short teaser video shot by shot",
                      seconds=60),
             )),
        replace(_REVIEW, deps=("assets",)),
    ),
    "general": (
        *_trio('Collect background and examples for "{d}"',
               "Turn the style ({style}) into concrete guidance"),
        Step("outline", _G, "outline", 'Outline "{d}" from the brief and research', _TRIO_DEPS, 45),
        Step("draft", _G, "draft", 'Write a first complete draft of "{d}"', ("outline",), 120),
        replace(_REVIEW, deps=("draft",)),
    ),
}  # fmt: skip


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split()).replace('"', "'")
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:") + "..."


class KnowledgePlanner:
    """Plans from built-in domain templates; synchronous, pure and deterministic."""

    name = "knowledge"

    def plan(self, vibe: Vibe, plan_id: str | None = None) -> WorkflowPlan:
        """The plan for ``vibe``; raises ``PlanValidationError`` if it cannot be valid."""
        domain = detect_domain(vibe)
        fields = self._fields(vibe)
        base: dict[str, Any] = {
            "domain": domain,
            "style": vibe.style,
            "constraints": list(vibe.constraints),
        }
        roots = [self._node(step, fields, base) for step in TEMPLATES[domain]]
        plan = WorkflowPlan(id=plan_id or derive_plan_id(vibe), source_vibe=vibe, root_nodes=roots)
        graph = plan.validate_plan()
        durations = {n.id: n.estimated_duration or 0.0 for n in plan.iter_nodes()}
        plan.estimated_total_duration = graph.critical_path(durations)
        return plan

    @staticmethod
    def _fields(vibe: Vibe) -> dict[str, str]:
        text = f"{vibe.description} {vibe.domain or ''}".lower()
        spoken = any(re.search(rf"\b{w}", text) for w in _SPOKEN)
        return {
            "d": _clip(vibe.description),
            "style": _clip(vibe.style, 60) if vibe.style else "none given: clear and friendly",
            "constraints": "; ".join(vibe.constraints) or "none stated (check the brief)",
            "piece": "episode" if spoken else "song",
            "words": "script" if spoken else "lyrics",
        }

    def _node(self, step: Step, fields: dict[str, str], base: dict[str, Any]) -> WorkflowNode:
        params: dict[str, Any] = {
            "tool": step.tool,
            **base,
            "constraints": list(base["constraints"]),
        }
        if step.section:
            params["section"] = step.section
        return WorkflowNode(
            id=step.id.format(**fields),
            type=step.type,
            description=step.text.format(**fields),
            parameters=params,
            dependencies=list(step.deps),
            children=[self._node(child, fields, base) for child in step.children],
            estimated_duration=step.seconds,
        )
