"""The live state checked against Twilio's: who waits in each queue, and who is on the line.

Our record of the queues (``{ivr}:queue:<dept>`` and each caller's ``{ivr}:call:<sid>``) and
of the advisors' states is written by the webhooks Twilio sends. While Redis is down those
writes fail, and nothing writes them later: a caller who hangs up stays in our record for good
(an advisor then hears "Taking the longest waiting caller now" and a whisper naming someone who
has gone), a caller who joins is never added (so positions, waits and "longest waiting" are
wrong), and an advisor whose agent-line call ended stays available, so the next caller is put
through to nobody instead of being offered voicemail at once.

Two passes repair that from what Twilio knows, each a plain function to run every 30 s or so
(on several machines at once if need be):

* ``reconcile_queues``: each department's Twilio queue members against our record. A caller in
  our record but not at Twilio (a *ghost*) is taken out through the once-only leave
  (``store.record_leave``); one at Twilio but not in our record (*missing*) is added with the
  time Twilio enqueued them. A take marker held by an agent-line call that has ended is
  cleared.
* ``reconcile_agents``: every signed-in advisor whose call (``agents.line_of``) has ended at
  Twilio moves on as the agent line's status callback would have moved them
  (``agents.after_line_end``): signed out, or wrap-up and then signed out.

Every change is an event with ``reconciled: true`` in its data. Each decision is re-checked
where it is written (the leave script, or ``WATCH`` on the keys it read), so a pass racing a
webhook or another pass changes nothing twice; a difference younger than the grace period is
left alone, since the webhook that explains it may be on its way. A Twilio REST failure
leaves what it concerned unknown: nothing about it changes, and it is counted in ``errors``.
REST calls: the queue list, one member list per department, and one call fetch per ghost,
per missing caller whose number we lack, per take marker and per signed-in advisor. Redis
failures are raised (the next pass starts again).
"""

from ivr.live_reconcile.advisors import AgentReconcile, reconcile_agents
from ivr.live_reconcile.calls import GRACE_SECONDS, NOT_FOUND, CallState
from ivr.live_reconcile.queues import QueueReconcile, ghost_exit, reconcile_queues

__all__ = ["GRACE_SECONDS", "NOT_FOUND", "AgentReconcile", "CallState", "QueueReconcile",
           "ghost_exit", "reconcile_agents", "reconcile_queues"]
