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
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

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


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a bar showing count, rate and time left."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with progress:
        yield from progress.track(items, total=total, description=description)
