"""Combine (parts into one document, or the final production kit) and review (the verdict).

The review's output is machine-readable::

    {"passed": bool,                 # True when no check failed (manual checks do not fail)
     "verdict": "passed" | "failed",
     "failed_checks": [str, ...],    # the constraint (or check kind) of every failed check
     "failed": [str, ...],           # the same list (older name)
     "needs_manual_review": bool,    # some check needs a person
     "checks": [{"constraint": str | None, "kind": str, "passed": bool | None,
                 "detail": str, "evidence": str}, ...], ...}

``passed`` of a check is True / False when measured, None when a person must check.
"""

from __future__ import annotations

from typing import Any

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode
from vibe_aigc.tools.constraints import (
    check_constraint,
    check_limit,
    description_limits,
    entry,
)
from vibe_aigc.tools.facts import Facts
from vibe_aigc.tools.offline.base import OfflineTool, durations_of
from vibe_aigc.tools.offline.kit import demote, is_final, kit_sections, render_kit
from vibe_aigc.tools.textkit import (
    Output,
    cap,
    find,
    keywords,
    make_output,
    merge_counts,
    subject_outputs,
    word_count,
)


class CombineTool(OfflineTool):
    name = "combine"
    description = "Merge inputs (children, else dependencies); a plan's last one is the kit."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        parts = subject_outputs(context, context.child_outputs or context.dependency_outputs)
        title = str(find(context, "outline").get("title") or cap(f.subject))
        durations = durations_of(parts)
        sections = kit_sections(context, parts)
        final = is_final(node, context)
        if final:
            text = render_kit(f, title, sections, parts, durations)
        else:
            bodies = [demote(str(p["text"])) for p in parts]
            text = f"# {cap(node.id)}: {title}\n\n" + "\n\n".join(bodies)
        summary = [
            {"node_id": p["node_id"], "tool": p["tool"], "words": word_count(p["text"])}
            for p in parts
        ]
        out = make_output(self.name, node, text, title=title, word_count=word_count(text))
        out.update(counts=merge_counts(parts))
        out.update(duration_seconds=max(durations.values(), default=None))
        out.update(durations=durations, parts=summary, kit=final)
        out.update(word_budget=sum(int(s.get("words") or 0) for s in sections))
        return out


def _budget_note(check: dict[str, Any], budget: int) -> None:
    if check["kind"] == "limit:word" and budget:
        check["detail"] += (
            f" (this is the offline kit, not finished prose; its outline budgets {budget} words)"
        )
        check["evidence"] = check["detail"]


class ReviewTool(OfflineTool):
    name = "review"
    description = "Checklist of every constraint (tested where possible) and an overall verdict."
    as_kit = False

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        deps = context.dependency_outputs
        own = {k: v for k, v in deps.items() if k in node.dependencies} or deps
        reviewed = subject_outputs(context, own) + subject_outputs(context, context.child_outputs)
        text = "\n\n".join(str(o["text"]) for o in reviewed)
        seconds = [float(o["duration_seconds"]) for o in reviewed if o.get("duration_seconds")]
        duration = max(seconds) if seconds else None
        counts = merge_counts(reviewed)
        checks = [check_constraint(c, text, counts, duration) for c in f.constraints]
        for name, lim in description_limits(f.description, f.constraints):
            checks.append(check_limit(name, lim, text, counts, duration))
        budget = max((int(o.get("word_budget") or 0) for o in reviewed), default=0)
        for check in checks:
            _budget_note(check, budget)
        durations = durations_of(reviewed)
        if len(durations) > 1:
            agree = len(set(durations.values())) == 1
            shown = ", ".join(f"{k} {v:g} s" for k, v in durations.items())
            checks.append(entry(None, "consistency", agree, f"planned durations: {shown}"))
        goal = keywords(f.subject, 6)
        covered = [k for k in goal if k in text.lower()]
        on_topic = len(covered) * 2 >= len(goal) if goal else f.subject.lower() in text.lower()
        n = word_count(text)
        checks.append(entry(None, "non_empty", n > 0, f"{n} words from {len(reviewed)} output(s)"))
        checks.append(
            entry(
                None,
                "goal_coverage",
                on_topic,
                f"{len(covered)}/{len(goal)} goal keywords present: {', '.join(covered) or '-'}"
                if goal
                else f"topic '{f.subject}' {'found' if on_topic else 'not found'} in the text",
            )
        )
        failed = [c["constraint"] or c["kind"] for c in checks if c["passed"] is False]
        marks = {True: "[x]", False: "[ ] FAIL", None: "[?] manual"}
        lines = [
            f"- {marks[c['passed']]} {c['constraint'] or c['kind']}: {c['detail']}" for c in checks
        ]
        verdict = f"FAILED ({len(failed)} check(s))" if failed else "PASSED"
        out = make_output(self.name, node, f"# Review: {verdict}\n\n" + "\n".join(lines))
        out.update(passed=not failed, verdict="failed" if failed else "passed", checks=checks)
        out.update(failed=failed, failed_checks=list(failed), word_count=n)
        out.update(needs_manual_review=any(c["passed"] is None for c in checks))
        out.update(reviewed=[o["node_id"] for o in reviewed])
        return out
