"""The project's own stand-in for Twilio's side (REST API now; the call simulator builds on it)."""
