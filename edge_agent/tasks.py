"""Small helpers for the services' own tasks."""

from __future__ import annotations

import asyncio


async def stop_task(task: asyncio.Task[object] | asyncio.Task[None] | None) -> None:
    """Cancel a service's task and wait for it to end; a no-op for None."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
