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
span lines (a key). The same holds for ``perl -ne`` printing a capture of a
secret-named pattern (``print $1 if /password=(\\S+)/``), ``rg -o -r '$1'`` with one, and a
``jq``/``yq`` filter (or ``gh api --jq``) whose last step is a secret-named field
(``.db.password``, ``.[] | .token``). A ``grep -A1`` of a secret's name (``FOLLOWING``) prints
the value on the line after the key (``password:`` then the value). Not covered: ``grep -o``
without ``\\K`` or a lookbehind (it prints the key too, which the assignment rules read),
counts and lists (``grep -c``, ``-l``, ``-v``), ``sed`` or ``perl -p`` without ``-n`` unless a
``grep`` selected its lines (they print every line).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from autobot_activity_otel.secrets import rules
from autobot_activity_otel.secrets.commands import last_pipeline
from autobot_activity_otel.secrets.prefilter import ascii_lower
from autobot_activity_otel.secrets.rules import MARKER, QUOTED_SECRET_NAMES, secret_name

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


VALUES = 3
"""A command whose every line of output is a secret's value (``lines.label_kind`` answers it)."""
FOLLOWING = 4
"""A command printing the line after each line naming a secret (``grep -A1 password:``): the
value under a label in its output is a value whatever its shape."""
_TOOL_HINTS = ("grep", "sed", "awk", "cut", "perl", "rg", "jq", "yq", "gh")


def prints_values(body: str) -> int:
    """``VALUES`` when a command line prints a secret's values alone, one a line, ``FOLLOWING``
    when it prints the line after a secret's name, else 0. Every terminal row's command comes
    here, so cheap tests go first: a tool's name or a brace, then ``rules.KEYWORDS``, without
    one of which no name is read as a secret's (as for assignments)."""
    extraction = any(hint in body for hint in _TOOL_HINTS)
    template = "{{" in body or "{." in body
    if not (extraction or template):
        return 0
    if rules.KEYWORDS.search(ascii_lower(body)) is None and not any(
        name in body for name in _SECRET_FILE_HINTS
    ):
        return 0
    if template and _prints_secret_field(body):
        return VALUES
    return _extracts_secret(body) if extraction else 0


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
    rf"|awk(?<![^{_BEFORE_COMMAND}gmn]awk)|cut(?<![^{_BEFORE_COMMAND}]cut)"
    rf"|perl(?<![^{_BEFORE_COMMAND}]perl)|rg(?<![^{_BEFORE_COMMAND}]rg)"
    rf"|[jy]q(?<![^{_BEFORE_COMMAND}][jy]q)|gh(?<![^{_BEFORE_COMMAND}]gh))[ \t]"
)
"""An extraction tool's name as a word of its own (not ``used``, ``closed``, ``shortcut``);
the name first and what precedes it checked after, so the search skips other letters fast."""
_TOOLS = {
    **dict.fromkeys(("grep", "egrep", "fgrep"), "grep"),
    **dict.fromkeys(("sed", "gsed"), "sed"),
    **dict.fromkeys(("awk", "gawk", "mawk", "nawk"), "awk"),
    "cut": "cut",
    "perl": "perl",
    "rg": "rg",
    **dict.fromkeys(("jq", "gojq", "jaq", "yq"), "jq"),
    "gh": "gh",
    "cat": "cat",
}
_VALUE_FLAGS = {
    "grep": frozenset({"-e", "-f", "-m", "-A", "-B", "-C", "-d", "-D"}),
    "sed": frozenset({"-e", "-f", "-l"}),
    "awk": frozenset({"-F", "-v", "-f"}),
    "cut": frozenset({"-d", "-f", "-c", "-b"}),
    "perl": frozenset({"-e", "-E", "-I", "-M", "-m"}),
    "rg": frozenset(
        {"-e", "-f", "-m", "-A", "-B", "-C", "-r", "-g", "-t", "-T", "-M", "-j", "-E", "-d"}
    ),
    "jq": frozenset({"-f", "-L", "--arg", "--argjson", "--slurpfile", "--rawfile", "--indent"}),
    "gh": frozenset({"-q", "-t", "-X", "-H", "-f", "-F", "-p", "-R", "--input", "--cache"}),
    "cat": frozenset(),
}
"""Each tool's flags that take a value (``-e PATTERN``, ``-F=``, ``-f2``, ``--jq .token``)."""
_LONG_FLAGS = {
    "--regexp": "-e",
    "--expression": "-e",
    "--file": "-f",
    "--fields": "-f",
    "--delimiter": "-d",
    "--field-separator": "-F",
    "--after-context": "-A",
    "--context": "-C",
    "--max-count": "-m",
    "--replace": "-r",
    "--jq": "-q",
    "--template": "-t",
    "--from-file": "-f",
}
"""Long flags read as the short flag they spell (``--replace '$1'`` as ``-r '$1'``)."""
_TWO_VALUES = frozenset({"--arg", "--argjson", "--slurpfile", "--rawfile"})
"""``jq --arg name value``: a name and a value, neither the filter."""
_SED_SUBSTITUTE = re.compile(
    r"\bs([^\w\s\\])(?:\\.|(?!\1)[^\\])*\1((?:\\.|(?!\1)[^\\])*)\1([gpiIM0-9]*)"
)
"""``s/pattern/replacement/flags``: what comes before the replacement selects the line."""
_AWK_FIELD = re.compile(r"\bprint[ \t]*+\(?[ \t]*+\$(?:NF|[2-9]|[1-9][0-9])\b")
"""``print $2``, ``print $NF``: a field after the first, where ``KEY=value`` keeps its value."""
_NEXT_LINE = re.compile(
    r"\{[ \t]*+n[ \t]*+;[ \t]*+p\b|\bgetline[ \t]*+;?[ \t]*+print[ \t]*+(?:\$0[ \t]*+)?\}"
)
"""``sed -n '/password/{n;p}'``, ``awk '/password/{getline; print}'``: the line after the one
the pattern selects, where a value under its key stands."""
_LATER_FIELDS = frozenset("23456789")
"""``cut -f2``, ``-f2-``: a field after the first (``-f1`` prints the key)."""
_LATER_CHARACTERS = re.compile(r"[1-9][0-9]|[2-9]")
"""``cut -c13-``: characters from past the first, where ``DB_PASSWORD=`` ends."""
_PERL_CAPTURE = re.compile(r"\b(?:print|printf|say)\b[^;$]{0,40}\$(?:[1-9]|&|\+)")
"""``print $1``, ``print "$1\\n"``, ``say $&``: what perl prints is a capture of its pattern."""
_JQ_PATH = re.compile(
    r"(?:\.(?:[A-Za-z_][\w-]{0,80}+|\"[^\"\n]{1,80}\")?\??(?:\[[^\]\n]{0,80}\]\??)*)+"
)
"""A jq path (``.db.password``, ``.users[].token``, ``.data["api-key"]``): each step starts
with its dot, a name takes all its characters and a bracket ends at its first ``]``, so a
path matches one way only."""
_JQ_FIELD = re.compile(r"\.([A-Za-z_][\w-]{0,80})|\.?\"([^\"\n]{1,80})\"|\[\"([^\"\n]{1,80})\"\]")
_JQ_CHOSEN = re.compile(r"==[ \t]*+\"([^\"\n]{1,80})\"")
"""The name a ``select(.name == "...")`` picks, whose ``.value`` the filter then prints."""
_JQ_FORMATS = frozenset({"@base64d", "@text", "@sh", "@json", "tostring"})
"""Last steps of a jq filter that print the value before them in another form."""
_YQ_COMMANDS = frozenset({"e", "eval", "ea", "eval-all"})
_PROJECTIONS = (
    *("\\K", "(?<=", "REDACTED", "print", "-f", "--fields", "$", "jq", "yq", "-A", "-C"),
    *("--after-context", "--context", "n;", "-c", "-b"),
)
"""What a call printing a value alone holds, but for ``sed``'s ``s`` command: ``grep -o``'s
cut (or the marker the command's redaction left there), awk's ``print``, cut's field, a
capture perl prints or ``rg -r`` puts, a jq filter, ``grep -A``'s line after, ``sed``'s
``{n;p}``, ``cut -c``'s characters."""
_SECRET_FILE = re.compile(
    r"\.env(?:\.(?!example|sample|template|dist)[\w-]{1,40})?|[\w.-]{1,80}\.env|\.netrc|\.pgpass"
    r"|\.git-credentials|credentials(?:\.\w{1,10})?|secrets?\.(?:env|ya?ml|json|txt|ini|toml)"
)
"""A file that holds secrets as its values (``.env``, ``prod.env``, ``.netrc``, ``credentials``,
``secrets.yaml``; not ``.env.example``): a projection of its lines prints them."""
_SECRET_FILE_HINTS = (".env", ".netrc", ".git-credentials")
"""What a command reading a file of secrets holds, when no keyword is in it (``.pgpass`` and
``credentials`` hold one)."""
_REGEX_ESCAPE = re.compile(r"\\.")
_LOG_PHRASE = re.compile(r"(?i:\b(?:failed|accepted)[ \t]++password\b)")
_PATTERN_NAME = re.compile(r"[A-Za-z_][\w-]*")


def _cuts_key(pattern: str) -> bool:
    """Whether a ``grep -o`` pattern leaves its key out of the match: ``\\K`` or a lookbehind,
    or a redaction marker where the recording took its tail (``password=\\K.*``) for a value
    (recording and the exporter read an output after the command as stored)."""
    return "\\K" in pattern or "(?<=" in pattern or MARKER.search(pattern) is not None


def _names_secret(pattern: str) -> bool:
    """Whether a pattern or program names a secret's key (``^DB_PASSWORD=``, ``(?<=token:)``);
    escapes (``\\b``, ``\\s``) are taken out first, lest they join the name, and sshd's log
    phrases (``Failed password``: a way to log in, not a key)."""
    unescaped = _REGEX_ESCAPE.sub(" ", pattern)
    if "assword" in unescaped:
        unescaped = _LOG_PHRASE.sub(" ", unescaped)
    words = _PATTERN_NAME.findall(unescaped)
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
        skip = 0
        for word in words:
            if skip:
                skip -= 1
            elif pending:
                self.values[pending], pending = word, ""
            elif len(word) > 1 and word[0] == "-" and word[1] != "-":
                pending = self._cluster(word, takes)
            elif word.startswith("--"):
                name, eq, value = word.partition("=")
                flag = _LONG_FLAGS.get(name, name)
                if flag not in takes:
                    self.switches.append(word)
                elif eq:
                    self.values[flag] = value
                elif name in _TWO_VALUES:
                    skip = 2
                else:
                    pending = flag
            else:
                self.operands.append(word)

    def _cluster(self, word: str, takes: frozenset[str]) -> str:
        """Read a cluster of short flags (``-oP``, ``-A1``, ``-or '$1'``, ``-nle``) as getopt
        does: the first letter that takes a value takes the rest, or the next word (returned)."""
        for index in range(1, len(word)):
            flag = "-" + word[index]
            if flag in takes:
                if index > 1:
                    self.switches.append(word[:index])
                if index + 1 < len(word):
                    self.values[flag] = word[index + 1 :]
                    return ""
                return flag
        self.switches.append(word)
        return ""

    def short(self, letters: str) -> bool:
        """Whether a cluster of short switches holds one of ``letters`` (``-oP`` holds o)."""
        return any(s[1] != "-" and any(c in s for c in letters) for s in self.switches)

    @property
    def files(self) -> list[str]:
        """The operands that name files: those after the pattern or program, when an operand
        gives it (``cut`` and ``cat`` have none)."""
        inline = self.tool in ("cut", "cat") or "-e" in self.values or "-E" in self.values
        inline |= self.tool in ("awk", "sed") and "-f" in self.values
        return self.operands if inline else self.operands[1:]

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


def _secret_file(path: str) -> bool:
    """Whether a path names a file of secrets (``.env``, ``~/.netrc``, ``db_password.txt``)."""
    name = path.rsplit("/", 1)[-1]
    return _SECRET_FILE.fullmatch(name) is not None or secret_name(name.split(".", 1)[0])


def _narrows(call: _Call) -> bool:
    """Whether a call selects some lines by a pattern (``grep HOST``, ``awk '/^HOST/{...}'``,
    ``sed '/x/s/...'``, perl's ``if /.../``; not ``grep -v '^#'``, which drops comments): a file
    of secrets projected whole prints all its values, but the lines a pattern naming no secret
    selects hold none."""
    if call.tool in ("awk", "sed"):
        return not call.script.lstrip().startswith("{" if call.tool == "awk" else "s")
    if call.tool in ("grep", "rg") and call.short("v"):
        return _PATTERN_NAME.search(_REGEX_ESCAPE.sub(" ", call.script)) is not None  # ``^#``
    return call.tool in ("grep", "rg", "perl")


def _filter_prints_secret(program: str) -> bool:
    """Whether a jq filter's last step is a secret-named field (``.db.password``, ``.[] |
    .token``, ``.data.password | @base64d``, ``.token // empty``, a short data key such as
    ``.auths[].auth``, as in quoted keys, the ``.value`` of an entry selected by a secret's
    name): it prints that value."""
    stages = [stage.strip() for stage in program.split("|")]
    while len(stages) > 1 and stages[-1] in _JQ_FORMATS:
        stages.pop()
    last = stages[-1].split("//", 1)[0].strip()
    if not last or _JQ_PATH.fullmatch(last) is None:
        return False
    fields = _JQ_FIELD.findall(last)
    if not fields:
        return False
    name = "".join(fields[-1])
    if name.lower() == "value" and "==" in program:  # ``select(.name == "X_TOKEN") | .value``
        chosen = _JQ_CHOSEN.findall(program)
        return any(secret_name(path.rsplit("/", 1)[-1]) for path in chosen)
    return secret_name(name) or name.lower() in QUOTED_SECRET_NAMES  # a data key: docker's auth


def _extracts_secret(body: str) -> int:
    """``VALUES`` when a command line prints the values of a secret-named key alone: an
    extraction that names the key (``grep -oP '(?<=password=).*'``, ``sed -n
    's/^DB_PASSWORD=//p'``, ``awk -F= '/^API_KEY/{print $2}'``, ``perl -ne 'print $1 if
    /token=(\\S+)/'``, ``rg -r '$1' 'api_key=(\\S+)'``, ``jq -r .db.password``), or a
    projection (``cut -f2``, ``awk '{print $2}'``, ``sed 's/.*=//'``) of the lines a ``grep``
    of the key or a file of secrets gave (``cut -d= -f2 .env``); ``FOLLOWING`` when a ``grep
    -A`` of the key prints the lines after."""
    if _EXTRACTOR.search(body) is None:
        return 0
    if not any(mark in body for mark in _PROJECTIONS) and _SED_SUBSTITUTE.search(body) is None:
        return 0  # no call can print a value alone (``grep -i password``): spare the parse
    selected = projected = following = whole = narrowed = False
    for call in _calls(body):
        script = call.script
        whole |= any(_secret_file(path) for path in call.files)
        narrowed |= _narrows(call)
        if call.tool in ("grep", "rg"):
            only_matching = call.short("o") or "--only-matching" in call.switches
            key = script.split("\\K", 1)[0]
            if only_matching and _cuts_key(script) and _names_secret(key):
                return VALUES
            if call.short("vclLq"):
                continue
            names = _names_secret(script)
            if names and call.tool == "rg" and "$" in call.values.get("-r", ""):
                return VALUES  # what rg prints is its replacement: the capture
            selected |= names
            after = "-A" in call.values or "-C" in call.values
            following |= names and after and not only_matching
        elif call.tool == "sed":
            quiet = call.short("n") or "--quiet" in call.switches or "--silent" in call.switches
            if quiet and _NEXT_LINE.search(script) and _names_secret(script):
                return VALUES
            substitute = _SED_SUBSTITUTE.search(script)
            if substitute is None:
                continue
            printed = quiet and "p" in substitute.group(3)
            if printed and _names_secret(script[: substitute.start(2)]):
                return VALUES
            projected = True
        elif call.tool == "awk":
            if "-f" in call.values:
                continue
            if _NEXT_LINE.search(script) and _names_secret(script):
                return VALUES
            if _AWK_FIELD.search(script) is None:
                continue
            if _names_secret(script) or _names_secret(call.values.get("-F", "")):
                return VALUES  # ``-F'password='``: the field after the key is its value
            projected = True
        elif call.tool == "perl":
            script = call.values.get("-E") or script
            if call.short("n") and not call.short("pi") and _PERL_CAPTURE.search(script):
                if _names_secret(script):
                    return VALUES
                projected = True
            elif call.short("p") and not call.short("i"):
                projected |= _SED_SUBSTITUTE.search(script) is not None
        elif call.tool == "jq":
            operands = call.operands
            if operands and operands[0] in _YQ_COMMANDS:
                operands = operands[1:]
            if "-f" not in call.values and operands and _filter_prints_secret(operands[0]):
                return VALUES
        elif call.tool == "gh":
            if _filter_prints_secret(call.values.get("-q", "")):
                return VALUES
        else:
            field = call.values.get("-f", "")
            characters = call.values.get("-c") or call.values.get("-b") or ""
            projected |= (
                field[:1] in _LATER_FIELDS or _LATER_CHARACTERS.match(characters) is not None
            )
    if projected and (selected or (whole and not narrowed)):
        return VALUES
    return FOLLOWING if following else 0
