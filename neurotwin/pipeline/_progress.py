"""Progress on long runs: bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys


class Progress:
    """Overall progress over tasks, plus the steps of the task being run.

    On a terminal (``mode="auto"`` and stderr a TTY, or ``mode="bar"``)
    it draws two tqdm bars: tasks overall (with its ETA) and steps of the
    current subject (none when ``n_steps`` is 0, as for the twins).
    Otherwise (``"lines"``) it prints one line per finished task, which
    reads well in CI logs and batch-job files. ``"off"``: silent.
    """

    def __init__(self, total: int, n_steps: int, mode: str = "auto", stream=None, desc: str = "subjects"):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode, self.total, self.n_steps, self.done = mode, total, n_steps, 0
        self._bar = self._sub = None
        if mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="task", file=self.stream, position=0)
            if n_steps:
                self._sub = tqdm(
                    total=n_steps, desc="steps", unit="step", file=self.stream, position=1, leave=False
                )

    def start(self, label: str) -> None:
        """A task begins (serial runs only)."""
        if self._sub is not None:
            self._sub.reset(total=self.n_steps)
            self._sub.set_description(label)

    def step(self, name: str) -> None:
        """A step of the current task begins (serial runs only)."""
        if self._sub is not None:
            self._sub.set_postfix_str(name)
            self._sub.update(1)

    def finish(self, label: str, status: str, detail: str = "") -> None:
        """A task ended."""
        self.done += 1
        if self._bar is not None:
            self._bar.set_postfix_str(f"{label}: {status}")
            self._bar.update(1)
        elif self.mode == "lines":
            print(
                f"[{self.done}/{self.total}] {label}: {status}{' (' + detail + ')' if detail else ''}",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        """Remove the bars."""
        for bar in (self._sub, self._bar):
            if bar is not None:
                bar.close()
