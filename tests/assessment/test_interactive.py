"""The questions asked in a terminal (a pseudo-terminal) or through a pipe, and Ctrl-C."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from assessment.terminal import progress

ROOT = Path(__file__).resolve().parents[2]

PROMPT = b"s = skip]: "


def environment(**extra: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    return {**environ, "TERM": "xterm", **extra}


def read_until(fd: int, seen: bytearray, needle: bytes, count: int, timeout: float = 30) -> None:
    """Read ``fd`` into ``seen`` until ``needle`` occurs ``count`` times."""
    deadline = time.monotonic() + timeout
    while seen.count(needle) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"waited for {needle!r} x{count}; got:\n{seen.decode(errors='replace')}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal closed: the child has gone
                chunk = b""
            assert chunk, f"ended before {needle!r} x{count}:\n{seen.decode(errors='replace')}"
            seen.extend(chunk)


def drain(fd: int, seen: bytearray) -> None:
    """Everything left on ``fd`` until its writer closes it."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        seen.extend(chunk)


def typed_through_a_pipe(entries: str, compare: Path) -> subprocess.CompletedProcess[str]:
    """The interactive command with ``entries`` on its standard input, a pipe."""
    return subprocess.run(
        [sys.executable, "-m", "assessment", "--compare", str(compare)],
        cwd=ROOT,
        input=entries,
        capture_output=True,
        text=True,
        env=environment(),
        timeout=60,
        check=False,
    )


def test_in_a_terminal_enter_accepts_the_codes_answer_and_a_bad_entry_is_asked_again(tmp_path):
    # The questions on a pseudo-terminal (stdin and stderr), the JSON report on a pipe.
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "assessment", "--repo", "level2_cicd", "--format", "json",
         "--compare", str(tmp_path)],
        cwd=ROOT, stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=environment(),
    )  # fmt: skip
    os.close(slave)
    screen = bytearray()
    entries = [
        b"",  # run_tracking: Enter accepts the code's answer (3)
        b"9",  # data_checks: not a choice, asked again
        b"1",  # data_checks: overrides the code's 3
        b"s",  # reproducibility: skipped
        b"",  # feedback_loop: no evidence, so no default: asked again
        b"joined",  # feedback_loop: by the option's key
        *[b""] * 10,  # release … handover: the code's answers
        b"5",  # roles: no evidence
        b"",  # who_decides: the code's answer
    ]
    try:
        for number, entry in enumerate(entries, 1):
            read_until(master, screen, PROMPT, number)
            os.write(master, entry + b"\n")
        report = json.loads(child.communicate(timeout=30)[0])
        drain(master, screen)
    finally:
        child.kill()
        os.close(master)
    text = screen.decode(errors="replace")
    assert child.returncode == 0, text
    assert "\033[" in text  # a terminal, TERM=xterm, NO_COLOR unset: colours
    assert progress(3, 16) in text.replace("\033[36m", "").replace("\033[0m", "")
    assert "'9' is not a choice: type a number from 1 to 5, or s" in text
    assert "there is no default here: type a number from 1 to 5, or s" in text
    assert "level2_cicd/registry.py:40: registered = mlflow.register_model(" in text
    chosen = {answer["id"]: answer for answer in report["answers"]}
    assert (chosen["run_tracking"]["level"], chosen["run_tracking"]["source"]) == (2, "evidence")
    assert (chosen["data_checks"]["level"], chosen["data_checks"]["source"]) == (0, "you")
    assert (chosen["feedback_loop"]["key"], chosen["feedback_loop"]["source"]) == ("joined", "you")
    assert (chosen["roles"]["level"], chosen["roles"]["source"]) == (4, "you")
    assert [item["id"] for item in report["unanswered"]] == ["reproducibility"]
    # data: run_tracking 2 (w 2), data_checks 0 (w 2), feedback_loop 3 (w 1):
    #   (4 + 0 + 3) / 5 = 1.4 -> level 1, the weakest
    assert report["weakest"]["id"] == "data"
    assert report["overall"]["level"] == 1


def test_answers_typed_through_a_pipe_are_echoed_and_scored(tmp_path):
    entries = "\n".join(["3"] * 15 + ["x", "3"]) + "\n"  # a bad entry at the last question
    run = typed_through_a_pipe(entries, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "\033[" not in run.stdout  # a pipe: no colours
    assert "[16/16] " + "#" * 20 in run.stdout
    assert "answer [1-5, s = skip]: x\n  'x' is not a choice" in run.stdout
    assert "MLOps Compass: level 2 (CI/CD)" in run.stdout
    assert run.stdout.count("[level 2, weight") == 16


def test_input_that_ends_before_the_last_question_scores_nothing(tmp_path):
    run = typed_through_a_pipe("3\n3\n", tmp_path)
    assert run.returncode == 2
    assert "error: input ended at question [3/16] (reproducibility); nothing was scored." in (
        run.stderr
    )
    assert "MLOps Compass: level" not in run.stdout


def default_sigint() -> None:
    """In the child, before exec: SIGINT is delivered and does what it does by default."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_leaves_with_one_line_and_exit_code_130(tmp_path):
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "assessment", "--compare", str(tmp_path)],
        cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=environment(NO_COLOR="1"),
        # As from a shell: a signal this test process ignores or blocks would stay so in the
        # child (both survive exec), and Python would then never raise KeyboardInterrupt.
        preexec_fn=default_sigint,  # noqa: PLW1509 (sets one disposition, takes no lock)
    )  # fmt: skip
    os.close(slave)
    screen = bytearray()
    try:
        read_until(master, screen, PROMPT, 1)
        child.send_signal(signal.SIGINT)
        child.wait(timeout=30)
        drain(master, screen)
    finally:
        child.kill()
        os.close(master)
    text = screen.decode(errors="replace")
    assert child.returncode == 130, text
    assert "Traceback" not in text
    assert "\033[" not in text  # NO_COLOR on a terminal: no colours
    after = text.split("s = skip]: ", 1)[1]
    assert after.strip().splitlines() == ["assessment interrupted: no report."]
