"""Colchester Borough Council's telephone IVR and call-queue controller (Flask + Twilio).

The factory is ``ivr.app.create_app``; this package file imports nothing, so importing a
decision module (``ivr.calendar``, ``ivr.hold``...) does not load the web app.
"""
