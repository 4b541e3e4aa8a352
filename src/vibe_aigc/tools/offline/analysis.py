"""Analysis tools: the brief, the research plan and the style guide."""

from __future__ import annotations

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode
from vibe_aigc.tools.constraints import mention_target
from vibe_aigc.tools.facts import Facts
from vibe_aigc.tools.offline.base import OfflineTool, know, targets_data
from vibe_aigc.tools.offline.kit import brief_lines
from vibe_aigc.tools.textkit import (
    TONE_DEFAULT,
    Output,
    bullet_list,
    keywords,
    make_output,
    split_style,
    style_guidance,
)


class BriefTool(OfflineTool):
    name = "brief"
    description = "Creative brief: goal, audience, key messages, tone, targets, open questions."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        messages = know(f.domain, 0, f)
        messages += [f"Make sure to mention {t}" for c in f.constraints if (t := mention_target(c))]
        tone = split_style(f.style) or TONE_DEFAULT
        questions = ["Which sources, assets or examples already exist?"]
        if not f.audience_stated:
            questions.append(f"Who exactly is it for? (assumed: {f.audience})")
        if not f.style:
            questions.append("What tone should it have? (no style was given)")
        if not f.constraints:
            questions.append("Any length, format, budget or deadline limits?")
        if f.domain in ("video", "visual", "marketing"):
            questions.append("Where will it be published, and in which formats / aspect ratios?")
        if f.note:
            questions.append(f"Should the finished piece be in {f.language} throughout?")
        text = (
            f"# Brief: {f.subject}\n\n{bullet_list(brief_lines(f))}\n\n"
            f"## Suggested key messages\n{bullet_list(messages)}\n\n"
            f"## Constraints\n{bullet_list(f.constraints or ['(none given)'])}\n\n"
            f"## Open questions\n{bullet_list(questions)}"
        )
        out = make_output(self.name, node, text, goal=f.description, domain=f.domain)
        out.update(deliverable=f.deliverable, subject=f.subject, audience=f.audience)
        out.update(key_messages=messages, tone=tone, constraints=f.constraints)
        out.update(open_questions=questions, keywords=keywords(f.description))
        out.update(targets=targets_data(f))
        return out


class ResearchNotesTool(OfflineTool):
    name = "research_notes"
    description = "Research plan: topic angles, references to find, facts to verify."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        kws = keywords(f"{f.subject} {f.description}", 5)
        angles = know(f.domain, 1, f)
        refs = know(f.domain, 2, f)
        verify = [
            f"Every number or claim about {f.subject} has a source",
            "Names, dates and product details are current",
        ]
        text = (
            f"# Research plan: {f.subject}\n\n## Angles to research\n{bullet_list(angles)}\n\n"
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
