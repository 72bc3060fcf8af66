"""The operator console's text UI (Textual): draws `TrialSession.view()` and forwards keys.

Thin on purpose: what a key does is `TrialSession`'s (tested without a terminal); this file only
lays out the blocks, shows the note field in the NOTE phase and ticks the heartbeat from the UI
loop (`beat`), so a frozen UI stops the arm like a dead one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from mtdagger.trial.session import NOTE, READY, RUNNING, TrialSession

HEARTBEAT_PERIOD_S = 0.1


class TrialConsole(App):
    CSS = """
    Static { padding: 0 1; }
    #progress { background: $primary; color: $text; text-style: bold; }
    #episode { border: round $accent; height: auto; }
    #status { border: round $secondary; height: auto; }
    #keys { text-style: bold; }
    #message { color: $warning; }
    """
    # No widget takes the focus on its own: the (hidden) note field would swallow Enter and the
    # verdict keys; it is focused only while a note is asked (_tick).
    AUTO_FOCUS: ClassVar[str | None] = None
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("enter", "confirm", "arm", show=False),
        Binding("s", "judge('success')", "success", show=False),
        Binding("f", "judge('failure')", "failure", show=False),
        Binding("a", "judge('abort')", "abort", show=False),
        Binding("q", "quit_console", "quit", show=False),
    ]

    def __init__(self, session: TrialSession, beat: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.session, self._beat = session, beat

    def compose(self) -> ComposeResult:
        for name in ("progress", "episode", "status", "keys", "message"):
            yield Static("", id=name, markup=False)
        yield Input(placeholder="note (optional), Enter to save", id="note")

    def on_mount(self) -> None:
        self.title = "mtdagger trial"
        self.set_interval(HEARTBEAT_PERIOD_S, self._tick)
        self._tick()

    def _tick(self) -> None:
        self._beat()
        for name, text in self.session.view().items():
            self.query_one(f"#{name}", Static).update(text)
        note = self.query_one("#note", Input)
        note.display = self.session.phase == NOTE
        if note.display and not note.has_focus:
            note.focus()
        elif not note.display and note.has_focus:
            self.set_focus(None)  # keys go to the console's bindings, not to a hidden field

    def action_confirm(self) -> None:
        if self.session.phase == READY:
            self.session.confirm()
            self._tick()

    def action_judge(self, verdict: str) -> None:
        if self.session.phase == RUNNING:
            self.session.judge(verdict)
            self._tick()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.session.submit_note(event.value)
        event.input.value = ""
        self.set_focus(None)
        self._tick()

    def action_quit_console(self) -> None:
        if self.session.phase in (RUNNING, NOTE):
            self.session.message = "finish the episode first (a = abort holds the arm)"
            return
        self.exit()
