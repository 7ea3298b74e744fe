"""The text field model ``secrets.keystrokes`` replayed keys on before it became a linked list:
a list of characters and an index for the cursor. Simple enough to be obviously right, and
slow (each key typed before the end copies the rest of the text), so it is the oracle the
property tests compare the replay with, never code the package runs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ListField:
    """A drop-in for ``keystrokes._Field``: what each key does, in the plainest terms."""

    chars: list[str] = field(default_factory=list)
    cursor: int = 0

    def type(self, char: str) -> None:
        self.chars.insert(self.cursor, char)
        self.cursor += 1

    def edit(self, key: str) -> None:
        if key == "backspace" and self.cursor:
            self.cursor -= 1
            del self.chars[self.cursor]
        elif key == "delete" and self.cursor < len(self.chars):
            del self.chars[self.cursor]
        elif key == "left":
            self.cursor = max(0, self.cursor - 1)
        elif key == "right":
            self.cursor = min(len(self.chars), self.cursor + 1)
        elif key == "home":
            self.cursor = 0
        elif key == "end":
            self.cursor = len(self.chars)

    def control(self, letter: str) -> None:
        if letter == "u":
            del self.chars[: self.cursor]
            self.cursor = 0
        elif letter == "w":
            start = self.cursor
            while start and self.chars[start - 1] == " ":
                start -= 1
            while start and self.chars[start - 1] != " ":
                start -= 1
            del self.chars[start : self.cursor]
            self.cursor = start
        elif letter == "h":
            self.edit("backspace")
        elif letter == "a":
            self.cursor = 0
        elif letter == "e":
            self.cursor = len(self.chars)

    def is_empty(self) -> bool:
        return not self.chars

    def text(self) -> str:
        return "".join(self.chars)
