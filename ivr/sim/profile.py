"""The ``ivr simulate`` profile file: calls per hour, menu mix, handle time, patience, shifts.

Validated with pydantic, like ``config.yaml`` (``ivr.config``), so a planner editing a rota gets
one sentence naming the file, the field (``shifts.1.end``), the value and what was expected,
rather than a traceback halfway through a simulated day. An example with shifts::

    calls_per_hour: {9: 60, 10: 80, 11: 70}   # or one number for every hour
    mix: {"2": 0.5, "3": 0.2, "4": 0.1, "5": 0.1, "0": 0.1}   # menu key -> share
    handle_seconds: 240      # mean talk time (exponential); theory: the whole handle time
    overhead_seconds: 24     # optional: advisor time per call beyond the talk (set-up,
                             # wrap-up) for --agents-for; default the simulation's measured one
    patience_seconds: 180    # mean patience in the queue (exponential); null: infinite
    shifts:                  # optional: who is on the agent line when (else --agents N)
      - name: early
        start: "08:30"       # HH:MM; advisors sign in then and sign out at the end
        end: "16:30"         # (finishing a call in progress first)
        advisors: 3
        departments: [council_tax, benefits]   # optional: default every department
        breaks:
          - {at: "12:00", minutes: 30, stagger_minutes: 30}   # advisor k starts k x 30 later

Times may be written unquoted: the file is read without YAML 1.1's base-60 integers, which
would otherwise turn ``12:30`` into 750.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ivr.config import _describe as describe_error

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


class ProfileError(ValueError):
    """The profile file is missing or invalid; the message names the file and the field."""


def _minutes(value: Any) -> int:
    """``"08:30"`` -> 510 minutes after midnight (``"24:00"`` is the end of the day)."""
    match = _TIME.match(str(value).strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expected a time of day as HH:MM, such as '08:30'")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError("expected a time of day between 00:00 and 24:00")
    return hours * 60 + minutes


ClockTime = Annotated[int, BeforeValidator(_minutes)]  # minutes after midnight


def clock(minutes: float) -> str:
    return f"{int(minutes) // 60:02d}:{int(minutes) % 60:02d}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Break(_Frozen):
    """A break every advisor on the shift takes (the agent line's break key, then back)."""

    at: ClockTime
    minutes: float = Field(gt=0, le=240)
    stagger_minutes: float = Field(default=0, ge=0)  # advisor k starts k x this later

    def start(self, k: int) -> float:
        """When advisor ``k`` of the shift goes on this break (minutes after midnight)."""
        return self.at + k * self.stagger_minutes


class Shift(_Frozen):
    """``advisors`` advisors on the agent line from ``start`` to ``end``."""

    name: str = ""
    start: ClockTime
    end: ClockTime
    advisors: int = Field(ge=0)
    departments: tuple[str, ...] | None = None  # None: every department
    breaks: tuple[Break, ...] = ()

    @field_validator("departments")
    @classmethod
    def _known(cls, value: tuple[str, ...] | None, info: ValidationInfo,
               ) -> tuple[str, ...] | None:
        known = (info.context or {}).get("departments")
        if value is not None and not value:
            raise ValueError("give at least one department, or leave departments out for all")
        unknown = [d for d in value or () if known is not None and d not in known]
        if unknown:
            raise ValueError(f"unknown department(s) {unknown}; config.yaml has "
                             f"{sorted(known)}")
        return value

    @model_validator(mode="after")
    def _within(self) -> Shift:
        if self.end <= self.start:
            raise ValueError(f"end {clock(self.end)} must be later than start "
                             f"{clock(self.start)}")
        for i, b in enumerate(self.breaks):
            last = b.start(max(0, self.advisors - 1)) + b.minutes
            if b.at < self.start or last > self.end:
                raise ValueError(f"breaks.{i} ({clock(b.at)}, {b.minutes:g} min, staggered "
                                 f"{b.stagger_minutes:g}) must fit within the shift "
                                 f"{clock(self.start)}-{clock(self.end)}")
        for k in range(self.advisors):
            spans = sorted((b.start(k), b.start(k) + b.minutes) for b in self.breaks)
            if any(nxt[0] < cur[1] for cur, nxt in zip(spans, spans[1:], strict=False)):
                raise ValueError(f"breaks overlap for advisor {k} of the shift")
        return self

    @property
    def label(self) -> str:
        return f"{self.name + ' ' if self.name else ''}{clock(self.start)}-{clock(self.end)}"


class _ProfileFile(_Frozen):
    calls_per_hour: dict[Annotated[int, Field(ge=0, le=23)], Annotated[float, Field(ge=0)]] \
        | Annotated[float, Field(ge=0)]
    mix: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=lambda: {"2": 1.0})
    handle_seconds: float = Field(default=240.0, gt=0)
    patience_seconds: float | None = Field(default=180.0, gt=0)
    overhead_seconds: float | None = Field(default=None, ge=0)
    shifts: tuple[Shift, ...] = ()

    @field_validator("mix")
    @classmethod
    def _some(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or sum(value.values()) <= 0:
            raise ValueError("give at least one menu key with a share above 0")
        return value


@dataclass
class Profile:
    calls_per_hour: dict[int, float]
    mix: dict[str, float] = field(default_factory=lambda: {"2": 1.0})
    handle_seconds: float = 240.0
    patience_seconds: float | None = 180.0
    shifts: tuple[Shift, ...] = ()
    overhead_seconds: float | None = None  # advisor time per call beyond the talk (None: sim's)

    @classmethod
    def load(cls, path: str | Path, departments: Iterable[str] | None = None) -> Profile:
        """Read and validate a JSON or YAML profile; ``departments`` (config.yaml's) checks
        the shifts' departments. Raises ProfileError naming the file and the field."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = (yaml.load(text, Loader=_Loader) if path.suffix in (".yaml", ".yml")
                    else json.loads(text))
        except FileNotFoundError:
            raise ProfileError(f"{path}: profile file not found") from None
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise ProfileError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'JSON'}"
                               f": {exc}") from None
        try:
            return cls.from_dict(data, departments)
        except ProfileError as exc:
            raise ProfileError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any, departments: Iterable[str] | None = None) -> Profile:
        if not isinstance(data, dict):
            raise ProfileError("invalid profile: expected a mapping of settings at the top level")
        context = {"departments": None if departments is None else set(departments)}
        try:
            raw = _ProfileFile.model_validate(data, context=context)
        except ValidationError as exc:
            problems = "; ".join(describe_error(e) for e in exc.errors())
            raise ProfileError(f"invalid profile: {problems}") from None
        rate = raw.calls_per_hour
        per_hour = ({int(h): float(v) for h, v in rate.items()} if isinstance(rate, dict)
                    else {h: float(rate) for h in range(24)})
        return cls(per_hour, {str(k): float(v) for k, v in raw.mix.items()},
                   raw.handle_seconds, raw.patience_seconds, raw.shifts, raw.overhead_seconds)

    def check_departments(self, departments: Iterable[str]) -> None:
        """Every shift's departments exist (for profiles built in code, not loaded)."""
        known = set(departments)
        for i, shift in enumerate(self.shifts):
            unknown = sorted(set(shift.departments or ()) - known)
            if unknown:
                raise ProfileError(f"invalid profile: shifts.{i}.departments: unknown "
                                   f"department(s) {unknown}; config.yaml has {sorted(known)}")


class _Loader(yaml.SafeLoader):
    """YAML without base-60 integers (YAML 1.1 reads ``12:30`` as 750)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"))
