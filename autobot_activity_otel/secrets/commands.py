"""Command-aware rules: tokenise shell text and read each tool's arguments the way the tool does.

Text rules cannot tell ``mysql -pX`` (a password) from ``mkdir -p`` or ``ssh -p 2222``; only the
tool can. ``tools.TOOLS`` is the one table of what each tool's flags mean. A tool's name
anywhere in a segment opens its context (``sudo``, ``env``, ``docker exec db mysql ...`` and
``ps`` listings all work); the context it opens keeps the one before it as a fallback, so a
path argument whose basename happens to be a tool's name (``/srv/backups/gh``) does not make
the real tool's later flags unreadable. Long flags whose name says secret (``--api-key``),
generic credential flags (``--auth user:pw``, ``--_auth``) and Windows-style flags
(``/p:pw``) are read for any command. Python's and JSON's printing of an argv list
(``['mysql', '-pX']``, as ``CalledProcessError`` shows it) is read as the same words. A value
that is a variable reference, a path, ``-`` or a placeholder is not a secret.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from autobot_activity_otel.secrets.rules import (
    COMMAND,
    Candidate,
    is_plain_value,
    password_like,
    secret_name,
)
from autobot_activity_otel.secrets.tools import TOOLS, Mode, Tool, word_set


@dataclass(frozen=True, slots=True)
class _Family:
    """The tools answering to one command name, their word sets merged once (hot path)."""

    tools: tuple[Tool, ...]
    value_flags: frozenset[str]
    switches: frozenset[str]
    stdin_flags: frozenset[str]
    wrapper: bool
    long_options: bool
    positional: bool
    """Some tool reads secrets from positional arguments (checked at the command's end)."""

    @classmethod
    def of(cls, tools: tuple[Tool, ...]) -> _Family:
        return cls(
            tools,
            frozenset().union(*(tool.value_flags for tool in tools)),
            frozenset().union(*(tool.switches for tool in tools)),
            frozenset().union(*(tool.stdin_flags for tool in tools)),
            any(tool.wrapper for tool in tools),
            any(tool.long_options for tool in tools),
            any(tool.positional or tool.named_values for tool in tools),
        )


_by_name: dict[str, tuple[Tool, ...]] = {}
for _tool in TOOLS:
    for _name in _tool.names:
        _by_name[_name] = (*_by_name.get(_name, ()), _tool)
_FAMILIES = {name: _Family.of(tools) for name, tools in _by_name.items()}
TOOL_NAMES = frozenset(_FAMILIES)
_STDIN_SECRET = re.compile(
    r"--(?:[\w-]*-)?(?:password|passwd|passphrase|token|secret)-stdin|--(?:passphrase|password)-fd"
)
GENERIC_RULE = "secret-flag"
WINDOWS_RULE = "windows-password"
_FLAG_NAME = re.compile(r"[A-Za-z_][\w.-]*")
_CREDENTIAL_FLAGS = word_set(
    "auth _auth basic-auth http-auth proxy-auth auth-basic creds credentials credential "
    "user-pass userpass user-password login-password"
)
"""Generic flags carrying ``user:password`` or a bare token, for any command."""
_WINDOWS_FLAG = re.compile(r"/([A-Za-z][\w-]{0,40})[:=]")
_WINDOWS_SECRET = word_set("p pw pwd pass passwd password rp")
"""``/p:X`` (xfreerdp, msdeploy), ``/pass:X`` (cmdkey), ``/RP:X`` (schtasks), ..."""
_ECHO = frozenset({"echo", "printf"})
_ENCODERS = word_set(
    "base64 base32 basenc xxd od hexdump md5sum sha1sum sha224sum sha256sum sha384sum "
    "sha512sum b2sum shasum cksum gpg age mkpasswd"
)
"""Commands that encode, hash or encrypt what they read: ``echo X | base64`` gives X away."""
_DECODE_FLAGS = word_set("-d --decode -D -r --revert -u")
_STDIN_SOURCES = frozenset({"-", "/dev/stdin", "@-", "@/dev/stdin", "file:///dev/stdin"})
_SECRET_WORD = re.compile(r"(?i:secret|passw|passphrase|token|credential|apikey|api-key|api_key)")
_DRIVE = re.compile(r"[A-Za-z]:|\*")


class Stdin:
    """What a command does with the text piped into it."""

    NONE, SECRET, ENCODED, COLON = range(4)
    """Nothing known; reads a secret; encodes it (only password-like values count);
    reads ``user:secret`` lines (chpasswd)."""


_TOKEN = re.compile(
    r"(?P<op>\|\||&&|;;|[|;&()\n])"
    r"|(?P<redir>\d{0,3}(?:>>|>&|&>|<<<|<<-?|<&|[<>]))"
    r"|(?:[^\s'\"\\|;&()<>]|\\[^\n]|'[^']*'|\"(?:[^\"\\]|\\[\s\S])*\"|'[^']*\Z|\"[^\"]*\Z)+"
)


class Word:
    """One shell word: its raw text and where it sits in the scanned text."""

    __slots__ = ("_unquoted", "raw", "start")

    def __init__(self, raw: str, start: int, unquoted: tuple[str, list[int]] | None = None) -> None:
        self.raw = raw
        self.start = start
        self._unquoted = unquoted
        """Set for words read from a printed list, whose quoting is Python's, not the shell's."""

    @property
    def contiguous(self) -> bool:
        """A list element without escapes: its characters sit one after another in the text."""
        if self._unquoted is None:
            return False
        value, where = self._unquoted
        return not where or where[-1] - where[0] == len(value) - 1

    @property
    def plain(self) -> bool:
        """No quotes or escapes: the command receives the raw text."""
        raw = self.raw
        return self._unquoted is None and "'" not in raw and '"' not in raw and "\\" not in raw

    def unquote(self) -> tuple[str, list[int]]:
        """The word as the command receives it, and each character's offset in the text."""
        if self._unquoted is not None:
            return self._unquoted
        raw = self.raw
        if self.plain:
            return raw, list(range(self.start, self.start + len(raw)))
        chars: list[str] = []
        where: list[int] = []
        quote = ""
        i = 0
        while i < len(raw):
            c = raw[i]
            if quote == "'":
                if c == "'":
                    quote = ""
                else:
                    chars.append(c)
                    where.append(self.start + i)
            elif c == "\\" and i + 1 < len(raw) and (quote == "" or raw[i + 1] in '"\\$`'):
                i += 1
                chars.append(raw[i])
                where.append(self.start + i)
            elif c in "'\"" and quote == "":
                quote = c
            elif c == '"' and quote == '"':
                quote = ""
            else:
                chars.append(c)
                where.append(self.start + i)
            i += 1
        return "".join(chars), where


_SHELL_SYNTAX = re.compile(r"['\"\\|;&()<>\n]")
_PLAIN_WORD = re.compile(r"\S+")


def _segments(text: str, offset: int) -> Iterator[tuple[str, list[Word], Word | None]]:
    """(operator before, words, here-string) per simple command."""
    if _SHELL_SYNTAX.search(text) is None:  # the common case: plain words, split them fast
        yield "", [Word(m.group(), offset + m.start()) for m in _PLAIN_WORD.finditer(text)], None
        return
    words: list[Word] = []
    before = ""
    here: Word | None = None
    redirect = ""
    for match in _TOKEN.finditer(text):
        op = match.group("op")
        if op is not None:
            yield before, words, here
            before, words, here, redirect = op, [], None, ""
        elif match.group("redir") is not None:
            redirect = match.group("redir")
        elif redirect:  # a redirection target is no argument
            if redirect == "<<<":
                here = Word(match.group(), offset + match.start())
            redirect = ""
        else:
            words.append(Word(match.group(), offset + match.start()))
    yield before, words, here


def shell_words(text: str) -> list[list[Word]]:
    """The words of each simple command in ``text`` (for the engine's checks across words)."""
    return [words for _, words, _ in _segments(text, 0) if words]


_SEQUENCE = frozenset({";", "&&", "||", "&", "\n", ";;"})


def last_pipeline(text: str) -> list[list[Word]]:
    """The words of each command of the last pipeline in ``text`` (after its last ``;``,
    ``&&``, ``||``, ``&``): the commands whose output ends the text."""
    pipeline: list[list[Word]] = []
    for before, words, _ in _segments(text, 0):
        if before in _SEQUENCE:
            pipeline = []
        if words:
            pipeline.append(words)
    return pipeline


def _basename(raw: str) -> str:
    return raw.rsplit("/", 1)[-1].strip("'\"")


def command_candidates(text: str, offset: int = 0) -> Iterator[Candidate]:
    """Secrets in the arguments of the commands in ``text`` (offsets shifted by ``offset``)."""
    if "\u2400" in text:  # a NUL the recorder made visible still separates argv words
        text = text.replace("\u2400", " ")
    previous: list[Word] = []
    for before, segment, here in _segments(text, offset):
        flagged = yield from _scan(segment)
        piped = before == "|" and previous and _basename(previous[0].raw) in _ECHO
        stdin = Stdin.NONE
        if piped or here is not None:
            stdin = Stdin.SECRET if flagged else _stdin_kind(segment)
        if stdin != Stdin.NONE:
            if piped:
                args = previous[1:]
                if _basename(previous[0].raw) == "printf" and len(args) > 1:
                    args = args[1:]  # the format
                yield from _echoed(args, stdin)
            elif here is not None:
                yield from _echoed([here], stdin)
        previous = segment


def _echoed(words: list[Word], stdin: int) -> Iterator[Candidate]:
    """The arguments of the ``echo``/``printf`` (or here-string) feeding a secret to stdin."""
    for word in words:
        value, where = word.unquote()
        if value.startswith("-") or not where:
            continue
        if stdin == Stdin.COLON:
            cut = value.find(":") + 1
            if cut == 0:
                continue
            value, where = value[cut:], where[cut:]
        if not where or is_plain_value(value):
            continue
        if stdin == Stdin.ENCODED and not password_like(value):
            continue  # ``echo hello | base64`` encodes a word, not a secret
        yield Candidate(where[0], where[-1] + 1, COMMAND, "stdin-secret", value)


_PY_STRING = r"'(?:[^'\\\n]|\\.){0,4096}'|\"(?:[^\"\\\n]|\\.){0,4096}\""
_LIST = re.compile(
    rf"\[[ \t]{{0,8}}(?:{_PY_STRING})"
    rf"(?:[ \t]{{0,8}},[ \t]{{0,8}}(?:{_PY_STRING})){{1,512}}[ \t]{{0,8}}\]"
)
_ELEMENT = re.compile(r"'((?:[^'\\\n]|\\.)*)'|\"((?:[^\"\\\n]|\\.)*)\"")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def list_candidates(text: str) -> Iterator[Candidate]:
    """An argv printed as a Python or JSON list (``['mysql', '-pX']``, ``["sh", "-c", ...]``),
    read as the command it is."""
    at = text.find("[")
    while at >= 0:
        match = _LIST.match(text, at)
        if match is None:
            at = text.find("[", at + 1)
            continue
        words = [_element_word(element) for element in _ELEMENT.finditer(text, at, match.end())]
        yield from _scan(words)
        at = text.find("[", match.end())


def _element_word(element: re.Match[str]) -> Word:
    """A list element as a word: the string it denotes (also as its raw text, so flags and
    names read as in a command line), each character's offset in the text."""
    group = 1 if element.group(1) is not None else 2
    inner, start = element.group(group), element.start(group)
    if "\\" not in inner:
        return Word(inner, start, (inner, list(range(start, start + len(inner)))))
    chars: list[str] = []
    where: list[int] = []
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\" and i + 1 < len(inner) and inner[i + 1] in _ESCAPES:
            i += 1
            c = _ESCAPES[inner[i]]
        chars.append(c)
        where.append(start + i)
        i += 1
    return Word("".join(chars), start, ("".join(chars), where))


class _Context:
    """The tools whose rules apply to the words being read, and what was seen so far; the
    context it replaced stays as ``outer``, asked for flags this one does not know."""

    __slots__ = ("active", "family", "outer", "positionals", "switches")

    def __init__(self, family: _Family, outer: _Context | None) -> None:
        if outer is not None:
            outer.outer = None  # one level of fallback is enough; deeper chains only grow
        self.family = family
        self.outer: _Context | None = outer
        self.active: list[Tool] = [tool for tool in family.tools if not tool.subcommands]
        self.positionals: list[Word] = []
        self.switches = ""

    def flag(self, name: str) -> tuple[Tool, Mode] | None:
        for tool in self.active:
            mode = tool.flags.get(name)
            if mode is not None:
                return tool, mode
        return self.outer.flag(name) if self.outer is not None else None

    def positional(self, word: Word) -> None:
        """Count a positional; a subcommand word activates the tools waiting for it."""
        for tool in self.family.tools:
            if word.raw in tool.subcommands and tool not in self.active:
                self.active.append(tool)
        self.positionals.append(word)


def _family(raw: str) -> _Family | None:
    """The tools a word names, if it is a command name (``/usr/bin/mysql`` included)."""
    family = _FAMILIES.get(raw)
    if family is None and ("/" in raw or raw[:1] in ("'", '"')) and "=" not in raw:
        family = _FAMILIES.get(_basename(raw))
    return family


def _scan(words: list[Word]) -> Generator[Candidate, None, bool]:
    """Findings in one simple command; returns whether a flag reads a secret from stdin."""
    context: _Context | None = None
    stdin = False
    i = 0
    while i < len(words):
        word = words[i]
        if word.raw[:1] in ("'", '"') or word._unquoted is not None:
            word = _unwrapped_flag(word)
        raw = word.raw
        i += 1
        family = _family(raw)
        if family is not None:
            if context is not None and context.family.positional:
                yield from _positional_secrets(context)
            outer = None if context is None or context.family.wrapper else context
            context = _Context(family, outer)
        elif raw[:1] == "/" and _WINDOWS_FLAG.match(raw):
            yield from _windows_flag(word)
        elif not raw.startswith("-") or raw == "-":
            if word.contiguous and " " in raw:  # a list element: ['sh', '-c', 'mysql -pX']
                yield from command_candidates(raw, word.start)
            elif raw[:1] in ("'", '"') and " " in raw:  # bash -c '...', ssh host "..."
                inner = raw[1:-1] if len(raw) > 1 and raw[-1] == raw[0] else raw[1:]
                yield from command_candidates(inner, word.start + 1)
            if context is not None and context.family.wrapper:
                context = None  # the wrapped command starts here
            elif context is not None:
                context.positional(word)
        else:
            following = words[i] if i < len(words) else None
            consumed, found, reads = _flag(word, following, context)
            i += consumed
            stdin = stdin or reads
            yield from found
    if context is not None and context.family.positional:
        yield from _positional_secrets(context)
    return stdin


def _stdin_kind(words: list[Word]) -> int:
    """Whether the command encodes its stdin or reads a secret from ``-`` / ``/dev/stdin``."""
    if not words:
        return Stdin.NONE
    name = _basename(words[0].raw)
    if name in _ENCODERS or (
        name == "openssl" and len(words) > 1 and words[1].raw in {"base64", "enc"}
    ):
        if not any(word.raw in _DECODE_FLAGS for word in words[1:]):
            return Stdin.ENCODED
        return Stdin.NONE
    if name == "chpasswd":
        return Stdin.COLON
    sources = any(
        word.raw in _STDIN_SOURCES or word.raw.rpartition("=")[2] in _STDIN_SOURCES
        for word in words[1:]
    )
    if sources and any(_SECRET_WORD.search(word.raw) for word in words):
        return Stdin.SECRET  # gcloud secrets create x --data-file=-, docker secret create x -
    return Stdin.NONE


def _windows_flag(word: Word) -> Iterator[Candidate]:
    """``/p:X``, ``/pass:X``, ``/password=X``: a Windows-style option naming a password."""
    match = _WINDOWS_FLAG.match(word.raw)
    if match is None:
        return
    name = match.group(1)
    if name.lower() in _WINDOWS_SECRET or secret_name(name):
        yield from _value(word, match.end(), Mode.VALUE, WINDOWS_RULE)


def _unwrapped_flag(word: Word) -> Word:
    """A flag quoted whole, as ``shlex.join`` writes ``-pX!``: read as the shell passes it."""
    raw = word.raw
    if word._unquoted is not None:  # a list element without escapes is a plain word
        return Word(raw, word.start) if word.contiguous and raw.startswith("-") else word
    if len(raw) > 3 and raw[0] in "'\"" and raw[-1] == raw[0] and raw[1] == "-":
        inner = raw[1:-1]
        hidden = "'" if raw[0] == "'" else '"\\$`'
        if not any(c in inner for c in hidden):
            return Word(inner, word.start + 1)
    return word


_Read = tuple[int, list[Candidate], bool]
"""What reading a flag gives: following words consumed, findings, reads a secret from stdin."""


def _flag(word: Word, following: Word | None, context: _Context | None) -> _Read:
    """Read one word starting with ``-``: the tool's own meaning first, then a generic name."""
    raw = word.raw
    name, eq, _ = raw.partition("=")
    if context is not None:
        family = context.family
        if name in family.stdin_flags:
            return 0, [], True
        if name in family.switches:
            return 0, [], False
        known = context.flag(name)
        if known is not None:
            tool, mode = known
            if eq:
                return 0, _value(word, len(name) + 1, mode, tool.rule), False
            if mode is Mode.ATTACHED:
                return 0, [], False
            return _separate(following, mode, tool.rule)
        if name in family.value_flags:
            return (0 if eq or following is None else 1), [], False
        if not raw.startswith("--") and not family.long_options:
            found = _cluster(word, following, context)
            if found is not None:
                return found
    if _STDIN_SECRET.fullmatch(name):
        return 0, [], True
    bare = name.lstrip("-")
    if bare.lower() in _CREDENTIAL_FLAGS:
        if eq:
            return 0, _value(word, len(name) + 1, Mode.CREDENTIALS, GENERIC_RULE), False
        return _separate(following, Mode.CREDENTIALS, GENERIC_RULE)
    if len(bare) > 3 and _FLAG_NAME.fullmatch(bare) and secret_name(bare):
        if eq:
            return 0, _value(word, len(name) + 1, Mode.VALUE, GENERIC_RULE), False
        return _separate(following, Mode.VALUE, GENERIC_RULE)
    return 0, [], False


def _cluster(word: Word, following: Word | None, context: _Context) -> _Read | None:
    """Short switches run together (``-uroot -pX``, ``-nbB``); None when none is known."""
    raw = word.raw
    for index in range(1, len(raw)):
        letter = "-" + raw[index]
        known = context.flag(letter)
        if known is not None:
            tool, mode = known
            if index + 1 < len(raw):
                return 0, _value(word, index + 1, mode, tool.rule), False
            if mode is Mode.ATTACHED:
                return 0, [], False
            return _separate(following, mode, tool.rule)
        if letter in context.family.value_flags:
            context.switches += raw[1:index]
            attached = index + 1 < len(raw) or following is None
            return (0 if attached else 1), [], False
        if not raw[index].isalnum():
            return None
    context.switches += raw[1:]
    return 0, [], False


def _separate(following: Word | None, mode: Mode, rule: str) -> _Read:
    if following is None or (following.raw.startswith("-") and following.raw != "-"):
        return 0, [], False
    return 1, _value(following, 0, mode, rule), False


_SEPARATORS = {Mode.AFTER_COLON: ":", Mode.AFTER_PERCENT: "%", Mode.AFTER_COMMA: ","}


def _value(word: Word, skip_raw: int, mode: Mode, rule: str) -> list[Candidate]:
    """The secret part of ``word`` after its first ``skip_raw`` raw characters."""
    if word.plain:  # no quoting: characters and offsets are the raw ones
        value = word.raw[skip_raw:]
        where: list[int] | range = range(word.start + skip_raw, word.start + len(word.raw))
    else:
        text, offsets = word.unquote()
        if word._unquoted is not None:
            prefix_length = skip_raw  # a list element: the flag's text has no escapes
        else:
            prefix_length = (
                len(Word(word.raw[:skip_raw], word.start).unquote()[0]) if skip_raw else 0
            )
        value, where = text[prefix_length:], offsets[prefix_length:]
    if mode is Mode.COOKIE:
        return _cookie_values(value, where, rule)
    cut = 0
    separator = _SEPARATORS.get(mode)
    if separator is not None:
        cut = value.find(separator) + 1
        if cut == 0:
            return []  # no password given: the tool prompts for it
    elif mode is Mode.CREDENTIALS:
        cut = value.find(":") + 1  # user:password, or a token alone
    elif mode is Mode.LITERAL:
        cut = value.find("=") + 1
    elif mode is Mode.OPENSSL:
        if not value.startswith("pass:"):
            return []  # env:, file:, fd:, stdin name where the password is
        cut = len("pass:")
    value, where = value[cut:], where[cut:]
    if not where or is_plain_value(value):
        return []
    return [Candidate(where[0], where[-1] + 1, COMMAND, rule, value)]


def _cookie_values(value: str, where: list[int] | range, rule: str) -> list[Candidate]:
    """Every value of a ``name=value; name2=value2`` cookie string (a file name has no ``=``)."""
    found: list[Candidate] = []
    position = 0
    for pair in value.split(";"):
        name, eq, cookie = pair.partition("=")
        start = position + len(name) + 1
        position += len(pair) + 1
        cookie = cookie.strip().strip('"')
        if not eq or len(cookie) < 4 or is_plain_value(cookie):
            continue
        start = value.index(cookie, start)
        found.append(
            Candidate(where[start], where[start + len(cookie) - 1] + 1, COMMAND, rule, cookie)
        )
    return found


def _positional_secrets(context: _Context) -> Iterator[Candidate]:
    """Secrets given as positional arguments (htpasswd -b, vault login, config set NAME VALUE)."""
    for tool in context.active:
        args = context.positionals
        if tool.subcommands:
            starts = [n for n, w in enumerate(args) if w.raw in tool.subcommands]
            if not starts:
                continue
            args = [arg for arg in args[starts[0] + 1 :] if not _DRIVE.fullmatch(arg.raw)]
        if tool.named_values:
            for name, value in itertools.pairwise(args):
                if secret_name(name.unquote()[0]):
                    yield from _value(value, 0, Mode.VALUE, tool.rule)
            continue
        for switches, index in tool.positional.items():  # most specific first
            if all(letter in context.switches for letter in switches):
                if index < len(args) and "=" not in args[index].raw:
                    yield from _value(args[index], 0, Mode.VALUE, tool.rule)
                break
