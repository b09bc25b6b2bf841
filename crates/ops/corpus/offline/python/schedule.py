"""Weekly schedule helper working on minutes since Monday 00:00 (no calendar involved)."""

import random
from dataclasses import dataclass
from typing import List, Optional

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MINUTES_PER_DAY = 24 * 60


class ScheduleConflictError(Exception):
    """Raised when a new slot overlaps an existing one."""


def parse_time(text: str) -> int:
    """Parse ``"wed 14:30"`` into minutes since Monday midnight."""
    try:
        day, clock = text.strip().lower().split()
        hours, minutes = clock.split(":")
        h, m = int(hours), int(minutes)
    except ValueError:
        raise ValueError(f"expected 'day HH:MM', got {text!r}") from None
    if day[:3] not in DAYS:
        raise ValueError(f"unknown day {day!r}")
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"time out of range: {clock}")
    return DAYS.index(day[:3]) * MINUTES_PER_DAY + h * 60 + m


def format_time(minute: int) -> str:
    minute %= 7 * MINUTES_PER_DAY
    day, rest = divmod(minute, MINUTES_PER_DAY)
    return f"{DAYS[day]} {rest // 60:02d}:{rest % 60:02d}"


@dataclass
class Slot:
    title: str
    start: int
    duration: int

    @property
    def end(self) -> int:
        return self.start + self.duration

    def overlaps(self, other: "Slot") -> bool:
        return self.start < other.end and other.start < self.end


class WeeklySchedule:
    def __init__(self) -> None:
        self.slots: List[Slot] = []

    def book(self, title: str, start: str, duration: int) -> Slot:
        if duration <= 0:
            raise ValueError("duration must be positive")
        slot = Slot(title, parse_time(start), duration)
        for existing in self.slots:
            if slot.overlaps(existing):
                raise ScheduleConflictError(f"{title} overlaps {existing.title}")
        self.slots.append(slot)
        self.slots.sort(key=lambda s: s.start)
        return slot

    def free_after(self, start: str, duration: int) -> Optional[str]:
        """The first start time at or after ``start`` where ``duration`` minutes are free."""
        candidate = parse_time(start)
        for slot in self.slots:
            if slot.end <= candidate:
                continue
            if slot.start >= candidate + duration:
                break
            candidate = slot.end
        if candidate + duration > 7 * MINUTES_PER_DAY:
            return None
        return format_time(candidate)

    def busy_minutes(self, day: str) -> int:
        index = DAYS.index(day[:3].lower())
        lo, hi = index * MINUTES_PER_DAY, (index + 1) * MINUTES_PER_DAY
        return sum(max(0, min(s.end, hi) - max(s.start, lo)) for s in self.slots)


def random_standup_time(day: str = "mon") -> str:
    """Pick a random 15-minute start between 09:00 and 10:45 (not deterministic)."""
    quarter = random.randint(0, 7)
    return f"{day} {9 + quarter // 4:02d}:{(quarter % 4) * 15:02d}"
