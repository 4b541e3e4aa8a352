"""Built-in offline tools: deterministic drafts with no LLM, no I/O, no clock and no randomness.

Each tool turns the vibe (description, style, constraints, domain) and the outputs of the nodes
it waits on into a structured draft. Every output is JSON data with at least::

    {"offline_draft": True, "tool": <name>, "node_id": <id>, "text": <markdown>, ...}

Tools find their inputs by the ``tool`` field of upstream outputs (an outline looks for a
``brief``), walking nested dicts and lists, so a composite parent's merged output works too.
``node.parameters`` may override ``style``, ``constraints`` and ``domain``; the draft tool also
reads ``section`` (``intro`` | ``body`` | ``conclusion``) to write only part of an outline.
Shared text helpers, input lookup and constraint checks live in :mod:`vibe_aigc.tools.textkit`;
where variety is wanted, choices are hash-based (``textkit.stable_int``), never random.
"""

from __future__ import annotations

import re
from typing import Any

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode
from vibe_aigc.tools.textkit import (
    RATIO_RE,
    TONE_DEFAULT,
    Facts,
    Output,
    bullet_list,
    cap,
    check_constraint,
    find,
    key_messages,
    keywords,
    limit_for,
    lower_first,
    make_output,
    mention_target,
    pick,
    read_facts,
    section_prose,
    sentence,
    slug,
    split_style,
    stable_int,
    style_guidance,
    subject_outputs,
    sum_counts,
    word_count,
)

# --------------------------------------------------------------------------- knowledge tables
# fmt: off

# domain -> (key messages, research angles, references to find); {s} subject, {a} audience
_KNOW: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "writing": (("Why {s} matters right now", "What most people get wrong about {s}",
                 "Practical steps {a} can take today"),
                ("a surprising fact or number about {s}", "a real story that shows {s}",
                 "the strongest counter-argument, and the answer to it"),
                ("2-3 recent statistics about {s}", "One expert quote", "One case study")),
    "docs": (("Set up {s} from scratch", "Learn the core concepts of {s}",
              "Build a first working example with {s}", "Fix the errors newcomers hit"),
             ("what users try first with {s}", "prerequisites, versions and platforms",
              "the errors newcomers hit most often"),
             ("Official reference for {s}", "A minimal runnable example", "Known issues / FAQ")),
    "video": (("Open on one striking image of {s}", "Show {s} in action, not in words",
               "Land the payoff and a clear call to action"),
              ("how comparable videos pace their first 5 seconds",
               "locations, props and b-roll for {s}", "music and sound that fit the mood"),
              ("3 reference films or ads", "Stock / b-roll sources", "Licensed music options")),
    "audio": (("The feeling {s} should leave behind", "A hook line people can hum or quote",
               "A clear arc from opening to ending"),
              ("reference tracks or shows with a similar feel", "sounds and motifs tied to {s}",
               "imagery and talking points worth using"),
              ("3 reference tracks or episodes", "Sample / sound libraries", "Guest options")),
    "visual": (("Readable at a glance", "Expresses {s} with one strong idea",
                "Works at small and large sizes"),
               ("category conventions for {s}, and where to break them",
                "symbols and metaphors linked to {s}", "colour and type references"),
               ("Moodboard of 6-9 images", "Competitor examples", "Font and palette candidates")),
    "marketing": (("The problem {a} feel today", "How {s} solves it, in one line",
                   "Proof: a number, a quote or a demo", "A clear call to action"),
                  ("audience pain points, in their own words", "competitor positioning and gaps",
                   "channels where {a} already spend time"),
                  ("Customer quotes or reviews", "Competitor ads", "Channel benchmarks")),
    "general": (("The core idea of {s}", "Why it matters to {a}", "What to do next"),
                ("background on {s}", "examples and precedents", "risks and open questions"),
                ("Two background sources", "One worked example", "One expert opinion")),
}
_SPOKEN = ("podcast", "episode", "interview", "voiceover", "voice-over", "audiobook", "radio")
_UI = ("app", "ui", "ux", "screen", "interface", "website", "dashboard", "landing page")
_SCREENS = ("Onboarding", "Home", "Detail", "Create", "Profile", "Settings", "Search")
_FRAMES = ("Medium shot", "Close-up", "Over-the-shoulder", "Tracking shot", "Insert detail",
           "Low-angle hero shot", "Aerial / drone", "Handheld POV")
_ASPECTS = (("logo", "1:1"), ("icon", "1:1"), ("avatar", "1:1"), ("album", "1:1"),
            ("poster", "2:3"), ("flyer", "2:3"), ("book cover", "2:3"), ("story", "9:16"),
            ("instagram", "4:5"), ("app", "9:19.5"), ("mobile", "9:19.5"), ("banner", "16:9"),
            ("thumbnail", "16:9"), ("social media", "4:5"), ("header", "16:9"),
            ("website", "16:10"))
_KINDS = ("logo", "poster", "illustration", "icon", "banner", "album cover", "thumbnail",
          "infographic", "mockup", "photo")
_TEMPO = (("lo-fi", 80), ("chill", 82), ("calm", 72), ("ambient", 70), ("sad", 68),
          ("melancholic", 66), ("upbeat", 120), ("energetic", 128), ("dance", 124), ("edm", 126),
          ("rock", 132), ("jazz", 110), ("epic", 100), ("cinematic", 96), ("hip hop", 90))
_INSTRUMENTS: tuple[tuple[tuple[str, ...], list[str]], ...] = (
    (("lo-fi",), ["dusty drum loop", "Rhodes piano", "muted bass", "vinyl crackle"]),
    (("jazz",), ["upright bass", "brushed drums", "piano", "muted trumpet"]),
    (("cinematic", "epic", "orchestral"), ["strings", "brass", "taikos", "choir pads"]),
    (("rock",), ["electric guitars", "bass guitar", "live drums"]),
    (("electronic", "synth", "edm", "dance"), ["analog synth bass", "drum machine", "arp lead"]),
    (("acoustic", "folk"), ["acoustic guitar", "upright piano", "light percussion"]),
    (("hip hop",), ["808 bass", "sampled drums", "vocal chops"]),
    (("ambient", "calm"), ["warm pads", "felt piano", "field recordings"]),
)
_SONG = (("Intro", 4), ("Verse 1", 16), ("Chorus", 8), ("Verse 2", 16), ("Chorus", 8),
         ("Bridge", 8), ("Final chorus", 8), ("Outro", 4))
# fmt: on


def _know(domain: str, part: int, f: Facts) -> list[str]:
    templates = _KNOW.get(domain, _KNOW["general"])[part]
    return [t.format(s=f.subject, a=f.audience) for t in templates]


def _sec(role: str, heading: str, *bullets: str) -> dict[str, Any]:
    return {"id": slug(heading), "role": role, "heading": heading, "bullets": list(bullets)}


def outline_sections(f: Facts, messages: list[str], angles: list[str]) -> list[dict[str, Any]]:
    """Domain-shaped sections; body sections come from the key messages and research angles."""
    s, a, d = f.subject, f.audience, f.domain
    msgs = messages or _know(d, 0, f)
    angles = angles or _know(d, 1, f)
    must = [f"Mention {t}" for c in f.constraints if (t := mention_target(c))]
    body = [
        _sec("body", m, f"Evidence: {angles[i % len(angles)]}", f"Example: one real case for {a}")
        for i, m in enumerate(msgs[:4])
    ]
    body[0]["bullets"] += must
    if d == "docs":
        steps = [_sec("body", f"Step {i}: {m}", f"Code: a runnable snippet that shows how to "
                      f"{lower_first(m)}", f"Check: what {a} should see when it works")
                 for i, m in enumerate(msgs[:4], 1)]  # fmt: skip
        steps[0]["bullets"] += must
        return [
            _sec("intro", "Overview", f"This guide walks you through {s}, step by step",
                 f"It is written for {a}"),
            _sec("body", "Prerequisites", "Before you start, check the tools and versions below",
                 f"Reference: {angles[1 % len(angles)]}"),
            *steps,
            _sec("conclusion", "Troubleshooting and next steps",
                 "If something fails, check the most common error first",
                 f"Reference: {angles[-1]}",
                 "When it works, explore the official reference next"),
        ]  # fmt: skip
    if d == "visual" and f.mentions(*_UI):
        wanted = limit_for(f.constraints, "screen")
        n = max(1, min(int(wanted.target() or 4) if wanted else 4, len(_SCREENS)))
        return [
            _sec("intro" if i == 0 else "body", f"Screen: {name}",
                 f"Purpose: help {a} {pick(['start', 'browse', 'act', 'decide'], i)} with {s}",
                 f"Key element: {msgs[i % len(msgs)]}", *(must if i == 0 else []))
            for i, name in enumerate(_SCREENS[:n])
        ]  # fmt: skip
    if d == "visual":
        return [_sec("body", f"Direction {i}: {m}", f"Reference: {angles[(i - 1) % len(angles)]}")
                for i, m in enumerate(msgs[:3], 1)]  # fmt: skip
    if d == "audio" and not f.mentions(*_SPOKEN):
        hook = f"{cap(s)}, {pick(['all night', 'right now', 'one more time'], s)}"
        return [
            _sec("intro", "Verse 1", msgs[0], f"Set the scene around {s}", *must),
            _sec("body", "Chorus", f"Hook: '{hook}'", msgs[1 % len(msgs)]),
            _sec("body", "Verse 2", msgs[-1], "Raise the stakes"),
            _sec("conclusion", "Bridge and final chorus", "Turn the feeling", f"Hook: '{hook}'"),
        ]
    if d == "marketing":
        return [
            _sec("intro", "Positioning", f"{cap(s)} is the simplest answer for {a}", msgs[0]),
            _sec("body", "Audience and insight", f"Evidence: {angles[0]}"),
            _sec("body", "Key messages", *msgs, *must),
            _sec("body", "Channels and assets", "Social posts carry the story day to day",
                 "A short video shows it in action", "Email turns interest into action"),
            _sec("conclusion", "Timeline and success metrics",
                 "Teaser week, launch day, follow-up week", "Track reach, clicks and sign-ups"),
        ]  # fmt: skip
    spoken = d in ("audio", "video")
    return [
        _sec("intro", "Cold open and intro" if spoken else "Introduction",
             f"{cap(s)} matters to {a} more than it first seems",
             f"By the end, {a} will have a clear picture and one thing to try"),
        *body,
        _sec("conclusion", "Call to action" if spoken else "Conclusion",
             f"To recap: {'; '.join(lower_first(m) for m in msgs[:3])}",
             "Pick one idea above and try it this week"),
    ]  # fmt: skip


# --------------------------------------------------------------------------- tools


class OfflineTool:
    """Base of the built-in tools: ``run`` reads the facts and calls :meth:`build`."""

    name = "offline"
    description = "offline tool"

    async def run(self, node: WorkflowNode, context: NodeContext) -> Output:
        return self.build(node, context, read_facts(node, context))

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        raise NotImplementedError


class BriefTool(OfflineTool):
    name = "brief"
    description = "Creative brief: goal, audience, key messages, tone, constraints, open questions."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        messages = _know(f.domain, 0, f)
        messages += [f"Make sure to mention {t}" for c in f.constraints if (t := mention_target(c))]
        tone = split_style(f.style) or TONE_DEFAULT
        questions = ["Which sources, assets or examples already exist?"]
        if not f.style:
            questions.append("What tone should it have? (no style was given)")
        if not f.constraints:
            questions.append("Any length, format, budget or deadline limits?")
        if f.domain in ("video", "visual", "marketing"):
            questions.append("Where will it be published, and in which formats / aspect ratios?")
        text = (
            f"# Brief: {f.description}\n\n**Goal:** {f.description}\n\n**Audience:** {f.audience}"
            f"\n\n**Tone:** {', '.join(tone)}\n\n## Key messages\n{bullet_list(messages)}\n\n"
            f"## Constraints\n{bullet_list(f.constraints or ['(none given)'])}\n\n"
            f"## Open questions\n{bullet_list(questions)}"
        )
        out = make_output(self.name, node, text, goal=f.description, domain=f.domain)
        out.update(deliverable=f.deliverable, subject=f.subject, audience=f.audience)
        out.update(key_messages=messages, tone=tone, constraints=f.constraints)
        out.update(open_questions=questions, keywords=keywords(f.description))
        return out


class ResearchNotesTool(OfflineTool):
    name = "research_notes"
    description = "Research plan: topic angles, references to find, facts to verify."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        kws = keywords(f"{f.subject} {f.description}", 5)
        angles = _know(f.domain, 1, f) + [f"how '{k}' shapes the piece" for k in kws[:2]]
        refs = _know(f.domain, 2, f)
        verify = [
            f"Every number or claim about {f.subject} has a source",
            "Names, dates and product details are current",
        ]
        text = (
            f"# Research notes: {f.subject}\n\n## Angles\n{bullet_list(angles)}\n\n"
            f"## References to find\n{bullet_list(refs)}\n\n## Verify\n{bullet_list(verify)}"
        )
        out = make_output(self.name, node, text, subject=f.subject, angles=angles, keywords=kws)
        out.update(references_to_find=refs, facts_to_verify=verify)
        return out


class StyleAnalysisTool(OfflineTool):
    name = "style_analysis"
    description = "Style keywords turned into concrete do / don't guidance."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        style_words = split_style(f.style) or TONE_DEFAULT
        guidance = style_guidance(style_words)
        dont = ["Mixing tones between sections", "Generic stock phrasing or imagery"]
        if any("minimal" in w or "concise" in w for w in style_words):
            dont.append("Decoration that carries no meaning")
        text = (
            f"# Style guide: {f.style or 'default (clear, friendly)'}\n\n"
            + "\n".join(f"- **{k}**: {g}" for k, g in guidance.items())
            + f"\n\n## Avoid\n{bullet_list(dont)}"
        )
        out = make_output(self.name, node, text, style=f.style, style_keywords=style_words)
        out.update(guidance=guidance, do=list(guidance.values()), dont=dont)
        return out


class OutlineTool(OfflineTool):
    name = "outline"
    description = "Title and sections with bullet points, built from the brief and research."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        brief, research = find(context, "brief"), find(context, "research_notes")
        style = find(context, "style_analysis")
        sections = outline_sections(f, key_messages(context), list(research.get("angles", [])))
        first_rule = next(iter(style.get("guidance", {}).values()), None)
        if first_rule:
            sections[0]["bullets"].append(f"Style: {first_rule}")
        title = cap(f.subject)
        parts = (f"## {s['heading']}\n{bullet_list(s['bullets'])}" for s in sections)
        counts = {"section": len(sections)}
        if f.domain == "visual" and f.mentions(*_UI):
            counts["screen"] = len(sections)
        used = [o["node_id"] for o in (brief, research, style) if o]
        text = f"# {title}\n\n" + "\n\n".join(parts)
        return make_output(
            self.name, node, text, title=title, sections=sections, counts=counts, used_inputs=used
        )


def _draft_sections(context: NodeContext, f: Facts) -> list[dict[str, Any]]:
    if sections := find(context, "outline").get("sections"):
        return list(sections)
    if structure := find(context, "audio_plan").get("structure"):
        return [_sec("body", s["section"], s["notes"]) for s in structure]
    return outline_sections(f, key_messages(context), [])


class DraftTool(OfflineTool):
    name = "draft"
    description = "Section-by-section prose draft from the outline (template text, no LLM)."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        every = _draft_sections(context, f)
        part = node.parameters.get("section")
        chosen = [s for s in every if s.get("role") == part] if part else every
        lyrics = f.domain == "audio" and not f.mentions(*_SPOKEN)
        lim = limit_for(f.constraints, "word")
        limit = lim.target() if lim and lim.high is not None else None
        # leave 10% for headings and titles; a section child gets its share of the limit
        per = int(limit * 0.9 / len(every)) if limit and every else None
        drafted = []
        for sec in chosen:
            lines = section_prose(sec, f, node.id)
            if lyrics:
                bullets = [b for b in sec.get("bullets", []) if not b.startswith("Style:")]
                lines = [cap(b.split(": ", 1)[-1].strip("'")) for b in bullets]
            budget = None if per is None else max(3, per - word_count(sec["heading"]))
            while budget is not None and len(lines) > 1 and sum(map(word_count, lines)) > budget:
                lines.pop()
            if budget is not None and lines and word_count(lines[0]) > budget:
                lines = [" ".join(lines[0].split()[:budget]).rstrip(",.;:") + "..."]
            body = ("\n" if lyrics else " ").join(lines)
            drafted.append({"id": sec.get("id"), "heading": sec["heading"], "text": body})
        text = "\n\n".join(f"## {s['heading']}\n\n{s['text']}" for s in drafted)
        text = text or f"(the outline has no '{part}' section)"
        out = make_output(self.name, node, text, section=part, sections=drafted)
        out.update(word_count=word_count(text), format="lyrics" if lyrics else "prose")
        out.update(counts={"section": len(drafted)})
        return out


class ShotListTool(OfflineTool):
    name = "shot_list"
    description = "Numbered shots with duration, framing, description and audio."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        # a campaign strategy's sections are not story beats: use the brief's messages there
        sections = [] if f.domain == "marketing" else find(context, "outline").get("sections")
        beats = [s["heading"] for s in sections or [] if s.get("role") == "body"]
        beats = beats or key_messages(context) or _know("video", 0, f)
        beats = [re.sub(r"^[\w ]+: ", "", b) for b in beats[:8]]
        lim = limit_for(f.constraints, "second")
        vertical = f.mentions("tiktok", "reel", "shorts", "vertical", "9:16", "story", "social")
        total = 90 if f.mentions("trailer") else 30 if vertical else 60
        total = int(lim.target() or total) if lim else total
        plan = [f"Establish {f.subject}", *beats, f"End card: {cap(f.subject)} and the CTA"]
        n, look = len(plan), ", ".join(split_style(f.style)) or "natural light"
        base, extra = divmod(total, n)
        start = stable_int(node.id, f.subject)
        shots = []
        for i, beat in enumerate(plan):
            framing = _FRAMES[(start + i) % len(_FRAMES)]
            framing = "Wide establishing shot" if i == 0 else framing
            framing = "Static graphic / end card" if i == n - 1 else framing
            audio = f'VO: "{sentence(beat)}"' if 0 < i < n - 1 else "Music fades in"
            audio = "Music sting; logo sound" if i == n - 1 else audio
            shots.append(
                {
                    "number": i + 1,
                    "duration_seconds": base + (1 if i < extra else 0),
                    "framing": framing,
                    "beat": beat,
                    "description": f"{sentence(beat)} Look: {look}.",
                    "audio": audio,
                }
            )
        ratio = "9:16" if vertical else "16:9"
        rows = "\n".join(
            f"| {s['number']} | {s['duration_seconds']}s | {s['framing']} | {s['description']} "
            f"| {s['audio']} |"
            for s in shots
        )
        text = (
            f"# Shot list: {f.subject} ({total}s, {ratio})\n\n"
            f"| # | Time | Framing | Description | Audio |\n|---|---|---|---|---|\n{rows}"
        )
        out = make_output(self.name, node, text, shots=shots, duration_seconds=total)
        out.update(aspect_ratio=ratio, counts={"shot": n, "scene": len(beats)})
        return out


class ImagePromptTool(OfflineTool):
    name = "image_prompt"
    description = "Prompt specs for an image model: prompt, negative prompt, aspect, tags, seed."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        ui = f.domain == "visual" and f.mentions(*_UI)
        shots = find(context, "shot_list").get("shots") or []
        sections = [] if f.domain == "marketing" else find(context, "outline").get("sections")
        items = [f"{s['framing'].lower()}, {s['beat']}" for s in shots]
        for sec in [] if items else sections or []:
            key = [b.split(": ", 1)[1] for b in sec.get("bullets", []) if b.startswith("Key")]
            items.append(", ".join([sec["heading"], *map(lower_first, key[:1])]))
        items = items or key_messages(context) or _know("visual", 0, f)
        items = [re.sub(r"^(Screen|Direction \d+): ", "", i) for i in items]
        wanted = limit_for(f.constraints, "variation", "concept", "option", "image")
        n = min(len(items), 12 if shots else 6 if ui else 4)
        n = int(wanted.target() or 3) if wanted else n
        explicit = RATIO_RE.search(f.text)
        aspect = next((r for k, r in _ASPECTS if f.mentions(k)), "16:9" if shots else "1:1")
        aspect = explicit.group(0) if explicit else aspect
        default = "social media ad visual" if f.domain == "marketing" else "illustration"
        kind = next((k for k in _KINDS if f.mentions(k)), default)
        kind = "mobile app UI screen" if ui else "storyboard frame" if shots else kind
        tags = split_style(f.style) + (["vector", "flat", "centered"] if kind == "logo" else [])
        negative = "blurry, low resolution, watermark, jpeg artifacts, distorted text"
        negative += ", photo, complex background" if kind == "logo" else ""
        negative += ", lorem ipsum, skewed perspective" if ui else ""
        prompts = []
        for i in range(n):
            variant = f", variation {i // len(items) + 1}" if i >= len(items) else ""
            prompt = f"{kind} for {f.subject}, {items[i % len(items)]}{variant}"
            prompt += f", {', '.join(tags) or 'clean composition'}, high detail"
            seed = stable_int(node.id, i) % 2**31
            prompts.append(
                {
                    "id": f"{node.id}-{i + 1}",
                    "prompt": prompt,
                    "seed": seed,
                    "negative_prompt": negative,
                    "aspect_ratio": aspect,
                    "style_tags": tags,
                }
            )
        text = f"# Image prompts: {f.subject} ({aspect})\n\n" + "\n\n".join(
            f"**{p['id']}** (seed {p['seed']})\n- prompt: {p['prompt']}\n- negative: {negative}"
            for p in prompts
        )
        counts = {"image": n, ("screen" if ui else "variation"): n}
        out = make_output(self.name, node, text, prompts=prompts, aspect_ratio=aspect)
        out.update(kind=kind, counts=counts)
        return out


class AudioPlanTool(OfflineTool):
    name = "audio_plan"
    description = "Music or spoken-audio plan: structure, tempo, key, instrumentation, timing."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        msgs = key_messages(context) or _know("audio", 0, f)
        lim = limit_for(f.constraints, "second")
        target = lim.target() if lim and lim.high is not None else None
        bpm = next((t for k, t in _TEMPO if f.mentions(k)), 96 + stable_int(f.subject) % 24)
        minor = f.mentions("dark", "sad", "melancholic", "moody", "cinematic", "epic", "tense")
        key = pick(["C", "D", "E", "F", "G", "A", "Bb"], f.subject)
        key += " minor" if minor else " major"
        default = ["piano", "bass", "drums", "acoustic guitar"]
        instruments = next((i for ks, i in _INSTRUMENTS if f.mentions(*ks)), default)
        beats = 3 if f.mentions("waltz") else 4
        structure: list[dict[str, Any]] = []
        if f.mentions(*_SPOKEN) and f.domain != "video":
            kind, total = "spoken", int(target or 1500)
            segs = ["Cold open", "Intro and welcome", *msgs[:4], "Outro and call to action"]
            weights = [1, 2, *[6] * (len(segs) - 3), 1]
            for seg, w in zip(segs, weights, strict=True):
                structure.append(
                    {
                        "section": seg,
                        "bars": None,
                        "notes": f"Talking points: {seg}",
                        "seconds": total * w // sum(weights),
                    }
                )
        else:
            kind = "jingle" if f.mentions("jingle", "sting", "ident", "ad") else "song"
            shape = [("Intro", 2), ("Hook", 8), ("Tagline", 4)] if kind == "jingle" else _SONG
            bar = beats * 60 / bpm
            scale = min(1.0, target / (sum(b for _, b in shape) * bar)) if target else 1.0
            for i, (sec, bars) in enumerate(shape):
                bars = max(2, int(bars * scale) // 2 * 2) if scale < 1 else bars
                notes = f"{instruments[i % len(instruments)]}; {msgs[i % len(msgs)]}"
                structure.append(
                    {"section": sec, "bars": bars, "notes": notes, "seconds": round(bars * bar, 1)}
                )
        duration = round(sum(s["seconds"] for s in structure), 1)
        lines = [f"{s['section']} ({s['seconds']:g}s): {s['notes']}" for s in structure]
        text = (
            f"# Audio plan ({kind}): {f.subject}\n\n**Tempo:** {bpm} BPM, {beats}/4 · **Key:** "
            f"{key} · **Length:** {duration:g}s\n\n**Instrumentation:** {', '.join(instruments)}"
            f"\n\n{bullet_list(lines)}"
        )
        out = make_output(self.name, node, text, kind=kind, structure=structure, key=key)
        out.update(tempo_bpm=bpm, time_signature=f"{beats}/4", instrumentation=instruments)
        out.update(duration_seconds=duration, counts={"section": len(structure)})
        return out


class CombineTool(OfflineTool):
    name = "combine"
    description = "Merge inputs (a parent's children, else its dependencies) into one document."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        parts = subject_outputs(context, context.child_outputs or context.dependency_outputs)
        title = str(find(context, "outline").get("title") or cap(f.subject))
        bodies = [re.sub(r"(?m)^(#+) ", r"#\1 ", str(p["text"])) for p in parts]
        text = f"# {title}\n\n" + "\n\n".join(bodies)
        durations = [p["duration_seconds"] for p in parts if p.get("duration_seconds")]
        summary = [
            {"node_id": p["node_id"], "tool": p["tool"], "words": word_count(p["text"])}
            for p in parts
        ]
        out = make_output(self.name, node, text, title=title, word_count=word_count(text))
        out.update(counts=sum_counts(parts), duration_seconds=max(durations, default=None))
        out.update(parts=summary)
        return out


class ReviewTool(OfflineTool):
    name = "review"
    description = "Checklist of every constraint (tested where possible) and an overall verdict."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        deps = context.dependency_outputs
        own = {k: v for k, v in deps.items() if k in node.dependencies} or deps
        reviewed = subject_outputs(context, own) + subject_outputs(context, context.child_outputs)
        text = "\n\n".join(str(o["text"]) for o in reviewed)
        durations = [o["duration_seconds"] for o in reviewed if o.get("duration_seconds")]
        duration = float(max(durations)) if durations else None
        counts = sum_counts(reviewed)
        checks = [check_constraint(c, text, counts, duration) for c in f.constraints]
        goal = keywords(f.subject, 6)
        covered = [k for k in goal if k in text.lower()]
        checks.append(
            {
                "constraint": None,
                "kind": "non_empty",
                "passed": word_count(text) > 0,
                "evidence": f"{word_count(text)} words from {len(reviewed)} output(s)",
            }
        )
        checks.append(
            {
                "constraint": None,
                "kind": "goal_coverage",
                "passed": len(covered) * 2 >= len(goal),
                "evidence": f"{len(covered)}/{len(goal)} goal keywords present: "
                f"{', '.join(covered) or '-'}",
            }
        )
        failed = [c["constraint"] or c["kind"] for c in checks if c["passed"] is False]
        marks = {True: "[x]", False: "[ ] FAIL", None: "[?] manual"}
        lines = [
            f"- {marks[c['passed']]} {c['constraint'] or c['kind']}: {c['evidence']}"
            for c in checks
        ]
        verdict = f"FAILED ({len(failed)} check(s))" if failed else "PASSED"
        out = make_output(self.name, node, f"# Review: {verdict}\n\n" + "\n".join(lines))
        out.update(passed=not failed, checks=checks, failed=failed, word_count=word_count(text))
        out.update(needs_manual_review=any(c["passed"] is None for c in checks))
        out.update(reviewed=[o["node_id"] for o in reviewed])
        return out


OFFLINE_TOOLS: tuple[type[OfflineTool], ...] = (
    BriefTool,
    ResearchNotesTool,
    StyleAnalysisTool,
    OutlineTool,
    DraftTool,
    ShotListTool,
    ImagePromptTool,
    AudioPlanTool,
    CombineTool,
    ReviewTool,
)
DEFAULT_TOOLS: dict[str, str] = {
    "analyze": "brief",
    "generate": "draft",
    "transform": "combine",
    "validate": "review",
    "composite": "combine",
}


def offline_tools() -> list[OfflineTool]:
    """A fresh instance of every built-in offline tool."""
    return [cls() for cls in OFFLINE_TOOLS]
