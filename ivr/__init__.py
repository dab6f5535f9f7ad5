"""Colchester Borough Council's telephone IVR and call-queue controller (Flask + Twilio)."""

from ivr.app import create_app

__all__ = ["create_app"]
