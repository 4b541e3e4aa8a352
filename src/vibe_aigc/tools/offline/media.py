"""Media tools: the shot list, image prompt specs and the audio plan.

All three read the same resolved targets (:attr:`Facts.targets`), so in one plan the shots and
the soundtrack last exactly the same number of seconds, one frame prompt is written per shot,
the screens prompted are the screens outlined, and an album has its target number of tracks.
Durations are shared out with :func:`~vibe_aigc.tools.textkit.apportion`: they sum exactly.
"""

from __future__ import annotations

import re
from typing import Any

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode
from vibe_aigc.tools.constraints import RATIO_RE
from vibe_aigc.tools.facts import Facts
from vibe_aigc.tools.offline.base import OfflineTool, know
from vibe_aigc.tools.offline.tables import ASPECTS, FRAMES, INSTRUMENTS, KINDS, SONG, TEMPO, UI
from vibe_aigc.tools.offline.writing import album_titles, track_seconds
from vibe_aigc.tools.textkit import (
    Output,
    apportion,
    bullet_list,
    cap,
    clip,
    find,
    key_messages,
    lower_first,
    make_output,
    pick,
    sentence,
    split_style,
    stable_int,
)

_MAX_SHOTS = 40
_CUE = (("Intro", 2), ("Build", 4), ("Peak", 4), ("Outro / sting", 2))
_JINGLE = (("Intro", 2), ("Hook", 8), ("Tagline", 4))


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _shot_plan(f: Facts, beats: list[str], total: int) -> list[str]:
    """The beat of each shot: establish, the beats, the end card; a shot-count target or a
    long duration adds cutaways, a short duration drops beats (every shot lasts >= 1 s)."""
    plan = [f"Establish {f.subject}", *beats, f"End card: {cap(f.subject)} and the call to action"]
    if f.targets.constrained("shot"):
        n = f.targets.count("shot", len(plan))
    else:
        n = min(_MAX_SHOTS, max(len(plan), -(-total // 10)), max(1, total))
    while len(plan) > n:
        plan.pop(-2 if len(plan) > 2 else -1)
    i = 0
    while len(plan) < n:
        plan.insert(-1, f"Cutaway: b-roll for {lower_first(beats[i % len(beats)])}")
        i += 1
    return plan


def beat_of(beat: str) -> str:
    return "cutaway (no new line)" if beat.startswith("Cutaway") else f"'{clip(beat, 40)}'"


class ShotListTool(OfflineTool):
    name = "shot_list"
    description = "Numbered shots with start time, duration, framing, description and audio."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        # a campaign strategy's sections are not story beats: use the brief's messages there
        sections = [] if f.domain == "marketing" else find(context, "outline").get("sections")
        beats = [str(s["heading"]) for s in sections or [] if s.get("role") == "body"]
        beats = beats or key_messages(context) or know("video", 0, f)
        beats = [re.sub(r"^[\w ]+: ", "", b) for b in beats]
        scenes = f.targets.count("scene", len(beats)) if f.targets.constrained("scene") else 0
        beats = [beats[i % len(beats)] for i in range(scenes)] if scenes else beats[:8]
        total = _or(f.targets.seconds, 60)
        plan = _shot_plan(f, beats, total)
        n, look = len(plan), ", ".join(split_style(f.style)) or "natural light"
        vertical = f.mentions("tiktok", "reel", "shorts", "vertical", "9:16", "story", "social")
        start, clock, shots = stable_int(node.id, f.subject), 0, []
        for i, (beat, seconds) in enumerate(zip(plan, apportion(total, [1.0] * n), strict=True)):
            framing = FRAMES[(start + i) % len(FRAMES)]
            framing = "Wide establishing shot" if i == 0 else framing
            framing = "Static graphic / end card" if i == n - 1 and n > 1 else framing
            audio = f"VO: script, {beat_of(beat)}" if 0 < i < n - 1 else "Music fades in"
            audio = "Music sting; logo sound" if i == n - 1 and n > 1 else audio
            shots.append(
                {
                    "number": i + 1,
                    "start_seconds": clock,
                    "duration_seconds": seconds,
                    "framing": framing,
                    "beat": beat,
                    "description": f"{sentence(beat)} Look: {look}.",
                    "audio": audio,
                }
            )
            clock += seconds
        ratio = "9:16" if vertical else "16:9"
        rows = "\n".join(
            f"| {s['number']} | {s['start_seconds']}s | {s['duration_seconds']}s | "
            f"{s['framing']} | {s['description']} | {s['audio']} |"
            for s in shots
        )
        text = (
            f"# Shot list: {f.subject} ({clock}s, {ratio})\n\n"
            f"| # | Start | Length | Framing | Description | Audio |\n"
            f"|---|---|---|---|---|---|\n{rows}\n\nTotal: {n} shots, {clock} s."
        )
        out = make_output(self.name, node, text, shots=shots, duration_seconds=clock)
        out.update(aspect_ratio=ratio, counts={"shot": n, "scene": len(beats)})
        return out


class ImagePromptTool(OfflineTool):
    name = "image_prompt"
    description = "Prompt specs for an image model: prompt, negative prompt, aspect, tags, seed."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        ui = f.domain == "visual" and f.mentions(*UI)
        shots = find(context, "shot_list").get("shots") or []
        sections = [] if f.domain == "marketing" else find(context, "outline").get("sections")
        items = [f"{str(s['framing']).lower()}, {s['beat']}" for s in shots]
        for s in [] if items else sections or []:
            key = [b.split(": ", 1)[1] for b in s.get("bullets", []) if b.startswith("Key")]
            items.append(", ".join([str(s["heading"]), *map(lower_first, key[:1])]))
        items = items or key_messages(context) or know("visual", 0, f)
        items = [re.sub(r"^(Screen|Direction \d+|Track \d+): ", "", i) for i in items]
        if f.targets.constrained("image"):
            n = f.targets.count("image", 3)
        elif shots:
            n = len(shots)
        elif ui:
            n = f.targets.count("screen", 4)
        elif f.domain == "visual" or f.targets.constrained("variation"):
            n = f.targets.count("variation", 3)
        else:
            n = min(len(items), 4)
        explicit = RATIO_RE.search(f.text)
        aspect = next((r for k, r in ASPECTS if f.mentions(k)), "16:9" if shots else "1:1")
        aspect = str(find(context, "shot_list").get("aspect_ratio") or aspect)
        aspect = explicit.group(0) if explicit else aspect
        default = "social media ad visual" if f.domain == "marketing" else "illustration"
        kind = next((k for k in KINDS if f.mentions(k)), default)
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
        text = f"# Image prompts: {f.subject} ({n}, {aspect})\n\n" + "\n\n".join(
            f"**{p['id']}** (seed {p['seed']})\n- prompt: {p['prompt']}\n- negative: {negative}"
            for p in prompts
        )
        counts = {"image": n}
        if ui or f.domain == "visual":
            counts["screen" if ui else "variation"] = n
        out = make_output(self.name, node, text, prompts=prompts, aspect_ratio=aspect)
        out.update(kind=kind, counts=counts)
        return out


def _sections(shape: tuple[tuple[str, int], ...], total: int, bar: float) -> list[Any]:
    """Sections of ``shape`` sharing ``total`` seconds exactly (each >= 1 s; bars rounded)."""
    shape = shape[: max(1, min(len(shape), total))] if total < len(shape) else shape
    seconds = apportion(total, [float(b) for _, b in shape])
    return [(name, max(1, round(s / bar)), s) for (name, _), s in zip(shape, seconds, strict=True)]


class AudioPlanTool(OfflineTool):
    name = "audio_plan"
    description = "Music, soundtrack or spoken-audio plan: structure, tempo, key, timing."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        msgs = key_messages(context) or know("audio", 0, f)
        bpm = next((t for k, t in TEMPO if f.mentions(k)), 96 + stable_int(f.subject) % 24)
        minor = f.mentions("dark", "sad", "melancholic", "moody", "cinematic", "epic", "tense")
        key = pick(["C", "D", "E", "F", "G", "A", "Bb"], f.subject) + (
            " minor" if minor else " major"
        )
        default = ["piano", "bass", "drums", "acoustic guitar"]
        instruments = next((i for ks, i in INSTRUMENTS if f.mentions(*ks)), default)
        beats = 3 if f.mentions("waltz") else 4
        bar = beats * 60 / bpm
        structure: list[dict[str, Any]] = []
        tracks: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        if f.spoken and f.domain != "video":
            kind, total = "spoken", _or(f.targets.seconds, 1500)
            segs = ["Cold open", "Intro and welcome", *msgs[:4], "Outro and call to action"]
            weights = [1.0, 2.0, *[6.0] * (len(segs) - 3), 1.0]
            for seg, seconds in zip(segs, apportion(total, weights), strict=True):
                structure.append({"section": seg, "bars": None, "notes": f"Talking points: "
                                  f"{seg}", "seconds": seconds})  # fmt: skip
        elif f.domain == "audio" and f.album:
            kind, n = "album", f.targets.count("track", 10)
            per_track = track_seconds(f, n)
            for i, (title, s) in enumerate(zip(album_titles(f, n), per_track, strict=True)):
                tempo = bpm + (stable_int(f.subject, "bpm", i) % 21) - 10
                notes = f"{tempo} BPM; {instruments[i % len(instruments)]}; {msgs[i % len(msgs)]}"
                tracks.append({"number": i + 1, "title": title, "seconds": s, "tempo_bpm": tempo})
                structure.append({"section": f"Track {i + 1}: {title}", "bars": None,
                                  "notes": notes, "seconds": s})  # fmt: skip
            counts["track"] = n
        else:
            total = _or(f.targets.seconds, 180)
            cue = f.domain in ("video", "marketing")
            jingle = f.mentions("jingle", "sting", "ident", "ad")
            kind = "score cue" if cue else "jingle" if jingle else "song"
            shape = _CUE if cue else _JINGLE if jingle else SONG
            for i, (name, bars, seconds) in enumerate(_sections(shape, total, bar)):
                notes = f"{instruments[i % len(instruments)]}; {msgs[i % len(msgs)]}"
                structure.append({"section": name, "bars": bars, "notes": notes,
                                  "seconds": seconds})  # fmt: skip
        duration = sum(int(s["seconds"]) for s in structure)
        lines = [f"{s['section']} ({s['seconds']}s): {s['notes']}" for s in structure]
        bars_note = "" if kind in ("spoken", "album") else f" (bars approximate at {bpm} BPM)"
        text = (
            f"# Audio plan ({kind}): {f.subject}\n\n**Tempo:** {bpm} BPM, {beats}/4 · **Key:** "
            f"{key} · **Length:** {duration} s{bars_note}\n\n**Instrumentation:** "
            f"{', '.join(instruments)}\n\n{bullet_list(lines)}"
        )
        if tracks:
            text += f"\n\nTracklist: {len(tracks)} tracks, {duration} s in total."
        out = make_output(self.name, node, text, kind=kind, structure=structure, key=key)
        out.update(tempo_bpm=bpm, time_signature=f"{beats}/4", instrumentation=instruments)
        out.update(duration_seconds=duration, counts={"section": len(structure), **counts})
        if tracks:
            out["tracks"] = tracks
        return out
