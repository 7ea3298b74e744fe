"""Key events -> the text typed into each field, as the field ends up holding it.

A password typed with a correction (``Hunter2`` BackSpace ``22``), with Shift held through
``keyDown``/``keyUp`` instead of sent as capitals, or with a pause in the middle arrives as
pieces that no rule recognises one by one. Redaction must see what the field holds, so this
replays the events on a small model of a text field: a cursor (Left, Right, Home, End),
BackSpace and Delete, Ctrl+U/Ctrl+W/Ctrl+H, Shift and Caps Lock (US layout), and field ends
(Tab, Return, Escape). Time is ignored on purpose: a pause does not end a field. Pure: no
I/O, no clock; the VNC instrumentor feeds it what it saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Action = Literal["press", "down", "up"]


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """One key event: ``press`` is a down and an up; ``key`` is a character or a key name
    (X keysym names such as ``BackSpace``, ``Shift_L``, ``Return`` or vncdotool's ``bsp``,
    ``shift``, ``enter``; ``shift-a``, ``ctrl-u`` hold modifiers for one press)."""

    key: str
    action: Action = "press"


_ALIASES = {
    "bsp": "backspace", "back_space": "backspace", "backspace": "backspace", "ctrl-h": "backspace",
    "del": "delete", "delete": "delete", "kp_delete": "delete",
    "enter": "enter", "return": "enter", "kp_enter": "enter", "\n": "enter", "\r": "enter",
    "linefeed": "enter",
    "tab": "tab", "\t": "tab", "iso_left_tab": "tab", "kp_tab": "tab",
    "esc": "escape", "escape": "escape",
    "left": "left", "kp_left": "left", "right": "right", "kp_right": "right",
    "home": "home", "kp_home": "home", "begin": "home", "end": "end", "kp_end": "end",
    "shift": "shift", "lshift": "shift", "rshift": "shift", "shift_l": "shift",
    "shift_r": "shift",
    "caps_lock": "caps", "capslock": "caps", "caps": "caps",
    "ctrl": "ctrl", "control": "ctrl", "lctrl": "ctrl", "rctrl": "ctrl", "control_l": "ctrl",
    "control_r": "ctrl",
    "alt": "alt", "lalt": "alt", "ralt": "alt", "alt_l": "alt", "alt_r": "alt", "meta": "alt",
    "meta_l": "alt", "meta_r": "alt", "super": "alt", "super_l": "alt", "super_r": "alt",
    "lmeta": "alt", "rmeta": "alt", "lsuper": "alt", "rsuper": "alt", "cmd": "alt",
    "space": " ", "spacebar": " ", "kp_space": " ",
}  # fmt: skip
"""Key names, lower-cased, to the few this model knows."""
_KEYSYM_CHARS = {
    "exclam": "!", "at": "@", "numbersign": "#", "dollar": "$", "percent": "%",
    "asciicircum": "^", "ampersand": "&", "asterisk": "*", "parenleft": "(", "parenright": ")",
    "minus": "-", "underscore": "_", "equal": "=", "plus": "+", "bracketleft": "[",
    "bracketright": "]", "braceleft": "{", "braceright": "}", "backslash": "\\", "bar": "|",
    "semicolon": ";", "colon": ":", "apostrophe": "'", "quotedbl": '"', "grave": "`",
    "asciitilde": "~", "comma": ",", "less": "<", "period": ".", "greater": ">", "slash": "/",
    "question": "?", "kp_add": "+", "kp_subtract": "-", "kp_multiply": "*", "kp_divide": "/",
    "kp_decimal": ".", **{f"kp_{digit}": str(digit) for digit in range(10)},
}  # fmt: skip
_SHIFTED = dict(zip("`1234567890-=[]\\;',./", '~!@#$%^&*()_+{}|:"<>?', strict=True))
_FIELD_ENDS = frozenset({"enter", "tab", "escape"})
_MODIFIERS = frozenset({"shift", "ctrl", "alt"})


@dataclass(slots=True)
class _Field:
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
        """Readline's and most fields' Ctrl keys: U clears before the cursor, W a word."""
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

    def text(self) -> str:
        return "".join(self.chars)


def _name(key: str) -> str:
    """A key's name in this model: a character, or one of the names in ``_ALIASES``."""
    if len(key) == 1:
        return _ALIASES.get(key, key)
    lowered = key.lower()
    return _ALIASES.get(lowered) or _KEYSYM_CHARS.get(lowered) or lowered


def _char(key: str, shift: bool, caps: bool) -> str:
    """The character a key types: a capital sent as such stays one; Caps Lock flips Shift
    for letters only."""
    if key.isalpha():
        return key.upper() if key.isupper() or shift != caps else key
    return _SHIFTED.get(key, key) if shift else key


def typed_fields(events: Iterable[KeyEvent | str]) -> list[str]:
    """The text each field holds after the events, one entry per field (Tab, Return and
    Escape end one; a last field without an end is included when not empty). A plain string
    stands for a press of that key."""
    return [text for text, _ in _replay(events)]


def _replay(events: Iterable[KeyEvent | str]) -> list[tuple[str, str]]:
    """(text, the key that ended it: ``enter``, ``tab``, ``escape`` or ``""``) per field."""
    fields: list[tuple[str, str]] = []
    current = _Field()
    held: dict[str, int] = {}
    caps = False
    for event in events:
        if isinstance(event, str):
            event = KeyEvent(event)
        key, action = event.key, event.action
        combo = key.split("-") if len(key) > 2 and "-" in key[1:] else [key]
        names = [_name(part) for part in combo if part]
        if not names:
            continue
        *modifiers, name = names
        if action == "up":
            if name in _MODIFIERS:
                held[name] = max(0, held.get(name, 0) - 1)
            continue
        if name in _MODIFIERS:
            if action == "down":
                held[name] = held.get(name, 0) + 1
            continue
        if name == "caps":
            caps = not caps
            continue
        shift = "shift" in modifiers or held.get("shift", 0) > 0
        ctrl = "ctrl" in modifiers or held.get("ctrl", 0) > 0
        other = "alt" in modifiers or held.get("alt", 0) > 0
        if name in _FIELD_ENDS:
            if current.chars or name == "enter":
                fields.append((current.text(), name))
            current = _Field()
        elif len(name) == 1:
            if ctrl:
                current.control(name.lower())
            elif not other:
                current.type(_char(name, shift, caps))
        else:
            current.edit(name)
    if current.chars:
        fields.append((current.text(), ""))
    return fields


KEY_TOKEN = re.compile(r"<([^<>\s]{1,40})>")
"""A named key in typed text as the instrumentation writes it: ``<BackSpace>``, ``<shift>``,
``<Control_L-u>``; ``<+Shift_L>`` and ``<-Shift_L>`` are a key held down and let go."""
_ENDS = {"enter": "\n", "tab": "\t", "escape": "\n"}


def _known(name: str) -> bool:
    """Whether ``<name>`` names a key: a character is written bare, never as ``<b>`` (that is
    text, as in HTML), so only names and combinations (``<ctrl-u>``) count."""
    if len(name) < 2:
        return False
    parts = name.split("-") if len(name) > 2 and "-" in name[1:] else [name]
    return all(
        len(part) == 1 or part.lower() in _ALIASES or part.lower() in _KEYSYM_CHARS
        for part in parts
    )


def key_events(text: str) -> list[KeyEvent]:
    """Typed text with named keys (``KEY_TOKEN``) as key events. A modifier pressed alone
    (``<shift>a``) holds for the next key, as a caller who wrote it meant; a ``<...>`` that
    names no key is typed text; BackSpace and DEL characters are BackSpace."""
    events: list[KeyEvent] = []
    sticky: list[str] = []
    position = 0
    for match in KEY_TOKEN.finditer(text):
        events.extend(_characters(text[position : match.start()], sticky))
        position = match.end()
        name = match.group(1)
        action: Action = "press"
        if name[0] in "+-" and len(name) > 1:
            action, name = ("down" if name[0] == "+" else "up"), name[1:]
        if not _known(name):
            events.extend(_characters(match.group(), sticky))
            continue
        if action == "press" and _name(name) in _MODIFIERS:
            sticky.append(name)
            continue
        if sticky and action == "press":
            name, sticky[:] = "-".join([*sticky, name]), []
        events.append(KeyEvent(name, action))
    events.extend(_characters(text[position:], sticky))
    return events


def _characters(text: str, sticky: list[str]) -> list[KeyEvent]:
    events = []
    for char in text:
        key = "backspace" if char in "\b\x7f" else char
        if sticky:
            key, sticky[:] = "-".join([*sticky, key]), []
        events.append(KeyEvent(key))
    return events


def _names_keys(text: str) -> bool:
    if "<" not in text:
        return False
    return any(_known(token.group(1).lstrip("+-")) for token in KEY_TOKEN.finditer(text))


def typed_text(text: str) -> str:
    """What typed text (named keys as ``KEY_TOKEN``) leaves in its fields, one after the other
    with the key that ended each (a newline or a tab): the text redaction must see. Text
    without a named key or a BackSpace is returned as it is."""
    edited = "\b" in text or "\x7f" in text
    if not edited and not _names_keys(text):
        return text
    return "".join(field + _ENDS.get(end, "") for field, end in _replay(key_events(text)))
