"""Staffing from the centre's own events: measure, forecast, recommend (``ivr plan``).

Pure functions (no Redis, no clock): ``measure`` folds call events into arrivals per weekday
and half hour, advisor handle time and caller patience; ``forecast`` turns those weeks into
next week's calls; ``recommend`` staffs each half hour by Erlang C and Erlang A with the
cut-off (``ivr.erlang``). The command is ``ivr.cli_plan``.
"""
