"""Load and validate ``config.yaml`` once, at start-up, into a frozen typed object.

A bad file fails with one sentence naming the file, the key path, the value and what was
expected, so a supervisor editing prompts can fix it without reading Python.
"""

from __future__ import annotations

import os
import string
import sys
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ivr.calendar import OpeningHours
from ivr.phone import Rejection

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


STATIC_URL = "/static/"  # Flask's static route for the app (ivr/static)
STATIC_DIR = Path(__file__).resolve().parent / "static"


class ConfigError(RuntimeError):
    """The configuration file is missing or invalid; the message says where and how to fix it."""


def _e164(value: str) -> str:
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(
            f"expected a phone number in E.164 form such as +441206282300 ({exc})"
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("expected a valid phone number in E.164 form such as +441206282300")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


E164 = Annotated[str, AfterValidator(_e164)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Council(Frozen):
    name: str
    main_number: E164
    sms_from: E164


class Speech(Frozen):
    voice: str
    language: str
    keypad_timeout: int = Field(ge=1, le=60)
    relay_keypad_timeout: int = Field(ge=1, le=60)
    words_per_second: float = Field(gt=0.5, le=5)


class DayHours(Frozen):
    open: time
    close: time

    @model_validator(mode="after")
    def _ordered(self) -> DayHours:
        if self.close <= self.open:
            raise ValueError("close must be later than open")
        return self


class BankHolidays(Frozen):
    country: str
    subdivision: str


class Hours(Frozen):
    timezone: str
    weekly: dict[Literal[WEEKDAYS], DayHours | None]  # type: ignore[valid-type]
    closures: list[date] = []
    bank_holidays: BankHolidays

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone (expected e.g. Europe/London): {exc}") from None
        return value

    @field_validator("weekly")
    @classmethod
    def _all_days(cls, value: dict) -> dict:
        missing = [d for d in WEEKDAYS if d not in value]
        if missing:
            raise ValueError(f"every weekday needs hours or null; missing {', '.join(missing)}")
        return value

    def opening_hours(self) -> OpeningHours:
        weekly = {
            i: (self.weekly[d].open, self.weekly[d].close) if self.weekly[d] else None
            for i, d in enumerate(WEEKDAYS)
        }
        return OpeningHours(
            weekly=weekly,
            closures=frozenset(self.closures),
            tz=ZoneInfo(self.timezone),
            holiday_country=self.bank_holidays.country,
            holiday_subdiv=self.bank_holidays.subdivision,
        )


class Lines(Frozen):
    payment_line: E164
    text_phone: E164
    transfer_timeout: int = Field(ge=5, le=600)


class Relay(Frozen):
    caller_ids: list[E164]
    callback_prefix: str = Field(pattern=r"^\d{3,6}$")
    # Prefixes a resident may key before their number (18001, 18002): a Relay UK callback.
    keyed_prefixes: list[Annotated[str, Field(pattern=r"^1\d{2,5}$")]]


Key = Annotated[str, Field(pattern=r"^[0-9*#]$")]


class Keys(Frozen):
    closed_payment_line: Key
    closed_voicemail: Key
    text_link: Key
    failed_transfer_menu: Key
    confirm_number: Key
    reenter_number: Key
    agent_take_next: Key
    agent_next_callback: Key
    agent_break: Key
    agent_sign_out: Key
    # At a recognised phone's PIN prompt: key an agent number instead (not a digit, which a
    # PIN may hold, nor #, which ends it).
    agent_other_number: Literal["*"] = "*"
    wrap_up_resolved: Key
    wrap_up_follow_up: Key
    callback_call_now: Key
    callback_skip: Key

    @model_validator(mode="after")
    def _distinct_pairs(self) -> Keys:
        groups = (
            ("closed_payment_line", "closed_voicemail"),
            ("confirm_number", "reenter_number"),
            ("agent_take_next", "agent_next_callback", "agent_break", "agent_sign_out"),
            ("wrap_up_resolved", "wrap_up_follow_up"),
            ("callback_call_now", "callback_skip"),
        )
        for group in groups:
            values = [getattr(self, name) for name in group]
            if len(set(values)) != len(values):
                raise ValueError(f"keys {', '.join('keys.' + n for n in group)} must differ")
        return self


class Recording(Frozen):
    advisor_leg: Literal[
        "record-from-answer",
        "record-from-ringing",
        "record-from-answer-dual",
        "record-from-ringing-dual",
    ]
    # How long Twilio keeps each kind of recording before a job deletes it there (seconds).
    # Voicemails follow their task: ``callbacks_work.keep_closed_tasks`` after it closes.
    keep_advisor_calls: int = Field(ge=86400, le=10 * 366 * 86400)
    keep_feedback_comments: int = Field(ge=86400, le=10 * 366 * 86400)


class Action(StrEnum):
    PAYMENT_LINE = "payment_line"
    TEXT_PHONE = "text_phone"
    QUEUE = "queue"


class MenuOption(Frozen):
    key: str = Field(pattern=r"^[0-9#]$")
    action: Action
    department: str | None = None
    speech: list[str] = []
    prompt: str

    @model_validator(mode="after")
    def _department_for_queue(self) -> MenuOption:
        if self.action is Action.QUEUE and not self.department:
            raise ValueError("a queue option needs a department")
        return self


class Menu(Frozen):
    max_misses: int = Field(ge=1, le=10)
    repeat_key: str = Field(pattern=r"^[*#0-9]$")
    fallback_department: str
    options: list[MenuOption] = Field(min_length=1)

    @field_validator("options")
    @classmethod
    def _unique_keys(cls, options: list[MenuOption]) -> list[MenuOption]:
        first: dict[str, int] = {}
        for i, option in enumerate(options):
            if option.key in first:
                raise ValueError(
                    f"menu keys must be unique: menu.options.{i}.key {option.key!r} is also "
                    f"menu.options.{first[option.key]}.key"
                )
            first[option.key] = i
        return options


class Department(Frozen):
    name: str
    queue: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    online: str
    link: str = Field(pattern=r"^https://")


class HoldAudio(Frozen):
    url: str
    seconds: int = Field(ge=1, le=60)

    @field_validator("url")
    @classmethod
    def _served_file_exists(cls, url: str) -> str:
        # /static/... is served by the app from ivr/static: a missing file is silence on hold
        if url.startswith(STATIC_URL) and not (STATIC_DIR / url[len(STATIC_URL):]).is_file():
            raise ValueError(f"{url} is served from {STATIC_DIR}, which has no such file")
        return url


class Queue(Frozen):
    voicemail_after: int = Field(ge=10, le=3600)
    max_overrun: int = Field(ge=1, le=30)
    announce_every: int = Field(ge=10, le=300)
    high_demand_after: int = Field(ge=0)
    default_seconds_per_caller: int = Field(ge=1)
    estimate_window: int = Field(ge=60)
    estimate_min_answers: int = Field(ge=1)
    max_size: int = Field(ge=1, le=5000)
    callback_on_abandon: bool
    hold_audio: HoldAudio


class Voicemail(Frozen):
    max_length: int = Field(ge=2, le=14400)
    silence_timeout: int = Field(ge=1, le=60)
    finish_on_key: str = Field(pattern=r"^[0-9#*]{1,12}$")
    number_attempts: int = Field(ge=1, le=10)
    number_max_digits: int = Field(ge=10, le=20)


class Feedback(Frozen):
    enabled: bool
    share: float = Field(ge=0, le=1)
    comment_seconds: int = Field(ge=2, le=300)


class Agents(Frozen):
    line_numbers: list[E164]
    pin_attempts: int = Field(ge=1, le=10)
    lockout_failures: int = Field(ge=1)  # from one caller ID within lockout_window
    lockout_window: int = Field(ge=60)
    # Failures for one agent number, from any caller IDs, within lockout_window lock that
    # agent out of the line for lockout_window (a supervisor may unlock them sooner).
    agent_lockout_failures: int = Field(default=5, ge=1)
    pin_min_length: int = Field(default=6, ge=6, le=12)  # ivr.credentials.check_pin
    wrap_up_seconds: int = Field(ge=0, le=3600)
    no_agent_voicemail: bool
    whisper: bool = True  # the advisor hears the caller's details before the bridge
    recent_days: int = Field(ge=1, le=90)
    # The web console's sessions: a session ends this long after sign-in however busy it is,
    # or this long after the advisor's last page or form (a page polling by itself is no action).
    console_session_hours: int = Field(default=10, ge=1, le=24)
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Sign-in throttling (ivr.console.throttle): after this many wrong passwords for one agent
    # number, or wrong sign-ins from one address, each try must wait: the first wait, doubled
    # with every further failure up to the longest; never a lock. Failures are forgotten this
    # long after the last one. A browser an advisor signed in on skips the waits others cause.
    console_free_failures: int = Field(default=5, ge=1, le=100)
    console_client_free_failures: int = Field(default=10, ge=1, le=1000)
    console_first_wait: int = Field(default=30, ge=1, le=3600)
    console_max_wait: int = Field(default=900, ge=1, le=86400)
    console_forget_failures: int = Field(default=86400, ge=60, le=30 * 86400)
    console_device_days: int = Field(default=30, ge=0, le=400)

    @model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, data):
        old = [k for k in ("console_lockout_failures", "console_lockout_seconds")
               if isinstance(data, dict) and k in data]
        if old:
            raise ValueError(
                f"agents.{old[0]} was replaced: the console no longer locks an account but makes "
                "each try wait longer (agents.console_free_failures, console_first_wait, "
                "console_max_wait); remove the console_lockout_* keys")
        return data

    @model_validator(mode="after")
    def _console_waits(self) -> Agents:
        if self.console_first_wait > self.console_max_wait:
            raise ValueError(
                f"agents.console_first_wait: {self.console_first_wait} s is longer than "
                f"agents.console_max_wait ({self.console_max_wait} s)")
        if self.console_forget_failures < self.console_max_wait:
            raise ValueError(
                f"agents.console_forget_failures: {self.console_forget_failures} s is shorter "
                f"than agents.console_max_wait ({self.console_max_wait} s); failures would be "
                "forgotten before the wait they caused is over")
        return self


class CallbacksWork(Frozen):
    retry_gap: int = Field(ge=60)
    max_attempts: int = Field(ge=1, le=10)
    # A closed task stays in Redis this long (the console lists closed tasks for 7 days).
    keep_closed_tasks: int = Field(ge=7 * 86400, le=10 * 366 * 86400)


class Events(Frozen):
    retention_days: int = Field(ge=1, le=3660)


class Audit(Frozen):
    retention_days: int = Field(default=730, ge=30, le=3660)


class Callbacks(Frozen):
    rq_queue: str
    sms_rq_queue: str
    keep_finished_calls: int = Field(ge=3600)


# Which {placeholders} each message may use; anything else is a typo that would be spoken aloud.
MESSAGE_FIELDS: dict[str, set[str]] = {
    "closed": {"hours"},
    "closed_choice": {"day"},
    "sms_link": {"department", "link"},
    "connecting": {"department"},
    "queue_closed": {"department"},
    "hold_position": {"position"},
    "hold_wait": {"wait"},
    "hold_wait_voicemail": {"within"},
    "within_seconds": {"seconds"},
    "within_minutes": {"minutes"},
    "wait_minutes": {"minutes"},
    "voicemail_intro": {"day"},
    "voicemail_thanks": {"day"},
    "number_readback": {"digits"},
    "number_readback_relay": {"digits"},
    "no_agents": {"department"},
    "caller_intro": {"first_name", "department"},
    "callback_unreachable_sms": {"attempts", "link", "number"},
    "agent.hello": {"first_name"},
    "agent.waiting": {"waiting", "longest"},
    "agent.callbacks_due": {"due"},
    "agent.whisper": {"department", "waited", "number", "history"},
    "agent.history_recent": {"count", "days"},
    "agent.history_recent_one": {"days"},
    "agent.callback_intro": {"department", "when", "number"},
    "agent.callback_not_answered": {"attempts", "max_attempts"},
    "agent.callback_skip_failed": {"minutes"},
    "agent.callback_too_soon": {"when"},
}


def _check_placeholders(model: BaseModel, prefix: str = "") -> None:
    for name, value in model:
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            _check_placeholders(value, f"{key}.")
            continue
        if not isinstance(value, str):
            continue
        if not value.strip():
            raise ValueError(f"messages.{key} is empty: every message is spoken to a caller, "
                             "so give it its words")
        used = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        extra = used - MESSAGE_FIELDS.get(key, set())
        if extra:
            allowed = ", ".join(sorted(MESSAGE_FIELDS.get(key, set()))) or "none"
            raise ValueError(
                f"messages.{key} uses unknown placeholder(s) {sorted(extra)}; allowed: {allowed}"
            )


class AgentMessages(Frozen):
    enter_number: str
    enter_pin: str
    enter_pin_known: str  # a recognised phone: only the PIN is asked
    pin_too_weak: str  # the right PIN, but one the rules now refuse: ask a supervisor
    wrong: str
    locked: str
    hello: str
    waiting: str
    none_waiting: str
    callbacks_due: str
    menu: str
    on_break: str
    back: str
    signed_out: str
    no_callers: str
    taking_next: str  # callers wait: the menu takes the front one unless a key is pressed
    whisper: str
    history_open_callback: str
    history_recent: str
    history_recent_one: str
    history_none: str
    withheld_number: str
    wrap_up: str
    wrap_up_thanks: str
    no_callbacks: str
    callback_intro: str
    callback_no_number: str
    callback_message: str
    callback_choice: str
    callback_skip_failed: str  # {minutes}: until the agent's claim on it lapses
    callback_answered: str
    callback_not_answered: str
    callback_unreachable: str
    callback_taken: str  # another advisor holds the callback's claim
    callback_in_progress: str  # a call of that callback is on: its result is pending
    callback_too_soon: str  # {when}: the retry gap since the last attempt ends then


class Messages(Frozen):
    welcome: str
    recording_notice: str
    menu_intro: str
    menu_repeat: str
    not_caught: str
    to_general_advisor: str
    closed: str
    closed_online: str
    closed_choice: str
    online_sms_offer: str
    online_sms_sent: str
    sms_link: str
    connecting: str
    hold_position: str
    hold_wait: str
    hold_wait_voicemail: str
    within_soon: str
    within_seconds: str
    within_minutes: str
    hold_high_demand: str
    wait_under_minute: str
    wait_one_minute: str
    wait_minutes: str
    queue_busy: str
    queue_timeout: str
    call_ended: str
    payment_line: str
    payment_failed: str
    payment_failed_choice: str
    text_phone: str
    text_phone_failed: str
    voicemail_intro: str
    voicemail_thanks: str
    voicemail_empty: str
    number_needed: str
    number_relay: str
    number_prompt: str
    number_readback: str
    number_readback_relay: str
    number_given_up: str
    number_rejected: dict[Rejection, str]
    error_apology: str
    feedback_prompt: str
    feedback_comment: str
    feedback_thanks: str
    no_agents: str
    queue_closed: str  # a supervisor closed the department's queue (``ivr.controls``)
    caller_intro: str
    callback_announce: str
    callback_unreachable_sms: str
    agent: AgentMessages

    @model_validator(mode="after")
    def _placeholders(self) -> Messages:
        _check_placeholders(self)
        missing = set(Rejection) - set(self.number_rejected)
        if missing:
            raise ValueError(
                f"messages.number_rejected needs a reason for {sorted(m.value for m in missing)}"
            )
        return self


def _https(value: str | None) -> str | None:
    if value is not None and not value.startswith("https://"):
        raise ValueError("expected an https:// URL (Twilio fetches it when this host is down)")
    return value


HttpsUrl = Annotated[str | None, AfterValidator(_https)]


class Fallback(Frozen):
    """The static TwiML that answers when this host cannot (``ivr fallback-twiml`` writes it;
    ``ivr provision`` points the numbers' fallback URLs at it). Hosted elsewhere: a TwiML Bin
    or any static web host. Each URL defaults to ``base_url`` plus the document's file name."""

    base_url: HttpsUrl = None
    voicemail_url: HttpsUrl = None  # the council number's fallback: notice, apology, Record
    thanks_url: HttpsUrl = None  # the Record's action: thanks, then hang up
    agent_line_url: HttpsUrl = None  # the agent line's fallback: apology, then hang up
    apology: str = Field(min_length=1)
    voicemail_prompt: str = Field(min_length=1)
    thanks: str = Field(min_length=1)
    agent_line: str = Field(min_length=1)

    def url(self, document: str) -> str | None:
        """Where ``document`` (``voicemail``, ``thanks``, ``agent_line``) is hosted, if known."""
        own = getattr(self, f"{document}_url")
        if own:
            return own
        if self.base_url:
            return self.base_url.rstrip("/") + "/" + FALLBACK_FILES[document]
        return None


FALLBACK_FILES = {"voicemail": "voicemail.xml", "thanks": "thanks.xml",
                  "agent_line": "agent-line.xml"}


class Config(Frozen):
    council: Council
    speech: Speech
    hours: Hours
    lines: Lines
    relay: Relay
    withheld_caller_ids: list[str]
    keys: Keys
    recording: Recording
    menu: Menu
    departments: dict[str, Department]
    queue: Queue
    voicemail: Voicemail
    feedback: Feedback
    agents: Agents
    callbacks_work: CallbacksWork
    events: Events
    audit: Audit = Audit()
    callbacks: Callbacks
    messages: Messages
    fallback: Fallback | None = None  # the static fallback documents (optional)

    @model_validator(mode="after")
    def _departments_exist(self) -> Config:
        # The error is raised at the top level, so name the key path in the message itself.
        known = ", ".join(sorted(self.departments))
        wanted = [
            (f"menu.options.{i}.department", o.department)
            for i, o in enumerate(self.menu.options)
            if o.department
        ]
        wanted.append(("menu.fallback_department", self.menu.fallback_department))
        for path, dept in wanted:
            if dept not in self.departments:
                raise ValueError(f"{path}: {dept!r} is not under departments (known: {known})")
        seen: dict[str, str] = {}
        for dept_id, department in self.departments.items():
            if department.queue in seen:
                raise ValueError(
                    f"departments.{dept_id}.queue: {department.queue!r} is already the queue of "
                    f"departments.{seen[department.queue]}; each department needs its own queue"
                )
            seen[department.queue] = dept_id
        kept = self.events.retention_days * 86400
        if self.recording.keep_feedback_comments > kept:
            # the comment's only pointer is its event: past that, nothing could find it
            raise ValueError(
                f"recording.keep_feedback_comments: {self.recording.keep_feedback_comments} s "
                f"outlasts events.retention_days ({self.events.retention_days} days, the "
                f"comment's event); keep it at most {kept} s"
            )
        return self

    def department(self, dept_id: str) -> Department:
        """The department, or the fallback one for an unknown id (a caller is never stranded)."""
        return self.departments.get(dept_id) or self.departments[self.menu.fallback_department]

    def department_id(self, dept_id: str | None) -> str:
        return dept_id if dept_id in self.departments else self.menu.fallback_department


def _describe(error: dict) -> str:
    path = ".".join(str(p) for p in error["loc"]) or "(top level)"
    value = error.get("input")
    if isinstance(value, dict) and error.get("type") == "value_error":
        return f"{path}: {error['msg']}"  # a check across keys: its message names them
    if isinstance(value, dict):
        keys = ", ".join(map(str, list(value)[:5])) or "none"
        shown = f"a mapping with keys {keys}: a single value goes here, not nested keys"
    elif isinstance(value, list):
        shown = f"a list of {len(value)}"  # a whole menu repeated back helps no one
    else:
        shown = repr(value)
    return f"{path}: {error['msg']} (got {shown})"


def load_config(path: str | Path) -> Config:
    """Read and validate the YAML file; raise ConfigError naming the field on any problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: configuration file not found; set IVR_CONFIG to its path"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{path}: invalid configuration: {problems}") from None


def config_path() -> str:
    """The file every process and command reads: ``IVR_CONFIG``, else ./config.yaml."""
    return os.environ.get("IVR_CONFIG", "config.yaml")


def load_for_command() -> Config | None:
    """A command's configuration, or None once the problem is said in one line on stderr
    (the caller exits 2): the one place commands turn a ConfigError into that line."""
    try:
        return load_config(config_path())
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
