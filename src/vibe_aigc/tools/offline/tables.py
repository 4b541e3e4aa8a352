"""Knowledge tables of the offline tools: per-domain messages, framings, tempos, shapes.

Pure data. ``KNOW[domain]`` holds (key messages, research angles, references to find) as
``str.format`` templates with ``{s}`` (the subject) and ``{a}`` (the audience).
"""

from __future__ import annotations

# fmt: off

# domain -> (key messages, research angles, references to find); {s} subject, {a} audience
KNOW: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
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
SPOKEN = ("podcast", "episode", "interview", "voiceover", "voice-over", "audiobook", "radio")
UI = ("app", "ui", "ux", "screen", "interface", "website", "dashboard", "landing page")
SCREENS = ("Onboarding", "Home", "Detail", "Create", "Profile", "Settings", "Search")
FRAMES = ("Medium shot", "Close-up", "Over-the-shoulder", "Tracking shot", "Insert detail",
           "Low-angle hero shot", "Aerial / drone", "Handheld POV")
ASPECTS = (("logo", "1:1"), ("icon", "1:1"), ("avatar", "1:1"), ("album", "1:1"),
            ("poster", "2:3"), ("flyer", "2:3"), ("book cover", "2:3"), ("story", "9:16"),
            ("instagram", "4:5"), ("app", "9:19.5"), ("mobile", "9:19.5"), ("banner", "16:9"),
            ("thumbnail", "16:9"), ("social media", "4:5"), ("header", "16:9"),
            ("website", "16:10"))
KINDS = ("logo", "poster", "illustration", "icon", "banner", "album cover", "thumbnail",
          "infographic", "mockup", "photo")
TEMPO = (("lo-fi", 80), ("chill", 82), ("calm", 72), ("ambient", 70), ("sad", 68),
          ("melancholic", 66), ("upbeat", 120), ("energetic", 128), ("dance", 124), ("edm", 126),
          ("rock", 132), ("jazz", 110), ("epic", 100), ("cinematic", 96), ("hip hop", 90))
INSTRUMENTS: tuple[tuple[tuple[str, ...], list[str]], ...] = (
    (("lo-fi",), ["dusty drum loop", "Rhodes piano", "muted bass", "vinyl crackle"]),
    (("jazz",), ["upright bass", "brushed drums", "piano", "muted trumpet"]),
    (("cinematic", "epic", "orchestral"), ["strings", "brass", "taikos", "choir pads"]),
    (("rock",), ["electric guitars", "bass guitar", "live drums"]),
    (("electronic", "synth", "edm", "dance"), ["analog synth bass", "drum machine", "arp lead"]),
    (("acoustic", "folk"), ["acoustic guitar", "upright piano", "light percussion"]),
    (("hip hop",), ["808 bass", "sampled drums", "vocal chops"]),
    (("ambient", "calm"), ["warm pads", "felt piano", "field recordings"]),
)
SONG = (("Intro", 4), ("Verse 1", 16), ("Chorus", 8), ("Verse 2", 16), ("Chorus", 8),
         ("Bridge", 8), ("Final chorus", 8), ("Outro", 4))
# fmt: on

# fmt: off
# what each section of a shape is for: role -> purpose (the outline's "Purpose" column)
PURPOSES = {
    "intro": "Hook {a} and state what they will get from it",
    "body": "Make one point, with one piece of evidence or one example",
    "conclusion": "Sum up and give {a} one next step",
}
BODY_PURPOSES = {
    "video": "One beat of the story: show it on screen",
    "audio": "One segment: a talking point and a story that carries it",
}
ALBUM_ROLES = ("Opener: sets the sound of the record", "Lead single: the strongest hook",
               "Closer: resolves the album's arc")
ALBUM_MIDDLE = ("Deep cut: room to explore", "Mid-album lift: tempo up",
                "Slow song: the emotional centre", "Interlude: a change of texture")
ALBUM_WORDS = ("Morning", "Static", "Harbour", "Paper", "Neon", "Orbit", "Ember", "Tide",
               "Glass", "Echo", "Northbound", "Velvet", "Signal", "Hollow", "Bloom", "Drift")
# production checks per domain, appended to every kit's checklist
PRODUCTION_CHECKS = {
    "writing": ("Check every fact, number and quote against a source",),
    "docs": ("Run every command and code sample exactly as written",
             "Check versions and platform notes against the current release"),
    "video": ("Licence the music, footage and fonts", "Export captions / subtitles"),
    "audio": ("Check tempo and key against the reference tracks", "Master to the target length"),
    "visual": ("Test the design at small and large sizes", "Check contrast and legibility"),
    "marketing": ("Set up tracking for every channel", "Check claims and prices with legal"),
    "general": ("Check every fact against a source",),
}
# fmt: on
