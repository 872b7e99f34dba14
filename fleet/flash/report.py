"""Progress of a flash: the events the flow reports, and a rich progress display."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class Reporter:
    """Receives the flow's events; the base class ignores them."""

    def step(self, text: str) -> None:
        """A step starts (connecting, checking the board, provisioning...)."""

    def note(self, text: str) -> None:
        """Something the technician should know (never a key)."""

    def files_start(self, count: int, total: int) -> None:
        """Copying starts: ``count`` files of ``total`` bytes."""

    def file_start(self, name: str, size: int, how: str) -> None:
        """A file starts; ``how`` is ``send``, ``copy`` (on the board) or ``skip``."""

    def file_advance(self, name: str, done: int) -> None:
        """``done`` bytes of the file are on the board."""

    def file_end(self, name: str) -> None:
        """The file is written and verified."""

    def files_end(self) -> None:
        """Copying is over."""

    def close(self) -> None:
        """The flow ended."""


class RichReporter(Reporter):
    """A progress bar per file and one overall, on stderr."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self.overall: TaskID | None = None
        self.current: TaskID | None = None
        self._base = 0
        self._last = 0

    def step(self, text: str) -> None:
        self.console.print(f"[bold]•[/bold] {text}", highlight=False)

    def note(self, text: str) -> None:
        self.console.print(f"  {text}", highlight=False)

    def files_start(self, count: int, total: int) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.overall = self.progress.add_task(f"all {count} files", total=total)
        self.current = self.progress.add_task("", total=1, visible=False)

    def file_start(self, name: str, size: int, how: str) -> None:
        if self.progress is None or self.current is None:
            return
        label = {"skip": "up to date", "copy": "copy on board"}.get(how, "")
        text = f"{name} ({label})" if label else name
        self.progress.reset(self.current, total=max(size, 1), description=text, visible=True)
        self._last = 0

    def file_advance(self, name: str, done: int) -> None:
        if self.progress is None or self.current is None or self.overall is None:
            return
        self.progress.update(self.current, completed=done)
        self.progress.advance(self.overall, done - self._last)
        self._last = done

    def files_end(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def close(self) -> None:
        self.files_end()

    def __enter__(self) -> RichReporter:
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
