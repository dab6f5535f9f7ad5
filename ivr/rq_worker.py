"""The RQ worker ``ivr serve`` runs (``rq worker -w ivr.rq_worker.Worker``): RQ's own, but
each work horse dies with the worker that forked it (``ivr.orphans``).

RQ runs each job in a forked horse in a process group of its own, which nothing kills when
its worker dies: the horse would run the job on, unwatched, while RQ (and the reconciler)
count the job abandoned and run it again. Dying with the worker, the job is abandoned once.
"""

from __future__ import annotations

import os

from rq import Worker as RQWorker
from rq.job import Job
from rq.queue import Queue

from ivr import orphans


class Worker(RQWorker):
    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """The horse's body: first, die with the worker (this process's parent)."""
        orphans.die_with_parent(os.getppid())
        super().main_work_horse(job, queue)
