"""Voicemail: the recording flow, callback tasks in Redis and the RQ jobs that release them."""
