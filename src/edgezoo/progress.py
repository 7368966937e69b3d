"""Progress display for long work, on stderr so that --json output on stdout stays clean."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

T = TypeVar("T")
console = Console(stderr=True)


class Steps:
    """A named sequence of steps shown as one bar: ``with steps(...) as s: s.next("export")``."""

    def __init__(self, progress: Progress, task: int, title: str) -> None:
        self._progress = progress
        self._task = task
        self._title = title
        self._started = False

    def next(self, name: str) -> None:
        if self._started:
            self._progress.advance(self._task)
        self._started = True
        self._progress.update(self._task, description=f"{self._title}: {name}")


@contextlib.contextmanager
def steps(title: str, total: int) -> Iterator[Steps]:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task(title, total=total)
        yield Steps(progress, task, title)
        progress.update(task, completed=total)


class RateColumn(ProgressColumn):
    """Items per second over rich's recent window, e.g. ``85.3 images/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} {self.unit}/s", style="progress.data.speed")


def track(items: Iterable[T], description: str, total: int | None = None, unit: str | None = None) -> Iterator[T]:
    """Iterate with a bar showing count, time and time left, and the rate in ``unit``/s when given."""
    rate = [RateColumn(unit)] if unit else []
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *rate,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with progress:
        yield from progress.track(items, total=total, description=description)
