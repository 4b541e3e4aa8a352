"""What the command prints about a run: the result document, deliverables, the summary."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from vibe_aigc.cli.common import UsageError
from vibe_aigc.executor import ExecutionResult, ExecutionStatus
from vibe_aigc.models import WorkflowPlan
from vibe_aigc.visualization import WorkflowVisualizer, terminal_text

EXIT_OK = 0
EXIT_FAILED = 1


def result_document(result: ExecutionResult, plan: WorkflowPlan | None) -> dict[str, Any]:
    return {
        "plan_id": result.plan_id,
        "status": result.status.value,
        "summary": result.get_summary(),
        "resumed_from": result.resumed_from,
        "checkpoint_id": result.checkpoint_id,
        "warnings": result.warnings,
        "node_results": {
            k: v.model_dump(mode="json", exclude_none=True) for k, v in result.node_results.items()
        },
        "plan": plan.model_dump(mode="json") if plan is not None else None,
    }


def deliverables(plan: WorkflowPlan, result: ExecutionResult) -> list[str]:
    """The nodes whose outputs are the run's product: sinks, looking through final reviews."""
    graph = plan.validate_plan()
    chosen: list[str] = []
    for sink in (n for n in graph.order if not graph.after[n]):
        if graph.nodes[sink].type.value == "validate":
            chosen.extend(d for d in graph.dependency_ids(sink) if d not in chosen)
        if sink not in chosen:
            chosen.append(sink)
    done = {n for n, r in result.node_results.items() if r.status == ExecutionStatus.COMPLETED}
    return [n for n in chosen if n in done]


def json_dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str)


def check_output_dir(folder: str | None) -> None:
    """Refuse ``--output-dir`` before any work is done when it cannot hold the outputs."""
    if folder is None:
        return
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--output-dir {folder}: exists and is not a folder")
    parent = path if path.exists() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise UsageError(f"--output-dir {folder}: {parent} is not writable")


def text_of(output: Any) -> str:
    if isinstance(output, dict) and isinstance(output.get("text"), str):
        return str(output["text"])
    if isinstance(output, str):
        return output
    return json.dumps(output, ensure_ascii=False, indent=2)


def write_outputs(folder: Path, plan: WorkflowPlan, result: ExecutionResult) -> list[Path]:
    """Each completed node's output as ``<plan_id>/<node>.md``, plus ``result.json``: one
    subfolder per plan, so two plans never mix their files in one folder."""
    folder = folder / plan.id
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for node_id, node in result.node_results.items():
        if node.status == ExecutionStatus.COMPLETED and node.output is not None:
            path = folder / f"{node_id}.md"
            path.write_text(text_of(node.output) + "\n", encoding="utf-8")
            written.append(path)
    doc = folder / "result.json"
    doc.write_text(
        json.dumps(result_document(result, plan), ensure_ascii=False, indent=2) + "\n",
        encoding="utf-8",
    )
    return [*written, doc]


def report(result: ExecutionResult, plan: WorkflowPlan | None, args: argparse.Namespace) -> int:
    failed_checks = result.failed_checks()
    ok = result.status == ExecutionStatus.COMPLETED and not failed_checks
    code = EXIT_OK if ok else EXIT_FAILED
    if args.output_dir and plan is not None:
        written = write_outputs(Path(args.output_dir), plan, result)
        if not args.json:
            print(f"Wrote {len(written)} file(s) to {written[-1].parent}")
    if args.json:
        print(json_dumps(result_document(result, plan)))
        return code
    if any(
        isinstance(r.output, dict) and r.output.get("offline_draft")
        for r in result.node_results.values()
    ):
        print(
            "Note: offline production kit from the built-in tools (no model configured): a "
            "brief, outline with word budgets, shot list, prompts and checklist, not finished "
            "prose. Set OPENAI_API_KEY / OPENAI_BASE_URL or OLLAMA_HOST for real generation."
        )
    if plan is not None and not args.quiet:
        for node_id in deliverables(plan, result):
            print()
            print(f"── {node_id} " + "─" * max(0, 46 - len(node_id)))
            print(terminal_text(text_of(result.node_results[node_id].output)))
    for warning in result.warnings:
        print(f"warning: {terminal_text(warning)}", file=sys.stderr)
    if args.visualize and plan is not None:
        print()
        # the statuses drawn in the tree; the summary follows once, below
        statuses = {n: r.status for n, r in result.node_results.items()}
        print(WorkflowVisualizer.generate_diagram(plan, node_status=statuses))
    summary = result.get_summary()
    print()
    print("=" * 50)
    status = summary["status"]
    if failed_checks:
        status += " — but checks FAILED"
    print(f"Status: {status}")
    for node_id, checks in failed_checks.items():
        for check in checks:
            print(f"  ❌ {node_id}: {terminal_text(check)}")
    print(f"Completed: {summary['completed']}/{summary['total_nodes']} nodes")
    if summary["failed"] or summary["skipped"]:
        print(f"Failed: {summary['failed']}  Skipped: {summary['skipped']}")
        for node_id, node in result.node_results.items():
            if node.status == ExecutionStatus.FAILED:
                print(f"  ❌ {node_id}: {terminal_text(node.error or '')}")
    retries = sum(max(0, r.attempts - 1) for r in result.node_results.values() if not r.resumed)
    if retries:
        print(f"Retries: {retries}")
    if summary["total_duration"] is not None:
        print(f"Duration: {summary['total_duration']:.2f}s")
    usage = summary.get("usage") or {}
    if usage:
        shown = ", ".join(
            f"{key.replace('_', ' ')} {value:g}" for key, value in sorted(usage.items())
        )
        print(f"Usage: {shown}")
    if result.resumed_from:
        print(f"Resumed from: {result.resumed_from}")
    if result.status == ExecutionStatus.INTERRUPTED and result.checkpoint_id:
        print(f"Stopped early. Resume with: vibe-aigc resume {result.checkpoint_id}")
    if result.checkpoint_id:
        print(f"Checkpoint: {result.checkpoint_id}")
        if code != EXIT_OK and result.status != ExecutionStatus.INTERRUPTED:
            print(f"Fix the cause, then resume with: vibe-aigc resume {result.checkpoint_id}")
    return code
