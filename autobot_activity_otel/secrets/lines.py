"""Rules that read lines together: a value on the line after its label, configuration files.

What an agent sees in a terminal puts a secret's name and its value on different lines: a
prompt or label and the bare value under it (``printenv DB_PASSWORD``, "Your new API key
is:", ``vault read -field=...``), a YAML value nested under a secret-named key, INI
continuation lines, ``name: DB_PASSWORD`` with its ``value:`` beside it, XML elements named
like secrets, a PuTTY key's private lines, a browser's cookie file. A long high-entropy value
under a key that names nothing (``STRIPE=...``) is caught by its shape; checksums, integrity
hashes, ETags, commit hashes and UUIDs are not that shape.

A command that prints values alone (``grep -oP '(?<=password=).*'``, a template printing
``{{.data.password}}``) has every line of its output read: see ``extractions``.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections.abc import Iterator

from autobot_activity_otel.secrets.extractions import FOLLOWING, VALUES, prints_values
from autobot_activity_otel.secrets.rules import (
    ASSIGNMENT,
    WORDY,
    Candidate,
    entropy,
    is_plain_value,
    is_reference,
    key_shaped,
    looks_like_code,
    mixed_case_digits,
    on_rules_changed,
    password_like,
    secret_name,
)
from autobot_activity_otel.secrets.tools import word_set

# --- a label, then the value on a line of its own -------------------------------------------------

_PROMPT = re.compile(r"[ \t]*(?:[\w.@~:/()\[\]-]{0,80}[$#%>][ \t]+)?")
"""A shell prompt before a command (``user@host:~$ ``, ``# ``, ``> ``)."""
_BARE_PROMPT = re.compile(r"[$#]|[\w.-]{1,64}@[\w.-]{1,64}:[^\s$#]{0,200}[$#]")
"""A prompt with no command after it (``$``, ``deploy@web1:~$``): where a transcript's
command printed nothing, not a value."""
_LABEL_SUFFIX = r"[ \t]*+(?:\([^()\n]{0,40}\))?[ \t]*+(?i:is|are|was)?[ \t]*+[:=]?[ \t]*+\Z"
"""What may follow a label's name to the end of the line (``(again)``, ``is``, ``:``). Blank
runs are possessive (``*+``), here and in the other patterns below where what follows a run
cannot start with a blank: giving one back never makes a match, and trying every split of a
run between adjacent runs is cubic here (``x``, 290 blanks, ``s``: 6 s a line)."""
_LABEL = re.compile(
    r"(?i:\b(?:api[ _-]?keys?|access[ _-]?keys?|secret[ _-]?keys?|private[ _-]?keys?"
    r"|client[ _-]?secrets?|passwords?|passphrases?|passcodes?|pins?|otp|tokens?|secrets?"
    r"|credentials?|recovery[ _-]?codes?|one-time[ _-]?codes?)"
    r"|([A-Za-z_][\w.-]{1,80}))" + _LABEL_SUFFIX
)
"""A line ending with a secret's name, as a label or a prompt says it (``Your new API key
is:``, ``Password (again):``, ``printenv DB_PASSWORD``, ``echo $API_TOKEN``)."""
_PRINTER = re.compile(
    r"(?i:(?:sudo[ \t]+)?(?:printenv|echo|printf|vault|kubectl|oc|gcloud|aws|az|op|pass|gopass"
    r"|bw|lpass|security|secret-tool|keyring|doppler|heroku|terraform|openssl|pwgen|head|cat"
    r"|sops|chamber|credstash|consul|etcdctl|base64|tr|gpg|gpg2|age|ansible-vault)\b)"
)
_PRINTS_SECRET = re.compile(
    r"(?i:secret|passw|passphrase|token|apikey|api[_-]key|credential|-field|jsonpath|decrypt"
    r"|\brand\b|urandom|pwgen|private|\b(?:go)?pass[ \t]+show\b|\bgopass[ \t]+cat\b)"
)
"""What says a printer's output is a secret: a secret's name, a field, a generator, a password
store's read (``pass show``: the password is its first line), a decryption (``aws ssm
get-parameter --with-decryption``, ``gpg -d secrets.gpg``)."""
_GENERATOR = re.compile(r"(?i:\brand\b|urandom|pwgen|gen-?pass|mkpasswd)")
_GENERATOR_CALL = re.compile(
    r"\b(?:secrets\.token_(?:hex|urlsafe|bytes)|os\.urandom|randomBytes|getRandomValues"
    r"|SecureRandom|random_bytes|openssl_random_pseudo_bytes)\b"
)
"""A language's secret generator in a one-liner (``python3 -c 'import secrets;
print(secrets.token_urlsafe())'``, ``node -e '...randomBytes(24)...'``): it prints the secret
it made, as ``openssl rand`` does; not ``random.randint`` or ``Math.random``."""
_INTERPRETER = re.compile(
    r"(?<![\w./-])(?:(?:python[\d.]{0,4}|node|nodejs|ruby|php|perl|bun)"
    r"(?:[ \t]++[^\s|;&]{1,40}){0,4}?[ \t]++-(?:[A-Za-z]{0,3}[ceprE]|-eval|-print)[ \t]"
    r"|deno[ \t]++eval[ \t]|g?awk[ \t])"
)
"""A language's one-liner (``python3 -c``, ``node -e``, ``ruby -rjson -e``, ``perl -le``,
``php -r``, ``deno eval``, an awk program), not the word in prose (``a node from``)."""
_LOOKUP = re.compile(
    r"[\[({][ \t]*+[\"']?([A-Za-z_][\w.-]{0,80}+)[\"']?[ \t]*+[\])}]"
    r"|\.(?:get_?)?([A-Za-z_]\w{0,80}+)"
)
"""What a one-liner reads by name: a key, an environment variable, an attribute or a getter
(``os.environ["DB_PASSWORD"]``, ``getenv('API_TOKEN')``, ``ENV["X"]``, ``$ENV{X}``, awk's
``ENVIRON["X"]``, ``json.load(f)['password']``, ``process.env.API_TOKEN``,
``keyring.get_password(...)``)."""
_HEX = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_VERSION = re.compile(r"v?\d+(?:[.:-]\d+)+")
_FILE_NAME = re.compile(r"[\w.-]+\.[A-Za-z][A-Za-z0-9]{0,4}")
LABEL_RULE = "labelled-value"
MAX_LABEL_LINE = 300
"""A longer line of output is prose or data, not a label."""
_CLOSERS = "'\"`};& \t\x00\u2400"
"""What may close a command after the name it prints (``echo "$X"``, ``sh -c 'printenv X'``,
``${X}``, ``echo $X;``, ``... &``, a NUL, or the mark ``to_text`` puts for one): the name is
read as if it ended the line (a command's only: in output, ``token;`` ends a line of code).
Not ``)``, which a label's note ends."""


_SUFFIX = re.compile(_LABEL_SUFFIX)
_SUFFIX_CHARS = " \t:=aeirswAEIRSW"
_FOLDED_SUFFIX_CHARS = "\u0130\u0131\u017f"
"""The letters other than ASCII that ``is``/``are``/``was`` match under IGNORECASE (İ ı ſ)."""
_LONGEST_NAME = 81
"""``[A-Za-z_][\\w.-]{1,80}``: the longest name a label ends with (a keyword is shorter)."""
_NAME_RUN = re.compile(rf"[\w.-]{{0,{_LONGEST_NAME + 1}}}")
"""The name characters before a place, read on the reversed text (``[\\w.-]`` as ``_LABEL``
reads it, Unicode letters included), as far as a name can reach and one more."""
_LEAD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
"""``[\\w.-]`` in ASCII: what a name, or a keyword but for its one space, is made of."""
_SPACED_LAST = frozenset({"key", "keys", "secret", "secrets", "code", "codes"})
"""The last words of the keywords that hold a space (``api key``, ``recovery codes``)."""


def _label_start(body: str) -> int:
    """An index of ``body`` before which ``_LABEL`` cannot match (``len(body)`` when it
    matches nowhere), so its search skips the positions that cannot hold a label.

    ``_LABEL.search`` tries every position, each with the name's backtracking: a sixth of an
    ingested terminal row's cost, and milliseconds for a line ending in a long word
    (``token`` then 250 letters: every position of the word was a start, each tried 80
    times). A match ends in ``_SUFFIX`` (blanks, one parenthesis, is/are/was, ``:``/``=``)
    right after a name or keyword of ``[\\w.-]`` (a keyword may hold one space, before its
    last word) of at most ``_LONGEST_NAME`` characters, so it starts no earlier than the run
    of those characters before a place where ``_SUFFIX`` matches, nor that many before it;
    the search from there (``pos`` keeps ``\\b`` reading the character before) finds the
    same leftmost match.
    """
    end = len(body)
    plain = body.isascii()
    earliest = len(body.rstrip(_SUFFIX_CHARS if plain else _SUFFIX_CHARS + _FOLDED_SUFFIX_CHARS))
    if earliest and body[earliest - 1] == ")":  # no suffix can start before ``earliest``
        opening = body.rfind("(", max(0, earliest - 42), earliest - 1)
        if opening >= 0:
            earliest = len(body[:opening].rstrip(" \t"))
    reverse = None if plain else body[::-1]
    start = end
    for suffix in range(max(earliest, 1), end + 1):
        if (plain and body[suffix - 1] not in _LEAD_CHARS) or _SUFFIX.match(body, suffix) is None:
            continue
        lead = _run_start(body, suffix, reverse)
        if lead == suffix:
            continue  # no name before this place
        if lead and body[lead - 1] == " " and body[lead:suffix].lower() in _SPACED_LAST:
            lead = _run_start(body, lead - 1, reverse)  # ``api key``: a keyword's space
        start = min(start, max(lead, suffix - _LONGEST_NAME))
    return start


def _run_start(body: str, at: int, reverse: str | None) -> int:
    """Where the run of name characters that ends at ``at`` starts, or a place further back
    than a name can start. ``reverse``: the body reversed, when it is not ASCII (where
    ``_LEAD_CHARS`` does not say what ``[\\w.-]`` matches)."""
    if reverse is None:
        floor = max(0, at - _LONGEST_NAME - 1)
        return floor + len(body[floor:at].rstrip(_LEAD_CHARS))
    position = len(body) - at
    return at - (_NAME_RUN.match(reverse, position).end() - position)  # type: ignore[union-attr]


def label_kind(line: str) -> int:
    """0: not a label; 1: names a secret; 2: a command that generates one (hex then counts);
    ``VALUES``: a command that prints a secret's values alone, one a line; ``FOLLOWING``: one
    that prints the line after each naming a secret (see ``extractions``)."""
    if len(line) > MAX_LABEL_LINE:
        return 0
    body = line[_PROMPT.match(line).end() :].rstrip()  # type: ignore[union-attr]
    if not body:
        return 0
    printed = prints_values(body)
    if printed:
        return printed
    if _PRINTER.match(body) and _PRINTS_SECRET.search(body):
        return 2 if _GENERATOR.search(body) else 1
    if ("andom" in body or "secrets." in body) and _GENERATOR_CALL.search(body):
        return 2
    if _INTERPRETER.search(body) and _reads_secret(body):
        return 1
    label = _LABEL.search(body, _label_start(body))
    if label is None:
        return 0
    name = label.group(1)
    if name is not None and not secret_name(name):
        return 0
    return 1


def _reads_secret(body: str) -> bool:
    """Whether a language's one-liner reads a secret by its name (``python3 -c 'import os;
    print(os.environ["DB_PASSWORD"])'``, ``ruby -e 'puts ENV["API_TOKEN"]'``): it prints it,
    as ``printenv`` does, or prints what says nothing of it (a length, ``True``)."""
    return any(secret_name(key or attribute) for key, attribute in _LOOKUP.findall(body))


def bare_secret(value: str, generated: bool) -> bool:
    """A line that is one value, shaped like a secret (not a word, path, hash, id or version)."""
    if len(value) < 6 or len(value) > 4096 or is_plain_value(value) or "@" in value:
        return False
    if _UUID.fullmatch(value) or _VERSION.fullmatch(value) or WORDY.fullmatch(value):
        return False
    if _HEX.fullmatch(value):
        return generated and len(value) >= 8  # hex is a hash, unless just generated
    if _FILE_NAME.fullmatch(value) and not key_shaped(value):
        return False
    return key_shaped(value) or (password_like(value) and entropy(value) >= 2.5)


def _value_line(
    text: str, at: int, generated: bool, named: bool = False, spaced: bool = False
) -> Candidate | None:
    """The first non-blank line from ``at`` (at most one blank line between), if bare: shaped
    like a secret, or, ``named`` (the command printed a secret it names), any value; with a
    blank inside only when ``spaced`` (the command printed that secret alone: a passphrase)."""
    for _ in range(3):
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        line = text[at:end]
        value = line.strip()
        if value and len(set(value)) == 1 and value[0] in "-=_*~#":
            value = ""  # an underline under the label
        if value:
            return _bare_value(line, at, generated, named, spaced)
        if end >= len(text):
            return None
        at = end + 1
    return None


def _bare_value(
    line: str, at: int, generated: bool, named: bool, spaced: bool = False
) -> Candidate | None:
    """A line (at ``at`` in its text) that is one value, as ``_value_line`` takes it: no blank
    inside, unless ``spaced`` and the line reads as no message; not a shell's bare prompt."""
    value = line.strip()
    if (" " in value or "\t" in value) and not (spaced and _passphrase(value)):
        return None
    if value[-1] in "$#" and _BARE_PROMPT.fullmatch(value):
        return None
    if not (_printed_secret(value) if named else bare_secret(value, generated)):
        return None
    start = at + line.index(value)
    return Candidate(start, start + len(value), ASSIGNMENT, LABEL_RULE, value)


def _value_lines(text: str, at: int, named: bool, to_end: bool) -> Iterator[Candidate]:
    """Every line from ``at`` that is one value, as a command printing values alone prints
    them (any value when ``named``): to the end when ``to_end`` (the text is the command's
    output; a line that is none, an error message, is passed over), else up to the first line
    that is none (the next prompt of a transcript)."""
    while at < len(text):
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        line = text[at:end]
        if line.strip():
            found = _bare_value(line, at, False, named, spaced=to_end)
            if found is not None:
                yield found
            elif not to_end:
                return
        at = end + 1


_MESSAGE = re.compile(
    r"(?i:\b(?:error|errors|fail|failed|failure|denied|invalid|unable|cannot|can't|could|not"
    r"|no|none|null|nil|unset|empty|usage|warning|missing|unknown|undefined|forbidden"
    r"|unauthorized|unauthorised|expired|exception|traceback|found|exist|exists|such)\b)"
    r"|:[ \t]"
)
"""What a line a secret's printer wrote is when it holds blanks and is no passphrase: an error
or a notice (``No value found at secret/db``, ``jq: error ...``, ``(no password set)``)."""
MAX_PASSPHRASE_WORDS = 12


def _passphrase(value: str) -> bool:
    """A value with blanks that a command printing a secret it names printed (``correct horse
    battery staple 42``): a few words, none saying it is a message instead."""
    return (
        len(value) <= 200
        and len(value.split()) <= MAX_PASSPHRASE_WORDS
        and _MESSAGE.search(value) is None
    )


def _printed_secret(value: str) -> bool:
    """What a command that prints a secret it names (``printenv DB_PASSWORD``, ``vault kv get
    -field=password``) printed: the secret, whatever its shape (a low-entropy password, a
    PIN), unless evidently none (``true``, a variable's name, a path, under 4 characters, an
    IP address: ``awk '/password/ {print $NF}'`` of a log lists the addresses that tried)."""
    return 4 <= len(value) <= 4096 and not is_plain_value(value) and not _ip_address(value)


def _ip_address(value: str) -> bool:
    """An IPv4 or IPv6 address, as a log line's field holds one."""
    if not (value[0].isdigit() or ":" in value):
        return False  # the common case: no parse
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def labelled_candidates(text: str, named: bool = False) -> Iterator[Candidate]:
    """A bare secret-shaped value on the line after a label or prompt that names a secret;
    any value after a command at a shell's ``$`` prompt (a transcript: ``$ printenv
    DB_PASSWORD``, then what it printed) or when ``named`` (a ``grep -A1`` of the secret's
    name printed the text, whose own labels are the ones to read)."""
    position = 0
    while position < len(text):
        end = text.find("\n", position)
        if end < 0:
            return
        line = text[position:end]
        kind = label_kind(line)
        printed = named or (kind != 0 and _at_prompt(line))
        if kind == VALUES:
            yield from _value_lines(text, end + 1, named=printed, to_end=False)
        elif kind == FOLLOWING:
            pass  # its output's own labels are read as labels, the next line under each
        elif kind:
            found = _value_line(text, end + 1, kind == 2, printed)
            if found is not None:
                yield found
        position = end + 1


def _at_prompt(line: str) -> bool:
    """Whether a line is a command typed at a shell's ``$`` prompt (``deploy@web1:~$ ``)."""
    return "$" in _PROMPT.match(line).group()  # type: ignore[union-attr]


def _last_line(context: str) -> str:
    """The end of the last line of a text that is not blank (a command may end in ``\r\n``
    or an indented newline), without ``_CLOSERS``: where a label before the next text
    stands. A long line's last ``MAX_LABEL_LINE`` characters (``cd <long path> && printenv
    DB_PASSWORD``)."""
    return context.rstrip().rsplit("\n", 1)[-1].rstrip(_CLOSERS)[-MAX_LABEL_LINE:]


_last_line_kind = functools.lru_cache(maxsize=1024)(label_kind)
"""``label_kind`` of a text's last line, remembered per line (at most ``MAX_LABEL_LINE``
characters), as the same commands recur; forgotten when names are added."""
on_rules_changed(_last_line_kind.cache_clear)  # ``printenv <name>`` of a name added later


def _context_kind(context: str) -> int:
    """``label_kind`` of the label a text (a command, the other stream) ends with; failing
    that, of the command without its redirections and closing parentheses (``echo $GH_PAT
    2>&1``, ``(printenv DB_PASSWORD)``, ``echo $(cat token)``), where no label's note ends."""
    line = _last_line(context)
    kind = _last_line_kind(line)
    if not kind and (line.endswith(")") or ">" in line or "<" in line):
        bare = _without_redirections(line).rstrip(_CLOSERS + ")")
        kind = _last_line_kind(bare) if bare != line else 0
    return kind


_REDIRECTION = re.compile(r"[0-9]?(?:>>?|<|&>>?)&?[^\s<>]*")
"""A redirection word (``2>&1``, ``>/dev/null``, ``2>``, whose target may be the next word)."""


def _without_redirections(line: str) -> str:
    """A command line without the redirections that end it (``2> /dev/null``, ``>&2``)."""
    words = line.split()
    while len(words) > 1:
        if len(words) > 2 and _REDIRECTION.fullmatch(words[-2]) and words[-2][-1] in "<>&":
            del words[-2:]  # ``2> /dev/null``: the operator, then its target
        elif _REDIRECTION.fullmatch(words[-1]):
            del words[-1]
        else:
            break
    return " ".join(words)


def labels_what_follows(context: str) -> bool:
    """Whether the text before another (a command) ends with a label that makes a bare value
    at the other's start a secret: only then is the other read with it."""
    return _context_kind(context) != 0


def context_candidates(context: str, text: str) -> Iterator[Candidate]:
    """The first line of ``text`` when the text before it (the command that printed it, the
    other stream) ends with a label: ``printenv DB_PASSWORD`` then its output alone."""
    kind = _context_kind(context)
    if kind == VALUES:
        yield from _value_lines(text, 0, named=True, to_end=True)
    elif kind == FOLLOWING:
        yield from labelled_candidates(text, named=True)
    elif kind:
        found = _value_line(text, 0, kind == 2, named=True, spaced=True)
        if found is not None:
            yield found


# --- configuration files ------------------------------------------------------------------------

_KEY_LINE = re.compile(
    r"(?m)^([ \t]*)(?:-[ \t]+)?[\"']?([A-Za-z_][\w.-]{0,80})[\"']?[ \t]*([:=])[ \t]*"
    r"(\|[-+]?|>[-+]?)?[ \t]*([^\n]*)$"
)
_CHILD = re.compile(r"[ \t]*(?:-[ \t]+)?(?:[\"']?[\w.-]{1,80}[\"']?[ \t]*[:=][ \t]*)?(.*)")
NESTED_RULE = "nested-value"
MAX_NESTED = 20


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _nested_value(value: str) -> bool:
    return (
        len(value) >= 4
        and not value.isdigit()
        and value.count(" ") <= 1
        and not is_plain_value(value)
        and not looks_like_code(value)
        and not WORDY.fullmatch(value)
        and not value.endswith(":")
    )


def nested_candidates(text: str) -> Iterator[Candidate]:
    """Values nested under a secret-named key: YAML children and block scalars
    (``password:`` then ``secure: ...``), INI continuation lines (``password =`` then an
    indented value)."""
    for key in _KEY_LINE.finditer(text):
        if not secret_name(key.group(2)):
            continue
        depth = len(key.group(1))
        block = key.group(4) is not None
        position = key.end() + 1
        for _ in range(MAX_NESTED):
            if position >= len(text):
                break
            end = text.find("\n", position)
            end = len(text) if end < 0 else end
            line = text[position:end]
            if line.strip() and _indent(line) <= depth:
                break
            if line.strip():
                content = line if block else line[_CHILD.match(line).start(1) :]  # type: ignore[union-attr]
                value = content.strip().strip("\"'")
                if _nested_value(value) and (block or " " not in value):
                    start = position + line.index(value)
                    yield Candidate(start, start + len(value), ASSIGNMENT, NESTED_RULE, value)
            position = end + 1


_NAME_VALUE = re.compile(
    r"(?i:\b(?:name|key)[\"']?[ \t]*+[:=][ \t]*+)[\"']?([A-Za-z_][\w.-]{1,80})[\"']?[ \t]*+,?"
    r"[ \t]*+(?:\n[ \t]*+)?(?:-[ \t]++)?(?i:[\"']?value[\"']?[ \t]*+[:=][ \t]*+)[\"']?"
    r"([^\"'\s,}<>]{1,1024})"
)
"""``name: DB_PASSWORD`` / ``value: ...`` (Kubernetes env, ECS task definitions) and .NET's
``<add key="ApiKey" value="..."/>``."""
_XML = re.compile(
    r"<((?:[\w-]{1,40}:)?([A-Za-z_][\w.-]{0,80}))(?:[ \t][^<>\n]{0,400})?>([^<\n]{1,4096})</\1>"
)


def element_candidates(text: str) -> Iterator[Candidate]:
    """``<password>...</password>`` (Maven's settings.xml) and name/value pairs."""
    if "<" in text and "</" in text:
        for match in _XML.finditer(text):
            value = match.group(3).strip()
            if secret_name(match.group(2)) and len(value) >= 4 and not is_plain_value(value):
                start = match.start(3) + match.group(3).index(value)
                yield Candidate(start, start + len(value), ASSIGNMENT, "xml-element", value)
    for match in _NAME_VALUE.finditer(text):
        value = match.group(2)
        if secret_name(match.group(1)) and len(value) >= 4 and not is_plain_value(value):
            yield Candidate(match.start(2), match.end(2), ASSIGNMENT, NESTED_RULE, value)


_NEUTRAL = re.compile(
    r"(?m)^[ \t]*+(?:export[ \t]++)?[\"']?([A-Za-z_][\w.-]{0,80})[\"']?[ \t]*+[=:][ \t]*+[\"']?"
    r"([A-Za-z0-9+/_.-]{20,1024}={0,2})[\"']?[ \t]*+,?[ \t]*+$"
    r"|<([A-Za-z_][\w.-]{0,80})>([A-Za-z0-9+/_.-]{20,1024}={0,2})</"
)
_NOT_SECRET_PARTS = word_set(
    """hash checksum digest sha sha1 sha256 sha384 sha512 md5 crc integrity etag commit revision
    rev ref head tree parent version id uuid guid build image resolved tarball url uri path file
    name public pub cert certificate crt ca fingerprint salt nonce iv sri"""
)
_HASH_PREFIX = re.compile(r"(?i:sha\d{1,3}|md5|blake2b?)[-:]")
_KEY_PARTS = re.compile(r"[A-Za-z][a-z]*|\d+")
HIGH_ENTROPY_RULE = "high-entropy-value"


def high_entropy(value: str) -> bool:
    """A long value with the letter, digit and case mix and the entropy of a generated key."""
    return (
        len(value) >= 20
        and mixed_case_digits(value)
        and entropy(value) >= 4.0
        and not _HASH_PREFIX.match(value)
        and not _UUID.search(value)
        and value.count("/") < 3
        and not is_reference(value)
    )


def neutral_candidates(text: str) -> Iterator[Candidate]:
    """A key=value (or ``key: value``, ``<key>value</key>``) line whose key names nothing
    secret but whose value has a generated key's shape (``STRIPE=...``, ``SEKRIT=...``)."""
    for match in _NEUTRAL.finditer(text):
        group = 2 if match.group(2) is not None else 4
        key, value = match.group(group - 1), match.group(group)
        parts = {part.lower() for part in _KEY_PARTS.findall(key)}
        if parts & _NOT_SECRET_PARTS or not high_entropy(value):
            continue
        yield Candidate(match.start(group), match.end(group), ASSIGNMENT, HIGH_ENTROPY_RULE, value)


# --- key files ------------------------------------------------------------------------------------

_PPK_LINES = re.compile(r"(?im)^private-lines:[ \t]*(\d{1,3})[ \t]*\r?$")
_PPK_MAC = re.compile(r"(?im)^private-(?:mac|hash):[ \t]*([0-9a-f]{16,128})[ \t]*\r?$")
_COOKIE_JAR = re.compile(
    r"(?m)^(?:#HttpOnly_)?[^\t\n#]{1,253}\t(?:TRUE|FALSE)\t[^\t\n]{1,1024}\t(?:TRUE|FALSE)\t"
    r"-?\d{1,12}\t[^\t\n]{1,256}\t([^\t\n]{4,4096})\r?$"
)


_NEWLINE = re.compile("\n")


def _after_lines(newlines: list[int], start: int, count: int, size: int) -> int:
    """Where the ``count`` lines from ``start`` (a line's start) end, by the text's
    ``newlines``: looked up, not walked, since each ``Private-Lines`` header (up to 999
    lines) counts again the lines the one before it counted."""
    if count == 0 or start >= size:
        return start
    last = bisect.bisect_left(newlines, start) + count - 1
    return newlines[last] + 1 if last < len(newlines) else size


def key_file_candidates(text: str) -> Iterator[Candidate]:
    """PuTTY ``.ppk`` private lines and MAC; values of a Netscape cookie file (``cookies.txt``)."""
    newlines: list[int] | None = None
    for match in _PPK_LINES.finditer(text):
        start = match.end() + 1
        if newlines is None:
            newlines = [newline.start() for newline in _NEWLINE.finditer(text)]
        stop = _after_lines(newlines, start, int(match.group(1)), len(text))
        body = text[start:stop].rstrip()
        if body:
            yield Candidate(start, start + len(body), ASSIGNMENT, "putty-private-key", body)
    for match in _PPK_MAC.finditer(text):
        yield Candidate(
            match.start(1), match.end(1), ASSIGNMENT, "putty-private-key", match.group(1)
        )
    for match in _COOKIE_JAR.finditer(text):
        value = match.group(1)
        if not is_plain_value(value):
            yield Candidate(match.start(1), match.end(1), ASSIGNMENT, "cookie", value)
