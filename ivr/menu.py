"""Pure decision: which menu option did the caller choose, from keypad digits or speech."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ivr.config import MenuOption

_SPOKEN_DIGITS = {
    "zero": "0",
    "oh": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "star": "*",
}


class Outcome(StrEnum):
    CHOSEN = "chosen"
    REPEAT = "repeat"
    MISSED = "missed"  # no input, or input that matches no option


@dataclass(frozen=True)
class Choice:
    outcome: Outcome
    option: MenuOption | None = None


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9*]+", text.lower()))


def choose(
    digits: str | None, speech: str | None, options: list[MenuOption], repeat_key: str
) -> Choice:
    """Map a Gather result to an option; keys win over speech, longest spoken phrase wins."""
    keys = (digits or "").strip()
    if keys:
        if keys == repeat_key:
            return Choice(Outcome.REPEAT)
        for option in options:
            if keys == option.key:
                return Choice(Outcome.CHOSEN, option)
        return Choice(Outcome.MISSED)
    said = _words(speech or "")
    if not said:
        return Choice(Outcome.MISSED)
    padded = f" {said} "
    if any(f" {w} " in padded for w in ("repeat", "again")):
        return Choice(Outcome.REPEAT)
    best: tuple[int, MenuOption] | None = None
    for option in options:
        for phrase in option.speech:
            phrase_words = _words(phrase)
            if (
                phrase_words
                and f" {phrase_words} " in padded
                and (best is None or len(phrase_words) > best[0])
            ):
                best = (len(phrase_words), option)
    if best:
        return Choice(Outcome.CHOSEN, best[1])
    # "option two", "press 2", "two": a spoken key.
    spoken = [_SPOKEN_DIGITS.get(w, w) for w in said.split()]
    for word in spoken:
        for option in options:
            if word == option.key:
                return Choice(Outcome.CHOSEN, option)
        if word == repeat_key:
            return Choice(Outcome.REPEAT)
    return Choice(Outcome.MISSED)
