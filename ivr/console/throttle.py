"""How long a console sign-in must wait after wrong passwords: growing waits, never a lock.

Failures are counted per agent number (known or not, so the count says nothing about which
numbers exist), per client address and per trusted browser. The first ``free`` failures cost
nothing; after that each try must wait ``first`` seconds from the last failure, doubled with
every further failure, up to ``cap``; once the wait is over the right password works. An
outsider guessing can therefore delay an advisor by at most ``cap``, never lock them out, and
tries made during a wait are refused without being counted, so hammering does not stretch it.

Pure decisions only (no Flask, no Redis): ``ivr.console.auth`` reads and writes the tallies.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ivr.config import Agents

IPV6_GROUP = 64  # one IPv6 client holds a /64, so its addresses count as one


@dataclass(frozen=True)
class Policy:
    free: int    # failures before any wait
    first: int   # the first wait, seconds
    cap: int     # the longest wait, seconds
    forget: int  # failures are forgotten this long after the last one, seconds

    @classmethod
    def account(cls, cfg: Agents) -> Policy:
        """For one agent number, and for one trusted browser signing in as it."""
        return cls(cfg.console_free_failures, cfg.console_first_wait, cfg.console_max_wait,
                   cfg.console_forget_failures)

    @classmethod
    def client(cls, cfg: Agents) -> Policy:
        """For one client address, whatever agent numbers it tries."""
        return cls(cfg.console_client_free_failures, cfg.console_first_wait,
                   cfg.console_max_wait, cfg.console_forget_failures)


@dataclass(frozen=True)
class Tally:
    failures: int = 0
    last: float = 0.0  # when the last failure was counted (epoch seconds)


def wait_after(failures: int, policy: Policy) -> int:
    """Seconds the next try must wait after the last of ``failures`` failures."""
    if failures < policy.free:
        return 0
    steps = failures - policy.free
    return policy.cap if steps >= 32 else min(policy.cap, policy.first << steps)


def current(tally: Tally, policy: Policy, now: float) -> Tally:
    """The tally as it stands at ``now``: failures are forgotten ``forget`` s after the last."""
    return Tally() if now - tally.last >= policy.forget else tally


def remaining(tally: Tally, policy: Policy, now: float) -> float:
    """Seconds left before the next try may be checked (0: it may be checked now)."""
    tally = current(tally, policy, now)
    if not tally.failures:
        return 0.0
    return max(0.0, tally.last + wait_after(tally.failures, policy) - now)


def client_id(address: str | None) -> str:
    """The client's address as counted: an IPv4 address, an IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_GROUP}", strict=False))
    return str(ip)


def in_words(seconds: float) -> str:
    """'45 seconds', '2 minutes', '15 minutes': a wait, rounded up, for the sign-in page."""
    whole = max(1, int(-(-seconds // 1)))
    if whole < 120:
        return f"{whole} second{'s' if whole != 1 else ''}"
    return f"{-(-whole // 60)} minutes"
