"""Commands that print a secret's values alone, one a line, naming the key only in their
arguments (``lines.label_kind`` answers ``VALUES`` for them).

An extraction whose pattern names a secret's key (``grep -oP '(?<=password=).*'``, ``grep -Po
'token:\\s*\\K\\S+'``, ``sed -n 's/^DB_PASSWORD=//p'``, ``awk -F= '/^API_KEY/{print $2}'``) or
that projects a field out of the lines a ``grep`` of one selected (``grep SECRET .env | cut
-d= -f2``, ``cut -d= -f2 <<< "$(grep SECRET .env)"``, ``| awk '{print $2}'``, ``| sed
's/.*=//'``), and a Go template or JSONPath given to a formatting flag that prints a
secret-named field (``-o go-template='{{.data.password}}'``, ``--format '{{index
.Config.Labels "db_password"}}'``), whatever the command. Every line of such an output is
read, not only the first: several matches print several values, and a template's value may
span lines (a key). Not covered: ``grep -o`` without ``\\K`` or a lookbehind (it prints
the key too, which the assignment rules read), counts and lists (``grep -c``, ``-l``,
``-v``), ``sed`` without ``-n`` unless a ``grep`` selected its lines (it prints every line),
``perl -ne``, ``rg -r``, a ``--jq`` filter (``gh api --jq .token``); a value holding a blank
(a line with one is as often an error message or a prompt).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from autobot_activity_otel.secrets import rules
from autobot_activity_otel.secrets.commands import last_pipeline
from autobot_activity_otel.secrets.prefilter import ascii_lower
from autobot_activity_otel.secrets.rules import MARKER, secret_name

_FORMAT_FLAG = re.compile(
    r"(?<![\w-])(?:-o|--output|-f|--format|--template)(?:=|[ \t]+)['\"]?"
    r"(?:(?:go-)?template=|jsonpath=)?['\"]?(?=\{)"
)
"""A formatting flag whose argument is a Go template or JSONPath (``-o go-template=``,
``--format``, ``--template=``, ``-o jsonpath=``)."""
_TEMPLATE_FIELD = re.compile(
    r"\{\{?-?[ \t]*+\(?[ \t]*+(?:index[ \t]++[^\s\"{}]+[ \t]++\"([^\"{}]{1,80})"
    r"|\$?\.(?:[\w-]{1,80}(?:\[[^\]\s]{0,40}\])?\.){0,8}([\w-]{1,80}))"
)
"""What a template's action prints: the last field of ``{{.data.password}}`` (or JSONPath's
``{.data.password}``), the key of ``{{index .data "api-key"}}``; not a ``range`` or ``if``'s.
Blank runs are possessive, as in ``lines``: what follows one never starts with a blank, and
two runs split every way took 3 ms a line (``{{``, 270 blanks)."""


def prints_values(body: str) -> bool:
    """Whether a command line prints a secret's values alone, one a line (``VALUES``). Every
    terminal row's command comes here, so cheap tests go first: a tool's name or a brace, then
    ``rules.KEYWORDS``, without one of which no name is read as a secret's (as for assignments)."""
    extraction = "grep" in body or "sed" in body or "awk" in body or "cut" in body
    template = "{{" in body or "{." in body
    if not (extraction or template) or rules.KEYWORDS.search(ascii_lower(body)) is None:
        return False
    return (template and _prints_secret_field(body)) or (extraction and _extracts_secret(body))


def _prints_secret_field(body: str) -> bool:
    """Whether a command's formatting flag prints a secret-named field (``kubectl get secret
    db -o go-template='{{.data.password}}'``, ``docker inspect -f '{{.Config.Labels.token}}'``):
    the output is the value alone, whatever the command."""
    flag = _FORMAT_FLAG.search(body)
    if flag is None:
        return False
    for field in _TEMPLATE_FIELD.finditer(body, flag.end()):
        if secret_name(field.group(1) or field.group(2)):
            return True
    return False


_BEFORE_COMMAND = r"\s|;&(`/'\""
_EXTRACTOR = re.compile(
    rf"(?:grep(?<![^{_BEFORE_COMMAND}ef]grep)|sed(?<![^{_BEFORE_COMMAND}g]sed)"
    rf"|awk(?<![^{_BEFORE_COMMAND}gmn]awk)|cut(?<![^{_BEFORE_COMMAND}]cut))[ \t]"
)
"""An extraction tool's name as a word of its own (not ``used``, ``closed``, ``shortcut``);
the name first and what precedes it checked after, so the search skips other letters fast."""
_TOOLS = {
    **dict.fromkeys(("grep", "egrep", "fgrep"), "grep"),
    **dict.fromkeys(("sed", "gsed"), "sed"),
    **dict.fromkeys(("awk", "gawk", "mawk", "nawk"), "awk"),
    "cut": "cut",
}
_VALUE_FLAGS = {
    "grep": frozenset({"-e", "-f", "-m", "-A", "-B", "-C", "-d", "-D"}),
    "sed": frozenset({"-e", "-f", "-l"}),
    "awk": frozenset({"-F", "-v", "-f"}),
    "cut": frozenset({"-d", "-f", "-c", "-b"}),
}
"""Each tool's short flags that take a value (``-e PATTERN``, ``-F=``, ``-f2``)."""
_SED_SUBSTITUTE = re.compile(
    r"\bs([^\w\s\\])(?:\\.|(?!\1)[^\\])*\1((?:\\.|(?!\1)[^\\])*)\1([gpiIM0-9]*)"
)
"""``s/pattern/replacement/flags``: what comes before the replacement selects the line."""
_AWK_FIELD = re.compile(r"\bprint[ \t]*+\(?[ \t]*+\$(?:NF|[2-9]|[1-9][0-9])\b")
"""``print $2``, ``print $NF``: a field after the first, where ``KEY=value`` keeps its value."""
_LATER_FIELDS = frozenset("23456789")
"""``cut -f2``, ``-f2-``: a field after the first (``-f1`` prints the key)."""
_PROJECTIONS = ("\\K", "(?<=", "REDACTED", "print", "-f", "--fields")
"""What a call printing a value alone holds, but for ``sed``'s ``s`` command: ``grep -o``'s
cut (or the marker the command's redaction left there), awk's ``print``, cut's field."""
_REGEX_ESCAPE = re.compile(r"\\.")
_PATTERN_NAME = re.compile(r"[A-Za-z_][\w-]*")


def _cuts_key(pattern: str) -> bool:
    """Whether a ``grep -o`` pattern leaves its key out of the match: ``\\K`` or a lookbehind,
    or a redaction marker where the recording took its tail (``password=\\K.*``) for a value
    (recording and the exporter read an output after the command as stored)."""
    return "\\K" in pattern or "(?<=" in pattern or MARKER.search(pattern) is not None


def _names_secret(pattern: str) -> bool:
    """Whether a pattern or program names a secret's key (``^DB_PASSWORD=``, ``(?<=token:)``);
    escapes (``\\b``, ``\\s``) are taken out first, lest they join the name."""
    words = _PATTERN_NAME.findall(_REGEX_ESCAPE.sub(" ", pattern))
    return any(secret_name(word) for word in words)


class _Call:
    """One call of an extraction tool: its switches, the values of its flags, its operands."""

    def __init__(self, tool: str, words: list[str]) -> None:
        self.tool = tool
        self.switches: list[str] = []
        self.values: dict[str, str] = {}
        self.operands: list[str] = []
        takes = _VALUE_FLAGS[tool]
        pending = ""
        for word in words:
            if pending:
                self.values[pending], pending = word, ""
            elif len(word) > 1 and word[0] == "-" and word[1] != "-":
                if word[:2] not in takes:
                    self.switches.append(word)
                elif len(word) > 2:
                    self.values[word[:2]] = word[2:]
                else:
                    pending = word
            elif word.startswith("--"):
                self.switches.append(word)
            else:
                self.operands.append(word)

    def short(self, letters: str) -> bool:
        """Whether a cluster of short switches holds one of ``letters`` (``-oP`` holds o)."""
        return any(s[1] != "-" and any(c in s for c in letters) for s in self.switches)

    @property
    def script(self) -> str:
        """The pattern or program: ``-e``'s value, else the first operand."""
        return self.values.get("-e") or (self.operands[0] if self.operands else "")


def _calls(body: str) -> Iterator[_Call]:
    """The calls of extraction tools in the last pipeline of a command line (whose output is
    what follows), ``$(...)`` read as part of it (``cut -d= -f2 <<< "$(grep SECRET .env)"``)."""
    for words in last_pipeline(body.replace('"$(', "$(").replace("$(", "| ")):
        values = [word.unquote()[0] for word in words]
        for index, value in enumerate(values):
            tool = _TOOLS.get(value.rsplit("/", 1)[-1])
            if tool is not None:
                yield _Call(tool, values[index + 1 :])
                break


def _extracts_secret(body: str) -> bool:
    """Whether a command line prints the values of a secret-named key alone: an extraction
    that names the key (``grep -oP '(?<=password=).*'``, ``sed -n 's/^DB_PASSWORD=//p'``,
    ``awk -F= '/^API_KEY/{print $2}'``), or a projection (``cut -f2``, ``awk '{print $2}'``,
    ``sed 's/.*=//'``) of the lines a ``grep`` of the key selected."""
    if _EXTRACTOR.search(body) is None:
        return False
    if not any(mark in body for mark in _PROJECTIONS) and _SED_SUBSTITUTE.search(body) is None:
        return False  # no call can print a value alone (``grep -i password``): spare the parse
    selected = projected = False
    for call in _calls(body):
        script = call.script
        if call.tool == "grep":
            only_matching = call.short("o") or "--only-matching" in call.switches
            key = script.split("\\K", 1)[0]
            if only_matching and _cuts_key(script) and _names_secret(key):
                return True
            selected |= not call.short("vclLq") and _names_secret(script)
        elif call.tool == "sed":
            substitute = _SED_SUBSTITUTE.search(script)
            if substitute is None:
                continue
            quiet = call.short("n") or "--quiet" in call.switches or "--silent" in call.switches
            printed = quiet and "p" in substitute.group(3)
            if printed and _names_secret(script[: substitute.start(2)]):
                return True
            projected = True
        elif call.tool == "awk":
            if "-f" in call.values or _AWK_FIELD.search(script) is None:
                continue
            if _names_secret(script):
                return True
            projected = True
        else:
            field = call.values.get("-f", "")
            projected |= field[:1] in _LATER_FIELDS
    return selected and projected
