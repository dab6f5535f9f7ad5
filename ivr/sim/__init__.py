"""The project's own stand-in for Twilio: calls, queues and the REST API, in virtual time.

Layers (each module says why it exists):

- ``clock``: the event scheduler; generator processes; virtual (time-machine) or real time.
- ``transport``: WSGI in-process or HTTP to a running server; ``Faults`` injects failures.
- ``webhooks``/``engine``: signed requests, Twilio's failure rules, legs, numbers, status
  callbacks. ``verbs``, ``queues``, ``dial``: the TwiML interpreter.
- ``legs``: what a leg is, and the ``Actor`` protocol (what people decide); ``scenario``:
  scripted callers and agents.
- ``jobs``: the app's RQ jobs run when the virtual clock reaches them.
- ``rest``/``rest_calls``: api.twilio.com for twilio's ``Client`` (messages, calls, queues).
- ``world``: the engine set up for this app (``in_process`` / ``over_http``);
  ``cli_call``: ``ivr call``. ``twiml_schema``: the validator every document goes through.
"""
