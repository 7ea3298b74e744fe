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
from dataclasses import dataclass
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


_START, _END = 0, 1
"""The two ends of a field's list of characters: nodes that hold no character."""


class _Field:
    """A text field as a doubly linked list of its characters (node numbers into three
    lists): typing or deleting at the cursor relinks two nodes and Home and End jump, so a
    key costs the same wherever the cursor is and however long the text (nothing is copied)."""

    __slots__ = ("chars", "cursor", "left_of", "right_of")

    def __init__(self) -> None:
        self.chars = ["", ""]
        self.left_of = [_START, _START]
        self.right_of = [_END, _END]
        self.cursor = _START
        """The node left of the cursor (``_START`` at the beginning of the field)."""

    def type(self, char: str) -> None:
        node, right = len(self.chars), self.right_of[self.cursor]
        self.chars.append(char)
        self.left_of.append(self.cursor)
        self.right_of.append(right)
        self.right_of[self.cursor] = self.left_of[right] = node
        self.cursor = node

    def _join(self, left: int, right: int) -> None:
        """Drop the nodes between ``left`` and ``right``."""
        self.right_of[left] = right
        self.left_of[right] = left

    def edit(self, key: str) -> None:
        right = self.right_of[self.cursor]
        if key == "backspace" and self.cursor != _START:
            left = self.left_of[self.cursor]
            self._join(left, right)
            self.cursor = left
        elif key == "delete" and right != _END:
            self._join(self.cursor, self.right_of[right])
        elif key == "left" and self.cursor != _START:
            self.cursor = self.left_of[self.cursor]
        elif key == "right" and right != _END:
            self.cursor = right
        elif key == "home":
            self.cursor = _START
        elif key == "end":
            self.cursor = self.left_of[_END]

    def control(self, letter: str) -> None:
        """Readline's and most fields' Ctrl keys: U clears before the cursor, W a word (the
        characters it reads are the ones it deletes)."""
        if letter == "u":
            self._join(_START, self.right_of[self.cursor])
            self.cursor = _START
        elif letter == "w":
            start = self.cursor
            while start != _START and self.chars[start] == " ":
                start = self.left_of[start]
            while start != _START and self.chars[start] != " ":
                start = self.left_of[start]
            self._join(start, self.right_of[self.cursor])
            self.cursor = start
        elif letter == "h":
            self.edit("backspace")
        elif letter == "a":
            self.cursor = _START
        elif letter == "e":
            self.cursor = self.left_of[_END]

    def is_empty(self) -> bool:
        return self.right_of[_START] == _END

    def text(self) -> str:
        chars, node = [], self.right_of[_START]
        while node != _END:
            chars.append(self.chars[node])
            node = self.right_of[node]
        return "".join(chars)


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
    plain = True  # nothing held, Caps Lock off: a character pressed types itself
    for event in events:
        if isinstance(event, str):
            if plain and len(event) == 1 and len(name := _ALIASES.get(event, event)) == 1:
                current.type(name)
                continue
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
                plain = not caps and not any(held.values())
            continue
        if name in _MODIFIERS:
            if action == "down":
                held[name] = held.get(name, 0) + 1
                plain = False
            continue
        if name == "caps":
            caps = not caps
            plain = not caps and not any(held.values())
            continue
        shift = "shift" in modifiers or held.get("shift", 0) > 0
        ctrl = "ctrl" in modifiers or held.get("ctrl", 0) > 0
        other = "alt" in modifiers or held.get("alt", 0) > 0
        if name in _FIELD_ENDS:
            if not current.is_empty() or name == "enter":
                fields.append((current.text(), name))
            current = _Field()
        elif len(name) == 1:
            if ctrl:
                current.control(name.lower())
            elif not other:
                current.type(_char(name, shift, caps))
        else:
            current.edit(name)
    if not current.is_empty():
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


def key_events(text: str) -> list[KeyEvent | str]:
    """Typed text with named keys (``KEY_TOKEN``) as key events. A modifier pressed alone
    (``<shift>a``) holds for the next key, as a caller who wrote it meant; a ``<...>`` that
    names no key is typed text; BackSpace and DEL characters are BackSpace."""
    events: list[KeyEvent | str] = []
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


def _characters(text: str, sticky: list[str]) -> list[KeyEvent | str]:
    """A run of typed characters as presses (plain strings: ``_replay`` reads one as a press,
    without the cost of an event object per character)."""
    events: list[KeyEvent | str] = []
    for char in text:
        key = "backspace" if char in "\b\x7f" else char
        if sticky:
            key, sticky[:] = "-".join([*sticky, key]), []
        events.append(key)
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
