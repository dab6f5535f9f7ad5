"""The static TwiML that answers callers when this host cannot (``ivr fallback-twiml``).

Twilio requests a number's fallback URL when its voice URL fails; if that URL is on the same
host it fails too, exactly when it is needed. These documents are hosted elsewhere (a TwiML
Bin or any static host) and need nothing from us: the council number's gives the recording
notice, apologises and records a voicemail; the recordings are found afterwards by the
reconciler's recordings pass (``ivr.reconcile``: a recording whose call we never saw becomes
a callback task, the caller's number read from Twilio's Call resource).

``<Record>`` without ``action`` requests the current document again when it ends, which would
loop (twilio.md §6.0), so its action is a second static document (thanks, then hang up). No
``recordingStatusCallback``: nothing of ours may be answering. The agent line's document
apologises and hangs up (advisors cannot sign in without the service).

Pure: config in, XML text out.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr.config import FALLBACK_FILES, Config, Fallback


class NoFallback(ValueError):
    """config.yaml has no ``fallback`` section, or no URL for the thanks document."""


def settings(config: Config) -> Fallback:
    """The ``fallback`` section, or one line saying it is missing."""
    if config.fallback is None:
        raise NoFallback("config.yaml has no fallback section (see docs/provisioning.md)")
    return config.fallback


def documents(config: Config, thanks_url: str | None = None) -> dict[str, str]:
    """File name -> TwiML text, for every static document. ``thanks_url`` (else the config's)
    is where the thanks document will be hosted: the voicemail's ``<Record action>``."""
    fb = settings(config)
    action = thanks_url or fb.url("thanks")
    if not action:
        raise NoFallback("fallback.base_url or fallback.thanks_url is needed: the voicemail "
                         "document's Record action must point at the hosted thanks document")
    voice = {"voice": config.speech.voice, "language": config.speech.language}
    vm = config.voicemail

    main = VoiceResponse()
    main.say(config.messages.recording_notice, **voice)
    main.say(fb.apology, **voice)
    main.say(fb.voicemail_prompt, **voice)
    main.record(action=action, method="GET", max_length=vm.max_length,
                timeout=vm.silence_timeout, finish_on_key=vm.finish_on_key, play_beep=True)
    # reached only if Twilio skips the action (a silent recording): end, never loop
    main.say(config.messages.voicemail_empty, **voice)
    main.hangup()

    thanks = VoiceResponse()
    thanks.say(fb.thanks, **voice)
    thanks.hangup()

    agent = VoiceResponse()
    agent.say(fb.agent_line, **voice)
    agent.hangup()
    return {FALLBACK_FILES["voicemail"]: str(main), FALLBACK_FILES["thanks"]: str(thanks),
            FALLBACK_FILES["agent_line"]: str(agent)}
