"""Level 4's CI/CD stages, each runnable on its own, in the order CI runs them.

    python -m level4_autonomous.stages train      # the training pipeline: a run with a model
    python -m level4_autonomous.stages gate       # judge the model: floor, behaviour, champion
    python -m level4_autonomous.stages register   # a new registry version, aliased "challenger"
    python -m level4_autonomous.stages promote    # move "champion" to it, if the gate passed
    python -m level4_autonomous.stages deploy     # the serving API runs and serves the champion
    python -m level4_autonomous.stages smoke      # one real request against the running service
    python -m level4_autonomous.stages all        # all of the above, in one process
    python -m level4_autonomous.stages stop       # stop the service deploy started

Stages hand over through ``candidate.json`` in the level's state folder (the run, its model, the
gate's verdict, the registered version), so CI can run each as its own step. Each command holds
the state folder's lock while it runs (``stop`` excepted: it must be able to stop the service
whatever else runs), so a second one at the same time is refused instead of overwriting the
first one's candidate. Ctrl-C, SIGTERM (a cancelled CI job) or SIGHUP stop a stage cleanly, with
the exit code 128 + the signal's number.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import Config, ConfigError, add_config_arguments, load_config, parse_overrides
from .processes import run_interruptibly
from .runtime import unreachable_server, use_local_state
from .state_lock import StateFolderError, lock_state_folder

CANDIDATE_FILE = "candidate.json"
#: Each stage's wall time in its last run.
STAGE_SECONDS_FILE = "stage_seconds.json"


class StageError(RuntimeError):
    """A stage cannot go on; the message says why and what to run first."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: which stage, the configuration, ``--data`` to set ``data.path``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=[*STAGES, "all", "stop"])
    add_config_arguments(parser)
    parser.add_argument("--data", help="dataset folder (overrides data.path)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the stage (or all of them) holding the state folder; if it cannot, exit with 2."""
    args = parse_args(argv)
    try:
        overrides = {**({"data.path": args.data} if args.data else {}), **parse_overrides(args.set)}
        config = load_config(args.config, overrides)
        lock = (
            contextlib.nullcontext()
            if args.stage == "stop"
            else lock_state_folder(config.tracking.state_dir)
        )
    except (ConfigError, StateFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    use_local_state(config.tracking.state_dir)
    if args.stage != "stop" and (unreachable := unreachable_server()) is not None:
        print(f"error: {unreachable}; nothing was changed.", file=sys.stderr)
        return 2
    context = StageContext(args.config, overrides, config)
    names = list(STAGES) if args.stage == "all" else [args.stage]
    with lock:
        return run_interruptibly(
            lambda: run_stages(context, names),
            "the stage stopped; a training run it had started is marked KILLED, with no model.",
        )


def run_stages(context: StageContext, names: list[str]) -> int:
    """Run the named stages in order; stop at the first that fails.

    Each stage's wall time is printed and recorded in ``stage_seconds.json``, merged with the
    stages run before (CI runs them one per step), so a slow stage shows where it happens. A
    whole release starts the file afresh; ``stop`` is not a release stage and is not recorded.
    """
    if names == list(STAGES):
        context.clear_seconds()
    for name in names:
        print(f"\n== {name} ==", flush=True)
        started = time.perf_counter()
        try:
            code = STAGES.get(name, stop)(context)
        except StageError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if code != 0:
            return code
        seconds = time.perf_counter() - started
        print(f"({name}: {seconds:.1f} s)", flush=True)
        if name in STAGES:
            context.record_seconds(name, seconds)
    return 0


class StageContext:
    """What every stage needs: the configuration and the hand-over file between stages."""

    def __init__(self, config_path: Path, overrides: dict[str, str], config: Config) -> None:
        self.config_path = config_path
        self.overrides = overrides
        self.config = config
        self.candidate_path = config.tracking.state_dir / CANDIDATE_FILE

    def candidate(self, *required: str) -> dict[str, Any]:
        """The hand-over so far, with every key in ``required``, or a ``StageError`` saying why."""
        if not self.candidate_path.exists():
            raise StageError(f"no candidate at {self.candidate_path}: run the train stage first")
        try:
            candidate = json.loads(self.candidate_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise StageError(
                f"{self.candidate_path} is not valid JSON ({error}): run the train stage again"
            ) from None
        if not isinstance(candidate, dict):
            raise StageError(
                f"{self.candidate_path} is not a JSON object: run the train stage again"
            )
        missing = [key for key in required if key not in candidate]
        if missing:
            raise StageError(
                f"{self.candidate_path} lacks {', '.join(missing)}: run the earlier stages"
            )
        return candidate

    def clear_seconds(self) -> None:
        """Forget the stage times of earlier runs, before a whole release records its own."""
        (self.config.tracking.state_dir / STAGE_SECONDS_FILE).unlink(missing_ok=True)

    def record_seconds(self, stage: str, seconds: float) -> None:
        """Add a finished stage's wall time to ``stage_seconds.json``."""
        path = self.config.tracking.state_dir / STAGE_SECONDS_FILE
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            recorded = {}
        recorded[stage] = round(seconds, 2)
        path.write_text(json.dumps(recorded, indent=2) + "\n", encoding="utf-8")

    def save_candidate(self, candidate: dict[str, Any]) -> None:
        """Replace the hand-over file in one step, so a stopped stage never leaves half of it."""
        from .tracking import save_atomically

        text = json.dumps(candidate, indent=2) + "\n"
        save_atomically(self.candidate_path, lambda path: path.write_text(text))


def train(context: StageContext) -> int:
    """Run the training pipeline; its run and model become the candidate."""
    from .train import run_pipeline

    result = run_pipeline(context.config_path, context.overrides, context.config)
    if result is None:
        return 1
    context.save_candidate({"run_id": result.run_id, "model_uri": result.model_uri})
    return 0


def gate(context: StageContext) -> int:
    """Judge the candidate; record the report with its run. The verdict is acted on by promote."""
    from .release import judge_candidate

    candidate = context.candidate("run_id", "model_uri")
    candidate["gate"] = judge_candidate(context.config, candidate["run_id"], candidate["model_uri"])
    context.save_candidate(candidate)
    return 0


def register(context: StageContext) -> int:
    """Register the candidate, passed or not: the registry keeps every trained model."""
    from .release import register_candidate

    candidate = context.candidate("run_id", "model_uri", "gate")
    candidate["version"] = register_candidate(context.config, candidate)
    context.save_candidate(candidate)
    return 0


def promote(context: StageContext) -> int:
    """Make the candidate champion if the gate passed; otherwise fail and change nothing."""
    from .release import promote_candidate

    return promote_candidate(context.config, context.candidate("run_id", "gate", "version"))


def deploy(context: StageContext) -> int:
    """Make sure the service runs and serves the current champion."""
    from .deployment import deploy_champion

    return deploy_champion(context.config_path, context.overrides, context.config)


def smoke(context: StageContext) -> int:
    """One real recommendation from the running service, printed."""
    from .deployment import smoke_test

    return smoke_test(context.config)


def stop(context: StageContext) -> int:
    """Stop the service deploy started; not one of ``all``'s stages, which leave it running."""
    from .deployment import stop_service

    return stop_service(context.config)


STAGES: dict[str, Callable[[StageContext], int]] = {
    "train": train,
    "gate": gate,
    "register": register,
    "promote": promote,
    "deploy": deploy,
    "smoke": smoke,
}


if __name__ == "__main__":
    sys.exit(main())
