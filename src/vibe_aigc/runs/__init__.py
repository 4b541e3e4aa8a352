"""Durable runs: the life of a run on top of the scheduler and a store.

``service.py`` (start / resume / checkpoint / lease), ``recorder.py`` (the scheduler hook that
journals and snapshots), ``resume.py`` (rebuild state from a snapshot and the journal),
``writer.py`` (the journal's group-commit thread), ``adaptation.py`` (revise failed parts).
"""

from vibe_aigc.runs.adaptation import execute_with_adaptation
from vibe_aigc.runs.recorder import CheckpointHook, checkpoint_body
from vibe_aigc.runs.resume import ResumeState, load_resume_state
from vibe_aigc.runs.service import RunService, check_same_plan, install_durable_run

install_durable_run()

__all__ = [
    "CheckpointHook",
    "ResumeState",
    "RunService",
    "check_same_plan",
    "checkpoint_body",
    "execute_with_adaptation",
    "load_resume_state",
]
