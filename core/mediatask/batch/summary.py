"""A batch's summary: how many jobs are in each state, why, and the command that recovers them.

Reasons come partly from providers (untrusted text): :func:`short_reason` makes each one line of
plain text, HTML tags and control characters removed and the length capped, so a 500 page from a
proxy cannot fill the terminal.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from mediatask.journal.sqlite import JobRecord
from mediatask.model.values import frozen_map

STATES = (
    "succeeded",
    "skipped",
    "failed",
    "expired",
    "unfinished",
    "timed-out",
    "uncertain",
    "lost",
    "invalid",
    "submitted",
    "pending",
)
"""Every state a summary counts, in the order it shows them. ``skipped``: succeeded earlier."""
REASON_LENGTH = 200
"""Characters kept of one reason: enough for a message and the fix at its end."""
REASONS_SHOWN = 3
"""Reasons shown per state; the rest are counted as "N more"."""
_TAG = re.compile(r"<[^>]*>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def short_reason(text: object, *, drop: Iterable[str] = ()) -> str:
    """``text`` as one short line of plain text: no HTML, no control characters, capped."""
    plain = _TAG.sub(" ", str(text))
    for word in drop:
        if word:
            plain = plain.replace(word, "…")
    plain = " ".join(_CONTROL.sub(" ", plain).split())
    return plain if len(plain) <= REASON_LENGTH else plain[: REASON_LENGTH - 1] + "…"


@attrs.frozen
class Step:
    """A command that recovers some of the jobs, and what it does."""

    jobs: int
    states: Mapping[str, int] = attrs.field(converter=frozen_map)
    """How many of the jobs are in each state, e.g. ``{"unfinished": 3, "pending": 1}``."""
    flag: str | None
    """What to add to the batch command: ``""`` for the same command, ``None`` when no command
    can (the input must be fixed first)."""
    says: str

    def command(self, base: str) -> str | None:
        """The whole command line, from the batch's own ``base`` command."""
        if self.flag is None:
            return None
        return f"{base} {self.flag}".strip()


@attrs.frozen
class Summary:
    """How many of a batch's jobs are in each state, why, what recovers them, and how fast."""

    counts: Mapping[str, int] = attrs.field(converter=frozen_map)
    """Keys: :data:`STATES`."""
    seconds: float
    ended: int = 0
    """Jobs this run brought to an end (skipped ones are not counted)."""
    reasons: Mapping[str, tuple[tuple[str, int], ...]] = attrs.field(
        factory=dict, converter=frozen_map
    )
    """Per state, each reason and how many jobs it holds, most first."""
    steps: tuple[Step, ...] = ()

    @property
    def total(self) -> int:
        """Every job of the manifest, readable or not."""
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """True when every job has succeeded (in this run or an earlier one)."""
        return self.counts.get("succeeded", 0) + self.counts.get("skipped", 0) == self.total

    @property
    def jobs_per_minute(self) -> float:
        """This run's throughput: jobs it ended per minute."""
        return self.ended / self.seconds * 60 if self.seconds > 0 else 0.0

    def to_json(self, command: str = "mediatask batch") -> dict[str, Any]:
        """The JSON form ``batch --json`` prints; ``command`` is the batch's own command line."""
        return {
            "counts": dict(self.counts),
            "total": self.total,
            "seconds": round(self.seconds, 3),
            "ended": self.ended,
            "jobs_per_minute": round(self.jobs_per_minute, 1),
            "reasons": {
                state: [{"reason": reason, "jobs": n} for reason, n in reasons]
                for state, reasons in self.reasons.items()
            },
            "next": [
                {
                    "jobs": step.jobs,
                    "states": dict(step.states),
                    "command": step.command(command),
                    "does": step.says,
                }
                for step in self.steps
            ],
        }


_SAYS = {
    "": "follows every task that exists (nothing is paid twice) and submits jobs never sent",
    "--retry-failed": "submits them again: the provider failed, canceled or refused them, so no "
    "task of theirs is alive",
    "--rerun-expired": "submits them again for fresh results (their result links expired)",
    "--resubmit-lost": "submits them again (the provider no longer knows their tasks)",
    "--resubmit-uncertain": "only after checking the provider (see each job's error): it pays "
    "again for any whose task was created",
}


def tally(
    records: Iterable[tuple[str, JobRecord | None]],
    invalid: Sequence[str],
    *,
    settles: Callable[[JobRecord], bool],
    seconds: float,
    ended: int,
    invalid_lines: Sequence[int] = (),
) -> Summary:
    """The summary of a batch whose jobs are ``records`` (state name, record) and ``invalid`` lines.

    :param settles: whether a plain re-run looks an uncertain job up in its provider's list.
    :param invalid_lines: the manifest's line numbers of the ``invalid`` ones, which its step
        names (nothing was sent for them: only fixing those lines helps).
    """
    jobs = list(records)
    counts = dict.fromkeys(STATES, 0)
    for name, _ in jobs:
        counts[name] += 1
    why = _reasons(jobs)
    flags = _flags(jobs, settles)
    counts["invalid"] = len(invalid)
    if invalid:
        why["invalid"] = Counter(short_reason(line) for line in invalid)
        flags.setdefault(None, Counter())["invalid"] += len(invalid)
    steps = tuple(_step(flag, by_state, invalid_lines) for flag, by_state in flags.items())
    reasons = {state: _grouped(counter) for state, counter in why.items()}
    return Summary(counts, seconds, ended, reasons, steps)


_DONE = ("succeeded", "skipped")
"""The states of jobs whose outputs are saved: nothing to recover."""


def _reasons(records: list[tuple[str, JobRecord | None]]) -> dict[str, Counter[str]]:
    """Each state's reasons, counted: where the outputs of a done job were written at the
    provider (when they were), else why each job that got somewhere got there."""
    why: dict[str, Counter[str]] = {}
    for name, record in records:
        if name in _DONE:
            said = [f"written to {where} — nothing to download" for where in _placed(record)]
        elif record is not None and name not in ("pending", "submitted"):
            said = [short_reason(record.reason or record.error or name)]
        else:
            continue
        for reason in said:
            why.setdefault(name, Counter())[reason] += 1
    return why


def _flags(
    records: list[tuple[str, JobRecord | None]], settles: Callable[[JobRecord], bool]
) -> dict[str | None, Counter[str]]:
    """The jobs not done, counted by state under the flag that recovers them."""
    flags: dict[str | None, Counter[str]] = {}
    for name, record in records:
        if name not in _DONE:
            flags.setdefault(_flag(name, record, settles), Counter())[name] += 1
    return flags


def _placed(record: JobRecord | None) -> list[str]:
    """The folders a job's outputs were written to at the provider (``storage://…/``)."""
    outputs = record.outputs if record is not None else ()
    return [
        str(o.get("url", "")).rpartition("/")[0] + "/…"
        for o in outputs
        if o.get("downloadable") is False
    ]


def _step(flag: str | None, by_state: Counter[str], lines: Sequence[int]) -> Step:
    if flag is None:
        named = f"line {lines[0]}" if len(lines) == 1 else "lines " + ", ".join(map(str, lines))
        says = f"fix {named if lines else 'the lines named'}, then run the same command"
    else:
        says = _SAYS[flag]
        if flag == "" and "uncertain" in by_state:
            says += "; looks uncertain jobs up in the provider's list of tasks again"
    return Step(sum(by_state.values()), dict(by_state), flag, says)


def _grouped(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
    common = counter.most_common()
    shown = tuple(common[:REASONS_SHOWN])
    rest = sum(n for _, n in common[REASONS_SHOWN:])
    return (*shown, (f"{len(common) - REASONS_SHOWN} other reasons", rest)) if rest else shown


def _flag(name: str, record: JobRecord | None, settles: Callable[[JobRecord], bool]) -> str:
    """What to add to the batch command to recover a job in state ``name``."""
    if name == "uncertain":
        return "" if record is not None and settles(record) else "--resubmit-uncertain"
    return {
        "failed": "--retry-failed",
        "expired": "--rerun-expired",
        "lost": "--resubmit-lost",
    }.get(name, "")
