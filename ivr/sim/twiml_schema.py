"""Strict TwiML (voice) validator: the stand-in checks every document, as do the tests.

twilio-python does no validation at all, so a misspelt verb or attribute only shows up as a
12200 warning on a live call. This module checks every document against Twilio's own generated
definitions (``ivr/sim/data/twiml-voice-schema.json``, derived from twilio-node's
``VoiceResponse.ts``) plus the semantic rules from ``/work/shared/reference/twilio.md`` §3.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).parent / "data" / "twiml-voice-schema.json"
ROOT_CLASS = "Response"

#: Top-level verbs each kind of document may use (twilio.md §3.8, §3.11, §3.12, §5).
CONTEXTS: dict[str, frozenset[str] | None] = {
    "call": None,  # any child the schema allows under <Response>
    "wait": frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"}),
    "queue_url": frozenset({"Play", "Say", "Pause", "Redirect"}),
    "number_url": frozenset({"Play", "Say", "Pause", "Gather", "Hangup"}),
    "status": frozenset(),  # status callbacks: an empty <Response/>
}
#: Verbs after which nothing at top level can run.
TERMINAL_VERBS = frozenset({"Redirect", "Hangup", "Reject", "Leave"})
#: Verbs that never carry a text body; stray text there is always a bug (e.g. <Pause>2</Pause>).
NO_TEXT = frozenset({"Response", "Gather", "Pause", "Hangup", "Leave", "Reject", "Record"})
SAY_MAX_CHARS = 3000  # Polly limit, the tightest of the TTS engines (twilio.md §9)
QUEUE_NAME_MAX = 64
_INT = re.compile(r"[0-9]+")
_XML_NS = "{http://www.w3.org/XML/1998/namespace}"


class TwimlError(AssertionError):
    """Raised with every problem found, so one test run shows the whole picture."""


@cache
def load_schema() -> dict[str, Any]:
    """Return the element definitions (cached: the file is ~65 kB)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["elements"]


@cache
def _known_tags() -> dict[str, str]:
    """Map every XML tag to a class; used to keep checking a misplaced but known element."""
    tags: dict[str, str] = {}
    for cls, spec in sorted(load_schema().items(), key=lambda kv: kv[0] != kv[1]["tag"]):
        tags.setdefault(spec["tag"], cls)
    return tags


def _attr_name(name: str) -> str:
    return name.replace(_XML_NS, "xml:")


def _text(el: ET.Element) -> str:
    return "".join(el.itertext())


def _check_value(path: str, name: str, value: str, spec: dict[str, Any], errors: list[str]) -> None:
    values = value.split() if spec.get("list") else [value]
    if spec.get("list") and not values:
        errors.append(f"{path}: attribute {name}={value!r} is empty")
    for v in values:
        if spec.get("number") and not _INT.fullmatch(v):
            errors.append(f"{path}: attribute {name}={value!r}: {v!r} is not an integer >= 0")
        elif spec.get("type") == "boolean" and v not in ("true", "false"):
            errors.append(f"{path}: attribute {name}={value!r} must be 'true' or 'false'")
        elif "enum" in spec and v not in spec["enum"]:
            allowed = spec["enum"] if len(spec["enum"]) <= 12 else f"{len(spec['enum'])} values"
            errors.append(f"{path}: attribute {name}={value!r}: {v!r} not in {allowed}")


def _int_attr(el: ET.Element, name: str) -> int | None:
    value = el.get(name)
    return int(value) if value is not None and _INT.fullmatch(value) else None


def _check_semantics(el: ET.Element, path: str, parent: str, errors: list[str]) -> None:
    """Rules Twilio enforces that the generated definitions cannot express."""
    tag, body = el.tag, (el.text or "").strip()
    if tag == "Redirect" and not body:
        errors.append(f"{path}: <Redirect> needs a URL body")
    elif tag == "Enqueue" and el.get("workflowSid") is None and not body:
        errors.append(f"{path}: <Enqueue> needs a queue name")
    elif tag == "Enqueue" and len(body) > QUEUE_NAME_MAX:
        errors.append(f"{path}: queue name longer than {QUEUE_NAME_MAX} chars")
    elif tag == "Pause" and (n := _int_attr(el, "length")) is not None and n < 1:
        errors.append(f"{path}: <Pause length> must be >= 1, got {n}")
    elif tag == "Record" and (n := _int_attr(el, "maxLength")) is not None and not 1 < n <= 14400:
        errors.append(f"{path}: <Record maxLength> must be > 1 and <= 14400, got {n}")
    elif tag == "Dial" and (n := _int_attr(el, "timeout")) is not None and not 5 <= n <= 600:
        errors.append(f"{path}: <Dial timeout> must be 5..600, got {n}")
    elif tag == "Play" and parent == "Gather" and el.get("digits") is not None:
        errors.append(f"{path}: <Play digits> is not allowed inside <Gather>")
    elif tag == "Say":
        text = _text(el)
        if not text.strip() and len(el) == 0:
            errors.append(f"{path}: <Say> has no text")
        if len(text) > SAY_MAX_CHARS:
            errors.append(f"{path}: <Say> text is {len(text)} chars (max {SAY_MAX_CHARS})")
    if tag in NO_TEXT:
        stray = [(el.text or "").strip()] + [(c.tail or "").strip() for c in el]
        if any(stray):
            errors.append(f"{path}: <{tag}> must not contain text, found {' '.join(stray)!r}")


def _walk(el: ET.Element, cls: str, path: str, parent: str, errors: list[str]) -> None:
    spec = load_schema()[cls]
    attrs = spec.get("attributes", {})
    for raw_name, value in el.attrib.items():
        name = _attr_name(raw_name)
        if name not in attrs:
            errors.append(f"{path}: unknown attribute {name!r} on <{el.tag}>")
        else:
            _check_value(path, name, value, attrs[name], errors)
    _check_semantics(el, path, parent, errors)
    children: dict[str, str] = spec.get("children", {})
    for i, child in enumerate(el):
        child_path = f"{path}/{child.tag}[{i}]"
        if child.tag in children:
            _walk(child, children[child.tag], child_path, el.tag, errors)
        elif child.tag in _known_tags():
            errors.append(f"{child_path}: <{child.tag}> is not allowed inside <{el.tag}>")
            _walk(child, _known_tags()[child.tag], child_path, el.tag, errors)
        else:
            errors.append(f"{child_path}: unknown element <{child.tag}>")


def _check_top_level(root: ET.Element, context: str, errors: list[str]) -> None:
    allowed = CONTEXTS[context]
    if context == "status" and len(root):
        errors.append(
            f"Response: a status callback must return an empty <Response/>, got {verbs(root)}"
        )
        return
    ended_by: str | None = None
    for i, verb in enumerate(root):
        path = f"Response/{verb.tag}[{i}]"
        if allowed is not None and verb.tag not in allowed:
            errors.append(
                f"{path}: <{verb.tag}> is not allowed in a {context!r} document "
                f"(allowed: {sorted(allowed)})"
            )
        if ended_by is not None:
            errors.append(f"{path}: unreachable, follows <{ended_by}>")
        if verb.tag == "Reject" and i > 0:
            errors.append(f"{path}: <Reject> must be the first verb")
        if verb.tag in TERMINAL_VERBS and ended_by is None:
            ended_by = verb.tag


def validate(xml: str | bytes, context: str = "call") -> ET.Element:
    """Parse and check one TwiML document; raise TwimlError listing every problem.

    Problems carry a path such as ``Response/Gather[0]/Say[1]``: ``[i]`` is the element's
    position among all its parent's child elements.
    """
    if context not in CONTEXTS:
        raise TwimlError(f"unknown TwiML context {context!r}; expected one of {sorted(CONTEXTS)}")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise TwimlError(f"TwiML is not well-formed XML: {exc}\n{xml!r}") from exc
    if root.tag != load_schema()[ROOT_CLASS]["tag"]:
        raise TwimlError(f"TwiML root must be <Response>, got <{root.tag}>")
    errors: list[str] = []
    _walk(root, ROOT_CLASS, "Response", "", errors)
    _check_top_level(root, context, errors)
    if errors:
        doc = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else xml
        raise TwimlError(f"invalid TwiML ({context}):\n  " + "\n  ".join(errors) + f"\n{doc}")
    return root


_VALID: set[tuple[bytes | str, str]] = set()  # documents already found valid, by context
_VALID_MAX = 20_000


def check(xml: str | bytes, context: str = "call") -> None:
    """``validate`` without the parsed tree, remembering the documents found valid: the
    stand-in sees the same few thousand documents again and again (menus, hold loops, status
    answers). An invalid document raises ``TwimlError`` every time, as ``validate`` does."""
    key = (xml, context)
    if key in _VALID:
        return
    validate(xml, context)
    if len(_VALID) >= _VALID_MAX:
        _VALID.clear()
    _VALID.add(key)


def verbs(root: ET.Element) -> list[str]:
    """Top-level verb tags in document order, e.g. ['Say', 'Gather', 'Redirect']."""
    return [child.tag for child in root]
