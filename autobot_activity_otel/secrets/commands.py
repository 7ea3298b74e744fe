"""Command-aware rules: tokenise shell text and read each tool's arguments the way the tool does.

Text rules cannot tell ``mysql -pX`` (a password) from ``mkdir -p`` or ``ssh -p 2222``; only the
tool can. ``TOOLS`` is the one table of what each tool's flags mean: which take a password (and
whether the value must be attached, ``-pX``, or may follow, ``-p X``), which take other values
(so a following word is not mistaken for a positional), which are mere switches. A tool's name
anywhere in a segment opens its context (``sudo``, ``env``, ``docker exec db mysql ...`` and
``ps`` listings all work); long flags whose name says secret (``--api-key``) are read for any
command. A value that is a variable reference, a path, ``-`` or a placeholder is not a secret.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from autobot_activity_otel.secrets.rules import (
    COMMAND,
    Candidate,
    is_plain_value,
    secret_name,
    word_set,
)


class Mode(Enum):
    """How a password flag carries its value."""

    ATTACHED = "attached"  # only -pVALUE / --flag=VALUE (mysql: a bare -p prompts)
    VALUE = "value"  # -p VALUE, -pVALUE, --flag VALUE, --flag=VALUE
    AFTER_COLON = "after-colon"  # user:password (curl -u)
    AFTER_PERCENT = "after-percent"  # user%password (smbclient -U)
    LITERAL = "literal"  # key=value (kubectl --from-literal)
    OPENSSL = "openssl"  # pass:value (env:, file:, fd:, stdin are references)


@dataclass(frozen=True, slots=True)
class Tool:
    """What one family of commands does with its arguments."""

    rule: str
    names: frozenset[str]
    flags: Mapping[str, Mode] = field(default_factory=dict)
    value_flags: frozenset[str] = frozenset()
    """Flags taking a value that is not a secret (so it is skipped, not counted positional)."""
    switches: frozenset[str] = frozenset()
    """Long flags that look secret but take no value here (``pg_dump --password`` prompts)."""
    subcommands: frozenset[str] = frozenset()
    """When set, the flags apply only after one of these words (``docker login``)."""
    positional: Mapping[str, int] = field(default_factory=dict)
    """Short switches present -> index of the positional (after the subcommand) that is secret,
    most specific (longest) first."""
    named_values: bool = False
    """``... set NAME VALUE``: VALUE is secret when NAME says so (aws/npm/git config)."""
    stdin_flags: frozenset[str] = frozenset()
    """Flags that read the secret from stdin: ``echo X |`` before them gives X away."""
    wrapper: bool = False
    """Its options end at the first positional: the wrapped command's own flags follow."""
    long_options: bool = False
    """Single-dash words are whole option names (``-passin``), never runs of letters."""


_V, _A = Mode.VALUE, Mode.ATTACHED
TOOLS: tuple[Tool, ...] = (
    Tool(
        "mysql-password",
        word_set(
            "mysql mysqldump mysqladmin mysqlimport mysqlshow mysqlcheck mysqlpump mysqlsh "
            "mysqlslap mariadb mariadb-dump mariadb-admin mariadb-import mariadb-check"
        ),
        flags={"-p": _A, "--password": _V},
        value_flags=word_set("-u -h -P -S -D -e --user --host --port --socket --database"),
    ),
    Tool(
        "sshpass-password",
        word_set("sshpass"),
        flags={"-p": _V},
        value_flags=word_set("-f -d -P"),
        wrapper=True,
    ),
    Tool(
        "registry-password",
        word_set("docker podman buildah skopeo nerdctl helm oras crane regctl finch"),
        flags={"-p": _V, "--password": _V},
        value_flags=word_set("-u --username --authfile"),
        subcommands=word_set("login"),
        stdin_flags=word_set("--password-stdin"),
    ),
    Tool(
        "az-password",
        word_set("az"),
        flags={"-p": _V, "--password": _V},
        value_flags=word_set("-u --username -t --tenant"),
        subcommands=word_set("login"),
    ),
    Tool("az-secret-value", word_set("az"), flags={"--value": _V}, subcommands=word_set("secret")),
    Tool(
        "gh-secret-value",
        word_set("gh"),
        flags={"-b": _V, "--body": _V},
        value_flags=word_set("-R --repo -e --env -o --org -a --app"),
        subcommands=word_set("secret"),
        stdin_flags=word_set("--with-token"),
    ),
    Tool(
        "redis-password",
        word_set("redis-cli keydb-cli valkey-cli"),
        flags={"-a": _V, "--pass": _V},
        value_flags=word_set("-h -p -n -u -s --user"),
    ),
    Tool(
        "htpasswd-password",
        word_set("htpasswd"),
        value_flags=word_set("-C -r"),
        positional={"nb": 1, "b": 2},
    ),
    Tool(
        "smbclient-password",
        word_set("smbclient rpcclient smbget smbcacls smbtree"),
        flags={"-U": Mode.AFTER_PERCENT, "--user": Mode.AFTER_PERCENT, "--password": _V},
        value_flags=word_set("-W -I -p -m -n -c -D -A"),
    ),
    Tool(
        "smb-password",
        word_set("smbmap crackmapexec nxc netexec evil-winrm impacket-psexec"),
        flags={"-p": _V, "--password": _V},
        value_flags=word_set("-u -d -H -P --port"),
    ),
    Tool(
        "openssl-password",
        word_set("openssl"),
        flags={
            "-passin": Mode.OPENSSL,
            "-passout": Mode.OPENSSL,
            "-pass": Mode.OPENSSL,
            "-k": _V,
            "-K": _V,
        },
        value_flags=word_set("-in -out -inkey -key -keyout -config -subj -days -name -certfile"),
        long_options=True,
    ),
    Tool(
        "curl-credentials",
        word_set("curl"),
        flags={
            "-u": Mode.AFTER_COLON,
            "--user": Mode.AFTER_COLON,
            "-U": Mode.AFTER_COLON,
            "--proxy-user": Mode.AFTER_COLON,
            "--oauth2-bearer": _V,
            "--pass": _V,
        },
        value_flags=word_set(
            "-H -d -o -X -A -e -F -T -x -w -b -c -K -m -r -C -Y -y -z --data --data-raw "
            "--data-binary --data-urlencode --header --output --request --user-agent --referer "
            "--form --upload-file --proxy --cookie --cookie-jar --config --max-time --cacert "
            "--cert-type --key --resolve --connect-to --json"
        ),
    ),
    Tool(
        "wget-password",
        word_set("wget"),
        flags={
            "--password": _V,
            "--http-password": _V,
            "--ftp-password": _V,
            "--proxy-password": _V,
        },
        value_flags=word_set("-O -o -P -U -e --user --http-user --ftp-user --header"),
    ),
    Tool(
        "kubernetes-secret",
        word_set("kubectl oc"),
        flags={"--from-literal": Mode.LITERAL, "--docker-password": _V},
        value_flags=word_set("-n --namespace --context -o --docker-username --docker-server"),
        subcommands=word_set("secret"),
    ),
    Tool(
        "ldap-password",
        word_set(
            "ldapsearch ldapadd ldapmodify ldapdelete ldapwhoami ldappasswd ldapmodrdn "
            "ldapcompare ldapexop"
        ),
        flags={"-w": _V},
        value_flags=word_set("-D -H -b -h -p -s -f -y -Y -U -R -o"),
    ),
    Tool(
        "mongodb-password",
        word_set(
            "mongo mongosh mongodump mongorestore mongoexport mongoimport mongostat mongotop "
            "mongofiles"
        ),
        flags={"-p": _V, "--password": _V},
        value_flags=word_set(
            "-u --username -h --host --port -d --db -c --collection --authenticationDatabase"
        ),
    ),
    Tool(
        "sqlcmd-password",
        word_set("sqlcmd bcp osql isql"),
        flags={"-P": _V},
        value_flags=word_set("-S -U -d -Q -q -i -o"),
    ),
    Tool(
        "archive-password",
        word_set("zip unzip zipcloak"),
        flags={"-P": _V, "--password": _V},
        value_flags=word_set("-d -x -i -O -I"),
    ),
    Tool("archive-password", word_set("7z 7za 7zr 7zz rar unrar"), flags={"-p": _A}),
    Tool(
        "keytool-password",
        word_set("keytool jarsigner"),
        flags={
            flag: _V
            for flag in [
                "-storepass",
                "-keypass",
                "-srcstorepass",
                "-deststorepass",
                "-srckeypass",
                "-destkeypass",
                "-new",
            ]
        },
        value_flags=word_set("-alias -keystore -file -dname -keyalg -keysize -validity -storetype"),
        long_options=True,
    ),
    Tool(
        "ssh-keygen-passphrase",
        word_set("ssh-keygen"),
        flags={"-N": _V, "-P": _V},
        value_flags=word_set("-f -t -b -C -O -I -n -V -z -Z -a -E -F -m"),
    ),
    Tool("vault-token", word_set("vault"), subcommands=word_set("login"), positional={"": 0}),
    Tool(
        "rabbitmq-password",
        word_set("rabbitmqctl"),
        subcommands=word_set("add_user change_password"),
        positional={"": 1},
    ),
    Tool(
        "cloud-cli",
        word_set("aws gcloud"),
        value_flags=word_set(
            "--secret --secret-id --project --region --zone --profile --account --query --output"
        ),
    ),
    Tool(
        "config-value",
        word_set("aws npm yarn pnpm"),
        subcommands=word_set("set"),
        named_values=True,
    ),
    Tool("config-value", word_set("git"), subcommands=word_set("config"), named_values=True),
    Tool(
        "nmcli-password",
        word_set("nmcli"),
        named_values=True,
        subcommands=word_set("connect add modify"),
    ),
    Tool(
        "postgres-client",
        word_set(
            "psql pg_dump pg_dumpall pg_restore createdb dropdb createuser dropuser "
            "pg_basebackup vacuumdb reindexdb clusterdb pg_isready"
        ),
        value_flags=word_set("-h -p -U -d -f -c -o -t -n -T -F -j"),
        switches=word_set("--password -W"),
    ),
    Tool(
        "sudo",
        word_set("sudo doas"),
        value_flags=word_set("-u -g -C -D -h -p -r -t -U -T"),
        stdin_flags=word_set("-S --stdin"),
        wrapper=True,
    ),
    Tool(
        "wrapper",
        word_set("env nohup time timeout nice ionice stdbuf exec command xargs watch strace"),
        value_flags=word_set("-u -n -c -s -k -o -I -P -E"),
        wrapper=True,
    ),
    Tool("wrapper", word_set("ssh scp sftp rsync ssh-copy-id"), wrapper=True),
    Tool("passwd-stdin", word_set("passwd"), stdin_flags=word_set("--stdin")),
)


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
_STDIN_SECRET = re.compile(r"--(?:[\w-]*-)?(?:password|passwd|passphrase|token|secret)-stdin")
GENERIC_RULE = "secret-flag"
_FLAG_NAME = re.compile(r"[A-Za-z][\w.-]*")
_ECHO = frozenset({"echo", "printf"})

_TOKEN = re.compile(
    r"(?P<op>\|\||&&|;;|[|;&()\n])"
    r"|(?P<redir>\d{0,3}(?:>>|>&|&>|<<<|<<-?|<&|[<>]))"
    r"|(?:[^\s'\"\\|;&()<>]|\\[^\n]|'[^']*'|\"(?:[^\"\\]|\\[\s\S])*\"|'[^']*\Z|\"[^\"]*\Z)+"
)


@dataclass(slots=True)
class Word:
    """One shell word: its raw text and where it sits in the scanned text."""

    raw: str
    start: int

    @property
    def plain(self) -> bool:
        """No quotes or escapes: the command receives the raw text."""
        raw = self.raw
        return "'" not in raw and '"' not in raw and "\\" not in raw

    def unquote(self) -> tuple[str, list[int]]:
        """The word as the command receives it, and each character's offset in the text."""
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


def _segments(text: str, offset: int) -> Iterator[tuple[str, list[Word], Word | None]]:
    """(operator before, words, here-string) per simple command."""
    if _SHELL_SYNTAX.search(text) is None:  # the common case: plain words, split them fast
        position = 0
        plain: list[Word] = []
        for raw in text.split():
            position = text.index(raw, position)
            plain.append(Word(raw, offset + position))
            position += len(raw)
        yield "", plain, None
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


def _basename(raw: str) -> str:
    return raw.rsplit("/", 1)[-1].strip("'\"")


def command_candidates(text: str, offset: int = 0) -> Iterator[Candidate]:
    """Secrets in the arguments of the commands in ``text`` (offsets shifted by ``offset``)."""
    previous: list[Word] = []
    for before, segment, here in _segments(text, offset):
        reads_stdin = yield from _scan(segment)
        if reads_stdin:
            if before == "|" and previous and _basename(previous[0].raw) in _ECHO:
                args = previous[1:]
                if _basename(previous[0].raw) == "printf" and len(args) > 1:
                    args = args[1:]  # the format
                yield from _echoed(args)
            elif here is not None:
                yield from _echoed([here])
        previous = segment


def _echoed(words: list[Word]) -> Iterator[Candidate]:
    """The arguments of the ``echo``/``printf`` (or here-string) feeding a secret to stdin."""
    for word in words:
        value, where = word.unquote()
        if value.startswith("-") or not where or is_plain_value(value):
            continue
        yield Candidate(where[0], where[-1] + 1, COMMAND, "stdin-secret", value)


class _Context:
    """The tools whose rules apply to the words being read, and what was seen so far."""

    __slots__ = ("active", "family", "positionals", "switches")

    def __init__(self, family: _Family) -> None:
        self.family = family
        self.active: list[Tool] = [tool for tool in family.tools if not tool.subcommands]
        self.positionals: list[Word] = []
        self.switches = ""

    def flag(self, name: str) -> tuple[Tool, Mode] | None:
        for tool in self.active:
            mode = tool.flags.get(name)
            if mode is not None:
                return tool, mode
        return None

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
    """Findings in one simple command; returns whether it reads a secret from stdin."""
    context: _Context | None = None
    reads_stdin = False
    i = 0
    while i < len(words):
        word = _unwrapped_flag(words[i])
        raw = word.raw
        i += 1
        family = _family(raw)
        if family is not None:
            if context is not None and context.family.positional:
                yield from _positional_secrets(context)
            context = _Context(family)
        elif not raw.startswith("-") or raw == "-":
            if raw[0] in "'\"" and " " in raw:  # a quoted command: bash -c '...', ssh host "..."
                inner = raw[1:-1] if len(raw) > 1 and raw[-1] == raw[0] else raw[1:]
                yield from command_candidates(inner, word.start + 1)
            if context is not None and context.family.wrapper:
                context = None  # the wrapped command starts here
            elif context is not None:
                context.positional(word)
        else:
            following = words[i] if i < len(words) else None
            consumed, found, stdin = _flag(word, following, context)
            i += consumed
            reads_stdin = reads_stdin or stdin
            yield from found
    if context is not None and context.family.positional:
        yield from _positional_secrets(context)
    return reads_stdin


def _unwrapped_flag(word: Word) -> Word:
    """A flag quoted whole, as ``shlex.join`` writes ``-pX!``: read as the shell passes it."""
    raw = word.raw
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


def _value(word: Word, skip_raw: int, mode: Mode, rule: str) -> list[Candidate]:
    """The secret part of ``word`` after its first ``skip_raw`` raw characters."""
    where: Sequence[int]
    if word.plain:  # no quoting: characters and offsets are the raw ones
        value = word.raw[skip_raw:]
        where = range(word.start + skip_raw, word.start + len(word.raw))
    else:
        text, offsets = word.unquote()
        prefix = Word(word.raw[:skip_raw], word.start).unquote()[0] if skip_raw else ""
        value, where = text[len(prefix) :], offsets[len(prefix) :]
    cut = 0
    if mode is Mode.AFTER_COLON or mode is Mode.AFTER_PERCENT:
        separator = ":" if mode is Mode.AFTER_COLON else "%"
        cut = value.find(separator) + 1
        if cut == 0:
            return []  # no password given: the tool prompts for it
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


def _positional_secrets(context: _Context) -> Iterator[Candidate]:
    """Secrets given as positional arguments (htpasswd -b, vault login, config set NAME VALUE)."""
    for tool in context.active:
        args = context.positionals
        if tool.subcommands:
            starts = [n for n, w in enumerate(args) if w.raw in tool.subcommands]
            if not starts:
                continue
            args = args[starts[0] + 1 :]
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
