"""Changing an advisor after adding them: their name, their departments.

Values are checked first (``ivr.credentials``); these functions only store them. A change of
departments moves a signed-in advisor between the on-duty sets in the same script that reads
their state, so no sign-in or sign-out in between leaves them on duty where they no longer
serve (callers would queue for nobody) or off duty where they now do.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from ivr import agents, keys

# KEYS[1] the agent's hash. ARGV: 1 the field ('name' or 'departments'), 2 its value, 3 and 4
# ``agents.ON_DUTY``'s text before and after the department (its keys are built from them:
# ``ivr.keys``), 5 the agent id, 6 the signed-in states, each between commas.
_CHANGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= 'departments' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
local old = redis.call('HGET', KEYS[1], 'departments') or ''
local state = redis.call('HGET', KEYS[1], 'state') or ''
redis.call('HSET', KEYS[1], 'departments', ARGV[2])
if not string.find(ARGV[6], ',' .. state .. ',', 1, true) then return 1 end
local function duty(list, command)
  if list == '' then list = '*' end
  for dept in string.gmatch(list, '[^,]+') do
    redis.call(command, ARGV[3] .. dept .. ARGV[4], ARGV[5])
  end
end
duty(old, 'SREM')
duty(ARGV[2], 'SADD')
return 1
"""


def _change(r: redis.Redis, agent_id: str, field: str, value: str) -> None:
    head, tail = keys.around(agents.ON_DUTY)
    signed_in = "," + ",".join(sorted(agents.SIGNED_IN)) + ","
    done = keys.eval_script(r, _CHANGE, 1, agents.AGENT.format(id=agent_id), field, value,
                            head, tail, agent_id, signed_in)
    if not int(done):
        raise agents.AgentError(f"no agent {agent_id}")


def rename(r: redis.Redis, agent_id: str, name: str) -> None:
    """Give the agent a new name (checked already: ``credentials.check_name``)."""
    _change(r, agent_id, "name", name)


def set_departments(r: redis.Redis, agent_id: str, departments: Iterable[str]) -> None:
    """Give the agent these departments (none: all of them), moving them between the on-duty
    sets if signed in (checked already: ``credentials.check_departments``)."""
    _change(r, agent_id, "departments", ",".join(departments))


# KEYS: 1 the agent's hash, 2 the new phone's index (keys.UNUSED for none), 3 the old phone's
# index (keys.UNUSED for none). ARGV: 1 the agent id, 2 the new phone ('' for none).
# Returns 0: no such agent; -1: the phone is another agent's; 1: changed.
_PHONE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] ~= '' then
  local owner = redis.call('GET', KEYS[2])
  if owner and owner ~= ARGV[1] then return -1 end
end
local old = redis.call('HGET', KEYS[1], 'phone') or ''
if old ~= '' and old ~= ARGV[2] and redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
end
redis.call('HSET', KEYS[1], 'phone', ARGV[2])
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[1]) end
return 1
"""


def set_phone(r: redis.Redis, agent_id: str, phone: str, old_phone: str) -> None:
    """Give the agent a new phone ("" for none; E.164, checked already), keeping their agent
    number; the old phone no longer finds them. Refused if the phone is another agent's."""
    new_key = agents.BY_PHONE.format(phone=phone) if phone else keys.UNUSED
    old_key = agents.BY_PHONE.format(phone=old_phone) if old_phone else keys.UNUSED
    done = int(keys.eval_script(r, _PHONE, 3, agents.AGENT.format(id=agent_id), new_key,
                                old_key, agent_id, phone))
    if done == 0:
        raise agents.AgentError(f"no agent {agent_id}")
    if done < 0:
        raise agents.AgentError(f"the phone {phone} already belongs to another agent")
