"""The app's RQ jobs in virtual time: run each one when the virtual clock reaches it.

In production RQ's scheduler (``ivr scheduler``) moves scheduled jobs (callback releases, the
end of an agent's wrap-up) onto their queue when due and ``rq worker`` runs them; here the same
RQ code does it in this process (``RQScheduler.enqueue_scheduled_jobs`` and a burst
``SimpleWorker``), under the engine's time travel, at the virtual moment each job is due. Jobs
appear only when a webhook (or another job) runs, so the pump looks after requests, at most
every 2 virtual s.

One worker serves the whole run (registered once, as ``rq worker`` is), so RQ's registry
maintenance runs on its own cadence (every 10 minutes, virtual) rather than at every burst.
A look after a webhook that sent no command naming an RQ key (``ivr.sim.link``) reuses the
previous look's answer instead of asking Redis: nothing it read can have changed.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ivr.sim.link import attach
from ivr.sim.meter import APP, METER

if TYPE_CHECKING:
    from rq import Queue

    from ivr.sim.clock import Clock, _Event

log = logging.getLogger(__name__)

BEAT_SECONDS = 30.0  # real seconds between the sim worker's heartbeats (RQ's TTL: 480 s)


class RqJobs:
    def __init__(self, clock: Clock, queues: list[Queue], interval: float = 2.0) -> None:
        from rq.scheduler import RQScheduler

        self.clock = clock
        self.queues = queues
        self.connection = queues[0].connection
        self.interval = interval
        self.scheduler = RQScheduler(queues, connection=self.connection)
        self.scheduler.prepare_registries([q.name for q in queues])
        self.registries = self.scheduler._scheduled_job_registries
        self._check: _Event | None = None
        self._wake: _Event | None = None
        self._last = float("-inf")
        self._earliest: float | None = None  # the earliest scheduled job at the last look
        self._worker: Any = None
        self.link = attach(self.connection)
        self.ran = 0

    def poke(self) -> None:
        """A webhook ran: there may be new jobs; look soon (not for every request)."""
        if self._check is not None and not self._check.cancelled:
            return
        when = max(self.clock.now, self._last + self.interval)
        self._check = self.clock.at(when, self.check, daemon=True)

    def check(self) -> None:
        """One round trip to see what is due; the RQ machinery only when something is."""
        self._check = None
        self._last = now = self.clock.now
        if not self.link.rq_touched and (self._earliest is None or self._earliest > now):
            # No RQ key written (or read) since the last look, which left no job waiting:
            # Redis would give the same answer, so act on it without asking.
            self._wake_at(self._earliest)
            return
        pipe = self.connection.pipeline(transaction=False)
        for registry in self.registries:
            pipe.zrange(registry.key, 0, 0, withscores=True)
        for q in self.queues:
            pipe.llen(q.key)
        found = pipe.execute()
        self.link.rq_touched = False  # (this look read them)
        earliest = [rows[0][1] for rows in found[: len(self.registries)] if rows]
        waiting = any(found[len(self.registries):])
        self._earliest = min(earliest) if earliest else None
        if earliest and min(earliest) <= now:
            self.scheduler.enqueue_scheduled_jobs()
            waiting = True
        if waiting:
            self._work()
            self._last = float("-inf")
            self.poke()  # the jobs may have scheduled others
            return
        self._wake_at(min(earliest) if earliest else None)

    def _work(self) -> None:
        """Run every waiting job, as a burst of ``rq worker`` would, on the run's one worker."""
        from rq.exceptions import StopRequested

        worker = self._worker or self._start_worker()
        with METER.part(APP):  # ``rq worker`` is the app's; its CPU is reported as the app's
            try:
                worker.check_for_suspension(burst=True)
            except StopRequested:  # ``rq suspend``: a burst leaves the jobs queued
                return
            while (found := worker.dequeue_job_and_maintain_ttl(None)) is not None:
                job, queue = found
                worker.execute_job(job, queue)
                worker.heartbeat()
                self.ran += 1

    def _start_worker(self) -> Any:
        from rq import SimpleWorker

        class Worker(SimpleWorker):
            """No pubsub thread for remote commands (kill, stop): none come in a simulation,
            and joining the thread costs a quarter of a second per burst.

            Heartbeats as often as liveness needs, not around every job: RQ's worker beats
            (three round trips each) before and after every dequeue and after every job, to
            renew its key's TTL (``worker_ttl`` + 60 s), which Redis counts in real time. A
            simulated day passes in about a minute of real time, so a beat every
            ``BEAT_SECONDS`` of real time keeps the worker as alive as RQ's does, in one
            pipeline; a beat inside one of RQ's own pipelines costs no round trip and is kept.

            Its state (idle, busy) likewise: RQ writes it in a round trip of its own two or
            three times a job, for ``rq info``, which nobody runs during a simulated day. Here a
            state set outside RQ's pipelines is written with the next beat, so the worker's
            hash is as fresh as its heartbeat (at the end RQ marks the worker dead)."""

            _beat = float("-inf")
            _state_unsent = False

            def subscribe(self) -> None:
                pass

            def unsubscribe(self) -> None:
                pass

            def set_state(self, state: str, pipeline: Any = None) -> None:
                if pipeline is not None:
                    super().set_state(state, pipeline)
                    self._state_unsent = False
                    return
                self._state = state
                self._state_unsent = True

            def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
                if pipeline is not None:
                    super().heartbeat(timeout, pipeline)
                    return
                if time.monotonic() - self._beat < BEAT_SECONDS:
                    return
                self._beat = time.monotonic()  # (real time: time-machine leaves it alone)
                with self.connection.pipeline(transaction=False) as pipe:
                    super().heartbeat(timeout, pipe)
                    self.send_state(pipe)
                    pipe.execute()

            def send_state(self, pipe: Any) -> None:
                if self._state_unsent:
                    super().set_state(self._state, pipe)
                    self._state_unsent = False

        worker = Worker(self.queues, connection=self.connection)
        worker.bootstrap(logging_level="WARNING")
        worker.log.setLevel(logging.WARNING)
        self._worker = worker
        return worker

    def close(self) -> None:
        """The run is over: the worker signs off (``rq worker`` at shutdown)."""
        if self._worker is not None:
            self._worker.teardown()
            self._worker = None

    def _wake_at(self, when: float | None) -> None:
        """Wake at the earliest scheduled job (a daemon event: it keeps no run going)."""
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if when is not None:  # never at once again: a job that would not move must not spin
            self._wake = self.clock.at(max(when, self.clock.now + self.interval), self.check,
                                       daemon=True)

    def pending(self) -> dict[str, Any]:
        """Scheduled job ids and when they are due (for tests and the CLI)."""
        out: dict[str, Any] = {}
        for registry in self.registries:
            for job_id, score in self.connection.zrange(registry.key, 0, -1, withscores=True):
                out[job_id.decode()] = score
        return out
