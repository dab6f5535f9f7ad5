"""The one slot group: every key of the app's state carries the hash tag ``{ivr}``.

Redis Cluster runs a script or a MULTI/EXEC only when all its keys live in one slot, and the
hash tag (the text between the first ``{`` and ``}``) is all that picks a key's slot. The app's
scripts span calls, queues, advisors, callbacks and the event stream atomically (a caller
leaving a queue writes its call, the queue and the stream; an agent-line step reads the
advisor, their queues' fronts and those callers' calls; a callback claim reads the advisor and
scans the worklist's tasks), so the state is one group: every key starts with ``{ivr}:``.
Cluster then gives failover and a managed service, not sharding; a council's call centre fits
one node many times over (bench/README's memory figures).

Keys known before a script runs are passed in ``KEYS``. A few are found from data inside the
script (the advisor a call is linked to, the tasks of the worklist, the callers at the queues'
fronts); those are built from the prefixes of the key constants (passed in ``ARGV`` or
generated from them, never written in Lua) and carry the same tag, so they share the declared
keys' slot. RQ's own keys (``rq:*``) are outside the group: on Cluster, RQ uses a plain Redis
(``RQ_REDIS_URL``, see README "Redis Cluster").

Key names live as constants in the modules that own them (``ivr.store``, ``ivr.agents``,
``ivr.events``, ``voicemail.tasks``, ``voicemail.callbacks``, ``ivr.console``, ``flows``);
patterns for ``str.format`` write the tag as ``{{ivr}}``.
"""

from __future__ import annotations

from typing import Any

TAG = "{ivr}"  # the hash tag of every app key
PREFIX = TAG + ":"
UNUSED = PREFIX + "unused"  # never written: stands in for a KEYS entry a call has no use for


def around(pattern: str) -> tuple[str, str]:
    """A one-field key pattern's text before and after its field, for a script that builds
    the key from a value it reads (``{{ivr}}:cb:task:{id}:calls`` -> ``{ivr}:cb:task:``,
    ``:calls``)."""
    head, _, tail = pattern.format_map(_Cut()).partition(_CUT)
    return head, tail


_CUT = "\0field\0"


class _Cut(dict):
    def __missing__(self, key: str) -> str:
        return _CUT


def eval_script(target: Any, script: str, numkeys: int, *keys_and_args: Any) -> Any:
    """``EVAL`` on a client or a pipeline, as ``target.eval`` sends it: a cluster pipeline's
    own ``eval()`` takes no script, and ``execute_command`` routes by the script's keys."""
    return target.execute_command("EVAL", script, numkeys, *keys_and_args)
