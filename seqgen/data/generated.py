"""Built-in pair tasks, generated offline and deterministically: `addition` and `dates`.

- `addition`: "123+45" -> "168", operands drawn uniformly from [0, 10^digits) (the "learning to add" lab).
- `dates`: a date written as people write it ("Wednesday, the 3rd of March 1999", "3/3/99", "MAR 3 1999") ->
  its ISO 8601 form "1999-03-03"; dates uniform over 1900–2099, month and weekday names from Python's `calendar`
  (English). The classic first exercise for attention.

Every pair is distinct, and each pair's split is the hash threshold every pairs dataset uses; generation stops
when each split holds its share of `count`, so a problem never sits in two splits.
"""

from __future__ import annotations

import calendar
import datetime
import random
from typing import Callable, Iterator

from seqgen.data.dataset import split_of
from seqgen.errors import UsageError

DEFAULT_COUNT = 60_000  # pairs in all
DEFAULT_HELD_OUT = 5_000  # validation and test pairs each, when --val/--test are not given
MAX_DIGITS = 30


def _ordinal(day: int) -> str:
    return f"{day}{'th' if 11 <= day % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th')}"


def _date_formats() -> list[Callable[[datetime.date], str]]:
    month, mon = calendar.month_name, calendar.month_abbr
    day_name, day_abbr = calendar.day_name, calendar.day_abbr
    return [
        lambda d: f"{d.day} {month[d.month]} {d.year}",
        lambda d: f"{month[d.month]} {d.day}, {d.year}",
        lambda d: f"the {_ordinal(d.day)} of {month[d.month]} {d.year}",
        lambda d: f"{day_name[d.weekday()]}, {month[d.month]} {d.day}, {d.year}",
        lambda d: f"{day_name[d.weekday()]} {d.day} {month[d.month]} {d.year}",
        lambda d: f"{day_abbr[d.weekday()]}, {d.day} {mon[d.month]} {d.year}",
        lambda d: f"{mon[d.month]} {d.day} {d.year}",
        lambda d: f"{d.day} {mon[d.month]} {d.year}",
        lambda d: f"{mon[d.month].upper()} {d.day} {d.year}",
        lambda d: f"{d.day}-{mon[d.month]}-{d.year}",
        lambda d: f"{month[d.month].lower()} {_ordinal(d.day)}, {d.year}",
        lambda d: f"{d.day}.{d.month}.{d.year}",
        lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
        lambda d: f"{d.month}/{d.day}/{d.year}",
        lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
        lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
        lambda d: f"{d.day} {month[d.month].lower()} {d.year}",
        lambda d: f"{day_name[d.weekday()].lower()}, {month[d.month].lower()} {d.day} {d.year}",
    ]


def addition_problems(rng: random.Random, digits: int) -> Iterator[tuple[str, str]]:
    top = 10**digits
    while True:
        a, b = rng.randrange(top), rng.randrange(top)
        yield f"{a}+{b}", str(a + b)


def date_problems(rng: random.Random, digits: int) -> Iterator[tuple[str, str]]:
    first, span = datetime.date(1900, 1, 1).toordinal(), (datetime.date(2099, 12, 31) - datetime.date(1900, 1, 1)).days + 1
    formats = _date_formats()
    while True:
        date = datetime.date.fromordinal(first + rng.randrange(span))
        yield rng.choice(formats)(date), date.isoformat()


TASKS = {"addition": addition_problems, "dates": date_problems}


def generated_pairs(name: str, count: int, val: float, test: float, seed: int = 0, digits: int = 3) -> Iterator[tuple[str, str]]:
    """`count` distinct pairs of a built-in task: round(count · val) validation and round(count · test) test pairs
    (each pair's split by the pairs' hash threshold), the rest training."""
    if not 1 <= digits <= MAX_DIGITS:
        raise UsageError(f"--digits must be between 1 and {MAX_DIGITS}, got {digits}")
    if count < 10:
        raise UsageError(f"--count must be at least 10, got {count}")
    quota = {"val": round(count * val), "test": round(count * test)}
    quota["train"] = count - quota["val"] - quota["test"]
    possible = 10 ** (2 * digits) if name == "addition" else None
    if possible is not None and count > possible // 2:
        raise UsageError(f"--count {count:,} is more than half the {possible:,} distinct {digits}-digit sums", "lower --count or raise --digits")
    rng = random.Random(f"{name}:{digits}:{seed}")
    seen: set[tuple[str, str]] = set()
    for pair in TASKS[name](rng, digits):
        if pair in seen:
            continue
        split = split_of(f"{pair[0]}\t{pair[1]}", val, test)
        if quota[split] == 0:
            continue
        seen.add(pair)
        quota[split] -= 1
        yield pair
        if not any(quota.values()):
            return
