"""Where in a text a rule can find anything: anchors found in one pass, and the lines around them.

Every rule needs an anchor on its line or just above it: a keyword (``pass``, ``token``,
``cookie``), a tool's name, ``://``, a vendor prefix, a key followed by a long token-like
value, a ``.pgpass`` line, ... (``LITERALS`` and ``PATTERNS``, the one list). A long output is
searched for all of them at once, and only the lines that hold one (with the line before, two
after, and any run of deeper-indented or key-material lines below them: a YAML value nested
under its key, INI continuation lines, a PEM or PuTTY key body) are read by the rules. Output
without an anchor costs one scan.

The scan uses Hyperscan when the ``fast`` extra is installed (``pip install
'autobot-activity-otel[fast]'``, multi-pattern matching in one pass, as Nosey Parker does);
otherwise the same anchors are found with ``str.find`` and ``re``. Both give the same set of
lines, so the same redactions (a test checks both paths on the whole corpus); only the time
differs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

LITERALS: tuple[str, ...] = (
    # names that say secret, and their misspellings
    "pass", "pw", "pswd", "secret", "sekrit", "sekret", "secrit", "secert", "scret", "token",
    "tokn", "key", "auth", "cred", "bearer", "sig=", "signature", "identified", "kennwort",
    "contrase", "senha", "mdp", "cookie", "sess", "sid=", "code=", "code:", "state=", "ticket",
    "otp", "code is",
    # tools whose secret flags carry no keyword (-p, -a, -w, -u user,pw), Windows and encoders
    "sql", "mariadb", "login", "-cli", "smb", "rpcclient", "winrm", "openssl", "curl", "ldap",
    "mongo", "rabbitmq", "sudo", "doas", "lftp", "ncftp", "ssh-keygen", "crackmapexec", "nxc ",
    "netexec", "bcp ", "mc alias", "mcli alias", "keytool", "jarsigner", "net use", "psexec",
    "base64", "base32", "basenc", "xxd", "hexdump", "data-file", "from-file", "/dev/stdin",
    "md5sum", "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "shasum", "b2sum",
    "cksum", "http -a", "https -a", "xh -a", "ab -a", "/p:", "/p=", "/pw:", "/pw=", "/pwd:",
    "/pwd=", "/rp:", "/rp=", "pin:", "pin ", "pin=",
    # commands and prompts that print a secret on the next line
    "printenv", "urandom", "pwgen", "-field", "jsonpath",
    # URLs, key blocks, credential files
    "://", "-----begin", "-----end", "private-lines", "putty", "machine", "\ttrue\t", "\tfalse\t",
    # vendor prefixes (the short or common ones are patterns below)
    "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "hooks.slack.com",
    "k_live_", "k_test_", "aiza", "npm_", "hvs.", "hvb.", "pypi-age", "dckr_pat_", "eyj",
)  # fmt: skip
COMMAND_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(?:akia|asia|abia|acca)[a-z2-7]{16}", r"k(?<=ak)ia[a-z2-7]{16}"),
    ("", r"s(?<=as)ia[a-z2-7]{16}"),
    ("", r"b(?<=ab)ia[a-z2-7]{16}"),
    ("", r"c(?<=acc)a[a-z2-7]{16}"),
    (r"sk-[\w-]{20}", r"k(?<=sk)-[\w-]{20}"),
    (r"hf_[a-z]{34}", r"f(?<=hf)_[a-z]{34}"),
    (r"sg\.[\w-]{16}", r"g(?<=sg)\.[\w-]{16}"),
    (r"s\.[a-z0-9]{24}", r"\.(?<=s\.)[a-z0-9]{24}"),
    (r"\|[ \t]*(?:od|age|gpg)\b", r"\|[ \t]*(?:od|age|gpg)\b"),
    (
        r"\b(?:un)?(?:zip|rar|7z[arz]?)\b|zipcloak",
        r"z(?:(?<=\bz)ip\b|(?<=\bunz)ip\b|(?<=\b7z)[arz]?\b|(?<=\bun7z)[arz]?\b|ipcloak)",
    ),
    ("", r"r(?:(?<=\br)ar\b|(?<=\bunr)ar\b)"),
)
_TOKEN_AFTER_KEY = r"[ \t]{0,3}[\"']?[a-z0-9+/_.=-]{20}"
OUTPUT_PATTERNS: tuple[tuple[str, str], ...] = (
    *COMMAND_PATTERNS,
    (r"[=:>]" + _TOKEN_AFTER_KEY, "=" + _TOKEN_AFTER_KEY),
    ("", ":" + _TOKEN_AFTER_KEY),
    ("", ">" + _TOKEN_AFTER_KEY),
    (
        r"^[^:\s]+:(?:\d{1,5}|\*):[^:\s]+:[^:\s]+:\S",
        r":(?P<pgpass>(?:\d{1,5}|\*):[^:\s]+:[^:\s]+:\S)",
    ),
)
"""Regular expressions in the subset Python's ``re`` (ASCII) and Hyperscan share, matched like
the literals on the ASCII-lower-cased text; no match crosses a line, so a scan that reports
every match and one that reports non-overlapping matches select the same lines. A key with a
long token-like value and a ``.pgpass`` line anchor only in output (configuration files).

Each is given twice: as Hyperscan reads it (blank where the line above covers it), and
*pivoted* for ``re``: starting at its rarest character, the characters before it checked by
a lookbehind. ``re`` then tries a match only where one of a few rare characters stands,
instead of at almost every letter (see ``_pivoted``). The ``.pgpass`` line's start is checked
after the match (``_PGPASS_HEAD``)."""
BEFORE, AFTER, MAX_LINES = 1, 2, 200
"""Lines kept above and below an anchor's line; a continuation run below stops at MAX_LINES."""
_BLOB = re.compile(r"[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*")
"""A line of key material (PEM, PuTTY, base64): continues the block its anchor opened."""

_extra_literals: list[str] = []


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only, so offsets never move (``str.lower`` turns ``İ`` into two)."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


# --- finding anchors ------------------------------------------------------------------------------


_RARITY = "\t\\|~^`{}[]<>$@#&*;?!%qjxzkvbwygf=:p_\"'(),.+mcudh/-lrsnioate0123456789 "
"""Characters from rarest to commonest in what commands print (logs, code, configuration)."""
_PGPASS_HEAD = re.compile(r"[^:\s]+")


def _rank(char: str) -> int:
    at = _RARITY.find(char)
    return len(_RARITY) if at < 0 else at


def _pivoted(literals: Iterable[str], patterns: Iterable[str]) -> str:
    """One alternation for all anchors whose every branch starts with one character, the
    rarest of its literal (the ones before it in a lookbehind): ``re`` then skips in C to the
    next of those few characters and tries a match only there. Patterns come pivoted."""
    patterns = list(patterns)
    groups: dict[str, dict[str, list[str]]] = {}
    for literal, at in _pivots(sorted(set(literals)), patterns).items():
        head = literal[: at + 1]
        groups.setdefault(literal[at], {}).setdefault(head, []).append(literal[at + 1 :])
    branches: list[str] = []
    for pivot, by_head in groups.items():
        alternatives = [
            (f"(?<={re.escape(head)})" if len(head) > 1 else "") + _trie(tails)
            for head, tails in sorted(by_head.items())
        ]
        branches.append(re.escape(pivot) + _group(alternatives))
    branches.extend(patterns)
    merged: dict[str, list[str]] = {}
    for branch in branches:  # one branch per first character (patterns start with one too)
        first = branch[:2] if branch.startswith("\\") else branch[:1]
        merged.setdefault(first, []).append(branch[len(first) :])
    return _group([first + _group(rests) for first, rests in sorted(merged.items())])


def _pivots(literals: list[str], patterns: list[str]) -> dict[str, int]:
    """Where each literal is entered: its rarest character, unless its other characters are
    entered anyway (by a pattern or other literals), whose attempts then cost nothing new. A
    character is given up, commonest first, when every literal entered at it can be entered
    at another: ``re`` then stops at fewer characters (``mc alias`` at ``c``, not ``m``)."""
    pivot = {
        literal: min(range(len(literal)), key=lambda index: (_rank(literal[index]), index))
        for literal in literals
    }
    fixed = {p[1] if p.startswith("\\") else p[0] for p in patterns}
    changed = True
    while changed:
        changed = False
        entered = fixed | {literal[at] for literal, at in pivot.items()}
        for char in sorted(entered - fixed, key=_rank, reverse=True):
            users = [literal for literal, at in pivot.items() if literal[at] == char]
            others = entered - {char}
            if all(any(c in others for c in literal) for literal in users):
                for literal in users:
                    pivot[literal] = min(
                        (i for i, c in enumerate(literal) if c in others),
                        key=lambda index: (_rank(literal[index]), index),
                    )
                changed = True
                break
    return pivot


def _group(alternatives: list[str]) -> str:
    if len(alternatives) == 1:
        return alternatives[0]
    return "(?:" + "|".join(alternatives) + ")"


def _trie(words: Iterable[str]) -> str:
    """One alternation for many literals, shared prefixes merged (sre tries one branch per
    character instead of one per literal)."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + render(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return render(root)


class _Anchors:
    """One set of anchors (literals and patterns), searched with ``re`` or with Hyperscan."""

    def __init__(self, patterns: tuple[tuple[str, str], ...]) -> None:
        self.patterns = patterns
        self.compile()

    def compile(self) -> None:
        literals = sorted({*LITERALS, *_extra_literals})
        pivoted = _pivoted(literals, [python for _, python in self.patterns])
        self.python = re.compile(pivoted, re.ASCII)
        self.database: Any = None
        if _hyperscan is not None:
            expressions = [re.escape(literal).encode() for literal in literals]
            expressions += [plain.encode() for plain, _ in self.patterns if plain]
            database = _hyperscan.Database()
            database.compile(
                expressions=expressions,
                ids=list(range(len(expressions))),
                elements=len(expressions),
                flags=_hyperscan.HS_FLAG_CASELESS | _hyperscan.HS_FLAG_MULTILINE,
            )
            self.database = database
        self._local = threading.local()

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _hyperscan.Scratch(self.database)
        return scratch

    def ends(self, text: str, lowered: str) -> list[int]:
        """End offsets of anchors: every one (Hyperscan), or enough to select every line
        holding one (``re``, non-overlapping)."""
        if _use_hyperscan and self.database is not None:
            ends: list[int] = []
            add = ends.append
            data = text.encode("ascii", "replace")  # one byte per character: offsets agree
            self.database.scan(data, lambda *hit: add(hit[2]), scratch=self._scratch())
            return ends
        found: list[int] = []
        position = 0
        while (match := self.python.search(lowered, position)) is not None:
            if match.lastgroup is None or _pgpass_line(lowered, match.start()):
                found.append(match.end())
                position = match.end()
                continue
            stop = lowered.find("\n", match.start())
            stop = len(lowered) if stop < 0 else stop
            found.extend(self._rest_of_line(lowered, match.start() + 1, stop))
            position = stop  # the line is selected or holds no other anchor
        return found

    def _rest_of_line(self, lowered: str, start: int, stop: int) -> list[int]:
        """The end of an anchor after a ``.pgpass``-like tail that is not at its line's first
        colon (another anchor it overlaps may select the line), if any: a tail after it is
        past that colon too. Once per line: each tail read the rest of its line again, and
        the line up to it, a cubic cost (8 KB of ``:1:b:c:d`` after a long word took 18 s)."""
        while (match := self.python.search(lowered, start, stop)) is not None:
            if match.lastgroup is None:
                return [match.end()]
            start = match.start() + 1
        return []

    def any(self, text: str, lowered: str) -> bool:
        if _use_hyperscan and self.database is not None:
            try:
                data = text.encode("ascii", "replace")
                self.database.scan(data, _stop, scratch=self._scratch())
            except _hyperscan.ScanTerminated:
                return True
            return False
        match = self.python.search(lowered)
        if match is None:
            return False
        return match.lastgroup is None or bool(self.ends(text, lowered))


def _pgpass_line(lowered: str, colon: int) -> bool:
    """Whether the colon a ``.pgpass`` anchor starts at is its line's first, after a host."""
    start = lowered.rfind("\n", 0, colon) + 1
    return _PGPASS_HEAD.fullmatch(lowered, start, colon) is not None


def _stop(*hit: object) -> bool:
    return True  # a true return ends Hyperscan's scan at the first match


def _load_hyperscan() -> Any:
    try:
        import hyperscan  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # the optional ``fast`` extra is not installed
        return None
    return hyperscan


_hyperscan = _load_hyperscan()
_use_hyperscan = _hyperscan is not None
_OUTPUT = _Anchors(OUTPUT_PATTERNS)
_COMMAND = _Anchors(COMMAND_PATTERNS)


def add_literals(literals: Iterable[str]) -> None:
    """Anchor user rules too (``engine.add_rule``): their keywords become literals here."""
    _extra_literals.extend(literal.lower() for literal in literals)
    _OUTPUT.compile()
    _COMMAND.compile()


def use_hyperscan(enabled: bool) -> bool:
    """Choose the scan (for tests and benchmarks); returns whether Hyperscan is in use."""
    global _use_hyperscan
    _use_hyperscan = enabled and _hyperscan is not None
    return _use_hyperscan


def anchor_ends(text: str, lowered: str) -> list[int]:
    """The end offsets of anchors in output or text (in any order, repeats allowed)."""
    return _OUTPUT.ends(text, lowered)


def has_anchor(text: str, lowered: str) -> bool:
    """Whether a command holds any anchor: it is then read whole."""
    return _COMMAND.any(text, lowered)


# --- regions ------------------------------------------------------------------------------------


def regions(text: str, ends: Sequence[int]) -> list[tuple[int, int]]:
    """The merged spans of lines the rules must read: each anchor's line with its context."""
    spans: list[tuple[int, int]] = []
    for end in sorted(set(ends)):
        at = max(end - 1, 0)
        if spans and at < spans[-1][1]:
            continue  # already inside the last region
        start = text.rfind("\n", 0, at) + 1
        for _ in range(BEFORE):
            if start == 0:
                break
            start = text.rfind("\n", 0, start - 1) + 1
        stop = _extend(text, start_of_line=text.rfind("\n", 0, at) + 1, at=at)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(stop, spans[-1][1]))
        else:
            spans.append((start, stop))
    return spans


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _extend(text: str, start_of_line: int, at: int) -> int:
    """The end of the anchor's line, ``AFTER`` lines, and any continuation below it."""
    stop = text.find("\n", at)
    if stop < 0:
        return len(text)
    depth = _indent(text[start_of_line:stop])
    extra = 0
    for _ in range(MAX_LINES):
        if stop >= len(text):
            break
        following = text.find("\n", stop + 1)
        following = len(text) if following < 0 else following
        line = text[stop + 1 : following]
        if line.strip() and (_indent(line) > depth or _BLOB.fullmatch(line)):
            stop = following  # a nested value, a continuation line, key material
        elif extra < AFTER:
            stop = following
            extra += 1
        else:
            break
    return stop
