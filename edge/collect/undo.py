"""What a page session can take back: the photos it took and the ones it deleted, newest first.

    history = History(store)
    history.saved("tab-1", "Cube", path.name)     # after a capture (or each photo of a burst)
    history.delete("tab-1", "Cube", name)         # deletes, keeping what it needs to put it back
    history.take_back("tab-1")   # {"undone": "Cube/...jpg", "says": "removed Cube/..., ..."}

Each browser tab sends its own `client` id: undo takes back that tab's newest action only, so
one person's undo never removes another's photo. A deleted photo's bytes and its
captures.jsonl line stay in memory (the last DEPTH actions of each tab), so undo puts it back
under its own name, never over a file that took its place.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path

from edge.atomic import create_new
from edge.collect.captures import CaptureStore, append_log, read_log
from edge.errors import UserError

DEPTH = 50  # actions remembered per page session


@dataclass
class Action:
    """One step a page session can take back: a photo it took, or one it deleted."""

    kind: str  # "saved" or "deleted"
    cls: str
    name: str
    data: bytes = b""  # a deleted photo's bytes, to put back
    record: dict | None = None  # its captures.jsonl line


class History:
    def __init__(self, store: CaptureStore):
        self.store, self.root = store, store.root
        self._done: dict[str, list[Action]] = {}
        self._lock = threading.Lock()

    def _push(self, client: str, action: Action) -> None:
        with self._lock:
            done = self._done.setdefault(client, [])
            done.append(action)
            del done[:-DEPTH]

    def saved(self, client: str, cls: str, name: str) -> None:
        self._push(client, Action("saved", cls, name))

    def delete(self, client: str, cls: str, name: str) -> None:
        """Delete one capture (the store's rules), remembering how to put it back."""
        folder = self.root / cls
        record = next((r for r in read_log(folder) if r.get("file") == name), None)
        data = b""
        if record is not None and Path(name).name == name:
            with contextlib.suppress(OSError):
                data = (folder / name).read_bytes()
        self.store.delete(cls, name)  # refuses a file captures.jsonl does not list
        self._push(client, Action("deleted", cls, name, data, record))

    def take_back(self, client: str) -> dict:
        """Undo this client's newest action, and say what it was."""
        with self._lock:
            done = self._done.get(client, [])
            action = done.pop() if done else None
        if action is None:
            return {"undone": None, "says": "nothing of yours to undo"}
        where = f"{action.cls}/{action.name}"
        if action.kind == "saved":
            try:
                self.store.delete(action.cls, action.name)
            except UserError:
                return {"undone": None, "says": f"{where} was already deleted"}
            return {"undone": where, "says": f"removed {where}, your newest photo"}
        folder = self.root / action.cls
        folder.mkdir(parents=True, exist_ok=True)
        try:
            create_new(folder / action.name, action.data)
        except FileExistsError:
            return {"undone": None, "says": f"{where} is there again already"}
        append_log(folder, action.record or {"file": action.name, "class": action.cls})
        return {"undone": where, "says": f"put back {where}"}
