"""Scoring workers: drain the database-backed job queue.

    >>> worker = Worker(write_sessions, read_sessions, settings)   # doctest: +SKIP
    >>> worker.run(until_empty=True)                                # doctest: +SKIP
    3

Start as many as you like on PostgreSQL (``unmask arena worker`` on any machine that reaches
the database; jobs are claimed with ``FOR UPDATE SKIP LOCKED``); SQLite has one writer, so
run one (``unmask arena serve`` embeds it). A job whose worker vanished is taken again when
its lease ends; a result is kept only from the worker holding the current claim.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy.orm import Session

from unmask.arena import crud, queries
from unmask.arena import models as m
from unmask.arena.core.config import Settings, make_private_dir
from unmask.arena.sandbox import (
    RunResult,
    SandboxLimits,
    run_entry_point,
    unpack_archive,
    unreadable_data,
)
from unmask.arena.scoring import Outcome, TestSet, score_predictions, validate_csv
from unmask.errors import InvalidSubmissionError, MetricInputError

log = logging.getLogger("unmask.arena")

SessionSource = Callable[[], AbstractContextManager[Session]]


def _default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10_000}"


class Worker:
    """Claims jobs one at a time and stores their outcome.

    ``write_sessions`` must give sessions that may write (on SQLite: ``BEGIN IMMEDIATE``);
    ``read_sessions`` defaults to them.
    """

    def __init__(
        self,
        write_sessions: SessionSource,
        read_sessions: SessionSource | None = None,
        settings: Settings | None = None,
        *,
        name: str | None = None,
        stop: threading.Event | None = None,
        wakeup: threading.Event | None = None,
    ) -> None:
        self.write_sessions = write_sessions
        self.read_sessions = read_sessions or write_sessions
        self.settings = settings or Settings()
        self.name = name or _default_name()
        self.stop = stop or threading.Event()
        self.wakeup = wakeup or threading.Event()
        # Labels cannot change once a challenge has a submission, so they are read once.
        self._test_sets: dict[tuple[int, object], TestSet] = {}

    def run_once(self) -> bool:
        """Score one job; False when the queue was empty."""
        with self.write_sessions() as session:
            claim = crud.claim_job(
                session,
                worker=self.name,
                max_attempts=self.settings.max_attempts,
                csv_lease_s=self.settings.csv_job_lease_s,
            )
        if claim is None:
            return False
        try:
            outcome = self._score(claim)
        except Exception as err:  # a bug or a lost database: record it, keep the worker alive
            log.exception("scoring submission %s failed", claim.submission_id)
            outcome = Outcome(
                status=m.ERROR, error=f"internal error while scoring: {type(err).__name__}"
            )
        with self.write_sessions() as session:
            kept = crud.finish_job(session, claim, outcome)
        if not kept:
            log.warning("submission %s: another worker took the job over", claim.submission_id)
        log.info("submission %s: %s", claim.submission_id, outcome.status)
        return True

    def run(self, *, until_empty: bool = False) -> int:
        """Loop until ``stop`` is set (or the queue is empty); returns how many jobs it did."""
        done = 0
        while not self.stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the database went away: wait and retry
                log.exception("worker %s: cannot reach the queue", self.name)
                worked = False
                if until_empty:
                    raise
            if worked:
                done += 1
                continue
            if until_empty:
                break
            self.wakeup.wait(self.settings.poll_interval_s)
            self.wakeup.clear()
        return done

    # --- scoring ------------------------------------------------------------------------

    def _score(self, claim: crud.Claim) -> Outcome:
        with self.read_sessions() as session:
            sub = session.get(m.Submission, claim.submission_id)
            blob = session.get(m.SubmissionBlob, claim.submission_id)
            if sub is None or blob is None:
                return Outcome(status=m.ERROR, error="the submission was deleted")
            challenge = sub.team.challenge
            kind, data = sub.kind, bytes(blob.data)
            time_limit = challenge.code_time_limit_s
            videos_dir = challenge.videos_dir
            key = (challenge.id, challenge.created_at)
            if key not in self._test_sets:
                self._test_sets[key] = queries.test_set(session, challenge)
            test_set = self._test_sets[key]
        if kind == "csv":
            return self._score_csv(data, test_set)
        return self._score_code(
            data, test_set, videos_dir=videos_dir, time_limit_s=time_limit, job_id=claim.job_id
        )

    def _score_csv(self, data: bytes, test_set: TestSet) -> Outcome:
        start = time.perf_counter()
        try:
            preds = validate_csv(data, test_set, max_bytes=self.settings.max_csv_bytes)
            scores = score_predictions(preds, test_set)
        except (InvalidSubmissionError, MetricInputError) as err:
            problems = getattr(err, "problems", None) or [str(err)]
            return Outcome(
                status=m.INVALID,
                error="\n".join(problems[:20]),
                execution_s=time.perf_counter() - start,
            )
        return Outcome(status=m.SCORED, scores=scores, execution_s=time.perf_counter() - start)

    def _score_code(
        self,
        archive: bytes,
        test_set: TestSet,
        *,
        videos_dir: str | None,
        time_limit_s: int,
        job_id: int,
    ) -> Outcome:
        settings = self.settings
        if not videos_dir or not Path(videos_dir).is_dir():
            return Outcome(
                status=m.ERROR,
                error=f"the test videos folder {videos_dir!r} is missing on worker {self.name}",
            )
        strict = settings.sandbox == "strict"
        if os.geteuid() == 0:
            bad = unreadable_data(Path(videos_dir))
            if bad is not None:
                return Outcome(
                    status=m.ERROR,
                    error=f"test data {bad} is not readable by the sandbox user (host: chmod -R o+rX the videos folder)",
                )
        root = make_private_dir(settings.work_dir)
        job_dir = Path(tempfile.mkdtemp(prefix=f"job-{job_id}-", dir=root))
        try:
            code_dir = unpack_archive(
                archive, job_dir / "code", max_unpacked_bytes=settings.sandbox_file_bytes
            )
            limits = SandboxLimits(
                wall_s=time_limit_s,
                cpu_s=settings.sandbox_cpu_seconds,
                memory_bytes=settings.sandbox_memory_bytes,
                file_bytes=settings.sandbox_file_bytes,
                tmpfs_bytes=settings.sandbox_tmpfs_bytes,
            )
            result = run_entry_point(
                code_dir,
                Path(videos_dir),
                limits=limits,
                log_path=job_dir / "log.txt",
                max_output_bytes=settings.max_csv_bytes,
                require_isolation=strict,
            )
        except InvalidSubmissionError as err:
            return Outcome(status=m.INVALID, error="\n".join(err.problems[:20]))
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)
        return self._code_outcome(result, test_set, time_limit_s=time_limit_s)

    def _code_outcome(self, result: RunResult, test_set: TestSet, *, time_limit_s: int) -> Outcome:
        note = ""
        if result.isolation == "none":
            note = f"[arena] ran WITHOUT isolation (sandbox=permissive): {result.reason}\n"
        execution_s, excerpt = round(result.wall_s, 3), note + result.log_tail

        def ended(status: str, error: str | None, scored: Outcome | None = None) -> Outcome:
            return Outcome(
                status=status,
                scores=scored.scores if scored else None,
                error=error,
                execution_s=execution_s,
                log_excerpt=excerpt,
            )

        if result.setup_failed:
            return ended(
                m.ERROR, f"the sandbox could not be set up on worker {self.name}: {result.reason}"
            )
        if result.timed_out:
            return ended(m.TIMEOUT, f"stopped at the time limit of {time_limit_s} s")
        if result.exit_code != 0:
            return ended(m.CRASHED, _exit_reason(result.exit_code))
        if result.output is None:
            return ended(m.INVALID, result.output_problem)
        scored = self._score_csv(result.output, test_set)
        return ended(scored.status, scored.error, scored)


def _exit_reason(code: int | None) -> str:
    if code is not None and code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        hint = {
            "SIGXCPU": " (CPU time limit)",
            "SIGKILL": " (CPU time or memory limit, or killed)",
            "SIGXFSZ": " (file size limit)",
            "SIGSEGV": " (crash; the memory limit can cause it)",
        }.get(name, "")
        return f"the entry point was killed by {name}{hint}"
    return f"the entry point exited with code {code}"
