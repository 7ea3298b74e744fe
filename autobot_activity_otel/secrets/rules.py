"""Text rules: vendor token formats, URLs, authorization headers and ``name = value`` assignments.

Every rule is anchored on a literal (a vendor prefix, ``://``, a keyword) that is searched first,
so a text with no anchor costs a few substring tests, and no regex here has nested or unbounded
ambiguous repetition: the work per anchor is bounded, the whole scan linear in the text.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from autobot_activity_otel.secrets.registry import KnownSecret
from autobot_activity_otel.secrets.tools import TOOLS, word_set

# Priorities: when two findings overlap, the lower number keeps the overlapped characters.
KNOWN, VENDOR, COMMAND, URL, AUTHORIZATION, ASSIGNMENT, COSMETIC = range(7)

URL_REDACTED = "REDACTED"
"""What OpenTelemetry's ``url.full`` convention puts in place of credentials and signatures."""
MARKER = re.compile(r"\[REDACTED(?::[A-Za-z0-9._:-]{1,80})?\]|\bREDACTED\b")
"""A marker left by an earlier redaction: never flagged again (redaction is idempotent)."""


class Candidate(NamedTuple):
    """A span to replace. ``value`` is what gets fingerprinted (unquoted); rule ``""`` is cosmetic
    (replaced for readability or convention, not a secret, no finding)."""

    start: int
    end: int
    priority: int
    rule: str
    value: str
    replacement: str | None = None
    secret: KnownSecret | None = None


# --- values -------------------------------------------------------------------------------------

_STOP_WORDS = word_set(
    """true false null none nil yes no on off required optional string str int bool boolean
    undefined unset empty hidden redacted masked secret password passwd token key value flag
    option argument parameter field to or and is are was be not with for the a an in of if
    when from your my this that it as by at here there see below above expired invalid missing
    set provided prompt stdin bytes float dict list any object callable tuple type
    sequence mapping self cls bearer basic digest"""
)
_IDENTIFIER = re.compile(r"[A-Za-z]+(?:_[A-Za-z]+)+")
_PATH_PREFIXES = ("/", "./", "../", "~/", "@", "file:", "env:", "fd:", "\\\\")


_MASK_CHARS = frozenset("*xX.•●#?")
"""A value made of these only is a mask (``****``, ``xxxx``), not a secret."""


def is_reference(value: str) -> bool:
    """A value that names where a secret is instead of being one: variable, path, placeholder."""
    if not value or value in {"-", "--", "stdin"} or value.startswith(_PATH_PREFIXES):
        return True
    first = value[0]
    if first in "$`{" or value.startswith(("[REDACTED", "REDACTED", "<<")):
        return True  # a variable, a command, a template: {{ x }}, {0}, {token}
    if "{" in value and "}" in value:
        return True  # a format string
    if first == "%" and value.endswith("%") and len(value) > 2:
        return True
    if first == "<":
        return True  # a placeholder: <password>, <missing
    return len(value) >= 3 and _MASK_CHARS.issuperset(value)


def is_plain_value(value: str) -> bool:
    """A value that is evidently not a secret: a reference, a word like ``true``, a URL."""
    return is_reference(value) or value.lower() in _STOP_WORDS or "://" in value


def entropy(value: str) -> float:
    """Shannon entropy in bits per character (a tie-breaker, never the only signal)."""
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    size = len(value)
    return -sum(c / size * math.log2(c / size) for c in counts.values())


_CLASSES = (str.islower, str.isupper, str.isdigit)
WORDY = re.compile(r"[a-z]+(?:[-_.][a-z]+)*[-_.]?\d{0,4}|[A-Z]+(?:[-_.][A-Z]+)*[-_.]?\d{0,4}")
"""Words of one case joined by ``-``, ``_`` or ``.``, perhaps numbered: a name
(``release-notes-2``, ``JENKINS_CI_01``), where a password mixes case (``Nested-Pw-88``)."""


def password_like(value: str) -> bool:
    """Reads as a password rather than a word: 6+ characters without blanks, not a name,
    mixing at least two of lower case, upper case, digits and symbols."""
    if len(value) < 6 or len(value) > 512 or not value.isprintable() or " " in value:
        return False
    if is_plain_value(value) or WORDY.fullmatch(value) or value.isdigit():
        return False
    kinds = sum(any(test(c) for c in value) for test in _CLASSES)
    kinds += any(not c.isalnum() for c in value)
    return kinds >= 2


def key_shaped(value: str) -> bool:
    """Looks like a generated key: long, letters and digits, high entropy."""
    return (
        len(value) >= 16
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and entropy(value) >= 3.0
    )


# --- names --------------------------------------------------------------------------------------

_NAME_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_SECRET_LAST = word_set(
    """password passwd pwd pass passphrase passcode pw secret token apikey credential
    credentials"""
)
_SECRET_SUFFIXES = ("password", "passwd", "token", "secret", "apikey", "secretkey", "privatekey")
_KEY_QUALIFIERS = word_set(
    """api secret access private signing encryption master client auth session license app
    account service ssh gpg jwt hmac webhook shared storage encrypt cipher crypt aes sas"""
)
_AUTH_QUALIFIERS = word_set("basic http https proxy api bearer digest")
_TRAILING_NOISE = word_set("value b64 base64 hex str string text data raw plain base")
_NOT_SECRET_FIRST = word_set(
    """no ask prompt show reset forgot change generate rotate require requires use skip with
    without has is allow enable disable expose hide save store min max list get delete remove
    export import describe fetch revoke"""
)
"""A first word that makes the name an action or a setting about secrets, not one."""


SECRET_VARIABLES = frozenset(name for tool in TOOLS for name in tool.env)
"""Variables a tool reads its secret from (``SSHPASS``, ``REDISCLI_AUTH``): always secret."""
_SECRET_PREFIXES = ("OP_SESSION_",)
_EXACT_SECRET_NAMES = word_set("_auth _password pat gh_pat github_pat cr_pat")
_MISSPELLINGS = word_set(
    """sekrit sekret secrit secert scret pasword passwrd paswd pswd pwrd passwort kennwort
    contrasena senha motdepasse mdp tokn"""
)
"""Spellings people use for a secret's name: a key named so holds one all the same."""
_extra_names: set[str] = set()
_rule_listeners: list[Callable[[], None]] = []


def on_rules_changed(listener: Callable[[], None]) -> None:
    """Have ``listener`` called each time rules are added at run time (``add_secret_names``,
    ``add_rule``): for whoever remembers verdicts, which the new rules may overturn (the
    labels remembered per command, the recording's memo of clean texts)."""
    _rule_listeners.append(listener)


def rules_changed() -> None:
    """Tell every ``on_rules_changed`` listener that the rules are not what they were."""
    for listener in _rule_listeners:
        listener()


def add_secret_names(*names: str) -> None:
    """Treat variables and keys with these exact names (case-insensitive) as secrets; the
    names also anchor the rules (a text holding one is read)."""
    global KEYWORDS
    from autobot_activity_otel.secrets import prefilter

    _extra_names.update(name.lower() for name in names)
    extra = "|".join(re.escape(name) for name in sorted(_extra_names, key=len, reverse=True))
    KEYWORDS = re.compile(f"{_KEYWORDS}|{extra}")
    prefilter.add_literals(names)
    rules_changed()


def names_added_in(lowered: str) -> bool:
    """Whether a lower-cased text holds a name given to ``add_secret_names``."""
    return any(name in lowered for name in _extra_names)


def secret_name(name: str) -> bool:
    """Whether a variable, key, header or flag name says its value is a secret."""
    upper = name.upper()
    if upper in SECRET_VARIABLES or upper.startswith(_SECRET_PREFIXES):
        return True
    lowered = name.lower()
    if lowered in _EXACT_SECRET_NAMES or lowered in _extra_names:
        return True
    parts = [part.lower() for part in _NAME_PARTS.findall(name)]
    if parts and parts[-1] in _MISSPELLINGS and parts[0] not in _NOT_SECRET_FIRST:
        return len(parts) > 1 or len(parts[-1]) > 4 or name.isupper()
    if not parts or parts[0] in _NOT_SECRET_FIRST:
        return False
    while len(parts) > 1 and parts[-1] in _TRAILING_NOISE and "." not in name:
        parts.pop()  # SECRET_KEY_BASE, api_key_value (but not Token.String, an attribute)
    last = parts[-1]
    if last in _SECRET_LAST or last.endswith(_SECRET_SUFFIXES):
        return len(parts) > 1 or len(last) > 4 or name.isupper()  # ``pass:``, ``pw =``: prose, code
    if last in {"key", "keys"}:
        return any(part in _KEY_QUALIFIERS for part in parts[:-1])
    if last == "auth":  # BASIC_AUTH=user:pass, but not LOG_AUTH or auth=None
        return len(parts) > 1 and parts[-2] in _AUTH_QUALIFIERS
    return last == "id" and "secret_id" in name.lower()  # Vault AppRole; AWS --secret-id names


# --- vendor formats -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VendorRule:
    """A token format; ``prefixes`` are the literals without which the regex is not run."""

    name: str
    prefixes: tuple[str, ...]
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None
    finder: Callable[[re.Pattern[str], str], Iterator[re.Match[str]]] | None = None
    """Finds the pattern's matches where ``finditer`` would cost too much (same matches)."""


def mixed_case_digits(value: str) -> bool:
    return (
        any(c.isdigit() for c in value)
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
    )


_JWT_HEAD = re.compile(r"\beyJ")
_JWT_SEGMENT = re.compile(r"[\w-]*+")
_JWT_FIRST = 4096
"""The longest first segment ``VENDOR_RULES``' jwt pattern takes (``[\\w-]{8,4096}``)."""


def _jwt_matches(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` for the jwt pattern, where a failed start skips the others
    that must fail too. Every ``eyJ`` at a word's edge is a start, and a start reads its
    first segment to the ``.`` (or 4,096 characters): 64 KB of ``-eyJ`` took 1 s. Starts in
    one segment share its end and all that follows it, so when one fails the next that can
    match is where the segment is short enough, if ``.eyJ`` ends it, else past its end."""
    position = 0
    while (head := _JWT_HEAD.search(text, position)) is not None:
        start = head.start()
        match = pattern.match(text, start)
        if match is not None:
            yield match
            position = match.end()
            continue
        end = _JWT_SEGMENT.match(text, head.end()).end()  # type: ignore[union-attr]
        too_long = end - head.end() > _JWT_FIRST and text.startswith(".eyJ", end)
        position = max(start + 1, end - _JWT_FIRST - 3) if too_long else end


VENDOR_RULES: tuple[VendorRule, ...] = (
    VendorRule(
        "aws-access-key-id",
        ("AKIA", "ASIA", "ABIA", "ACCA"),
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b"),
    ),
    VendorRule(
        "github-token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_\w{22,240})\b"),
    ),
    VendorRule("gitlab-token", ("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_-]{20,80}")),
    VendorRule("slack-token", ("xox",), re.compile(r"\bxox[abprse]-[A-Za-z0-9-]{10,250}")),
    VendorRule(
        "slack-webhook",
        ("hooks.slack.com",),
        re.compile(r"(?<=hooks\.slack\.com/services/)T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/\w{16,40}"),
    ),
    VendorRule(
        "stripe-key", ("k_live_", "k_test_"), re.compile(r"\b[rs]k_(?:live|test)_\w{16,247}")
    ),
    VendorRule("google-api-key", ("AIza",), re.compile(r"\bAIza[\w-]{35}(?![\w-])")),
    VendorRule("anthropic-key", ("sk-ant-",), re.compile(r"\bsk-ant-[\w-]{20,200}")),
    VendorRule(
        "openai-key",
        ("sk-",),
        re.compile(r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[\w-]{20,200}"),
        lambda value: mixed_case_digits(value) or entropy(value) >= 4.0,
    ),
    VendorRule("npm-token", ("npm_",), re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    VendorRule("vault-token", ("hvs.", "hvb."), re.compile(r"\bhv[sb]\.[\w-]{24,300}")),
    VendorRule(
        "vault-token",
        ("s.",),
        re.compile(r"(?<![\w.-])s\.[A-Za-z0-9]{24}(?![\w.-])"),  # legacy; literal-led: fast
        mixed_case_digits,
    ),
    VendorRule("pypi-token", ("pypi-AgE",), re.compile(r"\bpypi-AgE[\w-]{50,300}")),
    VendorRule("docker-hub-token", ("dckr_pat_",), re.compile(r"\bdckr_pat_[\w-]{20,100}")),
    VendorRule("huggingface-token", ("hf_",), re.compile(r"\bhf_[A-Za-z]{34}\b")),
    VendorRule("sendgrid-key", ("SG.",), re.compile(r"\bSG\.[\w-]{16,32}\.[\w-]{16,64}")),
    VendorRule(
        "jwt",
        ("eyJ",),
        re.compile(r"\beyJ[\w-]{8,4096}\.eyJ[\w-]{8,8192}\.[\w-]{0,4096}"),
        finder=_jwt_matches,
    ),
    VendorRule(
        "aws-secret-access-key",
        ("aws", "AWS", "Aws"),
        re.compile(
            r"(?i:aws)\w{0,20}(?i:secret)\w{0,20}[\"']?\s{0,3}[:=]{1,2}\s{0,3}[\"']?"
            r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
    ),
)

_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9]+ ){0,4}PRIVATE KEY( BLOCK)?-----")


_PREFIXES = tuple((prefix, rule) for rule in VENDOR_RULES for prefix in rule.prefixes)


def vendor_candidates(text: str) -> Iterator[Candidate]:
    """Vendor token formats, each regex run only when one of its prefixes is in the text."""
    present = [rule for prefix, rule in _PREFIXES if prefix in text]
    for rule in dict.fromkeys(present):
        matches = (
            rule.pattern.finditer(text) if rule.finder is None else rule.finder(rule.pattern, text)
        )
        for match in matches:
            group = 1 if rule.pattern.groups else 0
            value = match.group(group)
            if rule.check is None or rule.check(value):
                yield Candidate(match.start(group), match.end(group), VENDOR, rule.name, value)
    position = text.find("-----BEGIN")
    while position >= 0:
        begin = _PEM_BEGIN.search(text, position)
        if begin is None:
            return
        end = text.find("-----END", begin.end())
        end = len(text) if end < 0 else end  # a cut-off block: redact to the end
        body = text[begin.end() : end]
        start = begin.end() + len(body) - len(body.lstrip())
        stop = end - (len(body) - len(body.rstrip()))
        if stop > start:
            yield Candidate(start, stop, VENDOR, "private-key", body.strip())
        position = text.find("-----BEGIN", end)


# --- URLs ---------------------------------------------------------------------------------------

_USERINFO = re.compile(r"://([^\s/?#@:'\"<>\[\]]{0,256}):([^\s/?#'\"<>]{1,1024})@")
_USER_TOKEN = re.compile(r"://([^\s/?#@:'\"<>\[\]%]{16,256})(?=[:@])")
"""A token as the user of a URL (``https://<token>@host/repo``; git over HTTPS takes either)."""
_QUERY = re.compile(r"[?&#;]([\w.-]{1,64})=([^?&#;\s'\"<>]{1,4096})")
_QUERY_NAMES = word_set(
    """token access_token refresh_token id_token auth_token api_key apikey api-key password
    passwd pwd pass secret client_secret sig signature x-amz-signature x-amz-credential
    x-amz-security-token x-goog-signature x-goog-credential awsaccesskeyid private_token
    session_token oauth_token oauth_verifier client_assertion assertion samlresponse
    jsessionid phpsessid aspsessionid connect.sid"""
)
_WEAK_QUERY_NAMES = word_set("code session sessionid session_id sid state ticket otp auth")
"""Session and OAuth parameters whose names are ordinary words: a secret only when the value
is token-like (``?code=4/0AX4..`` yes, ``?code=python`` no)."""
_WEAK_LAST = ("code", "session", "ticket", "sid")
_QUERY_SUFFIXES = ("token", "secret", "password", "passwd", "apikey", "api_key", "signature")
"""A parameter so named is a secret whatever its first word (``reset_token``, ``x_signature``)."""


def weak_secret_value(value: str) -> bool:
    """A value under a session-like name that reads as a token: 6+ characters, not a word."""
    return len(value) >= 6 and not is_reference(value) and not WORDY.fullmatch(value)


def _weak_name(lowered: str) -> bool:
    if lowered in _WEAK_QUERY_NAMES:
        return True
    last = re.split(r"[_.-]", lowered)[-1]
    return last in _WEAK_LAST and last != lowered


_CAPABILITY_PATH = re.compile(
    r"/(?i:(?:password[-_]?)?reset(?:[-_]password)?|forgot[-_]password|recover(?:y)?"
    r"|invit(?:e|ation)s?|magic(?:[-_]link)?|login[-_]link|verify(?:[-_]email)?|confirm"
    r"|activat(?:e|ion)|tokens?)/([^/?#;\s'\"<>]{16,512})(?=[/?#;\s'\"<>]|\Z)"
)
"""A one-time credential as a path segment: the key-shaped segment after ``/reset/``,
``/invite/``, ``/magic-link/``, ``/verify-email/``, ``/activate/`` or ``/token/`` (a
password-reset or sign-in link works for whoever holds it)."""


def url_candidates(text: str, kind: str) -> Iterator[Candidate]:
    """Userinfo passwords, secret query/fragment parameters and one-time credentials in a
    path, replaced by ``REDACTED``."""
    if "://" in text:
        for match in _USERINFO.finditer(text):
            password = match.group(2)
            if not is_plain_value(password):
                yield Candidate(
                    match.start(2), match.end(2), URL, "url-password", password, URL_REDACTED
                )
                user = match.group(1)
                if kind == "url" and user and user != URL_REDACTED and not token_user(user):
                    yield Candidate(match.start(1), match.end(1), COSMETIC, "", user, URL_REDACTED)
        for match in _USER_TOKEN.finditer(text):
            user = match.group(1)
            if token_user(user):
                yield Candidate(
                    match.start(1), match.end(1), URL, "url-user-token", user, URL_REDACTED
                )
        for match in _CAPABILITY_PATH.finditer(text):
            segment = match.group(1)
            if key_shaped(segment) and not is_reference(segment) and not _has_word(segment):
                yield Candidate(
                    match.start(1), match.end(1), URL, "url-path-token", segment, URL_REDACTED
                )
    if "=" in text:
        for match in _QUERY.finditer(text):
            name, value = match.group(1), match.group(2)
            lowered = name.lower()
            if lowered == "key":
                secret = key_shaped(value)
            elif lowered in _QUERY_NAMES or secret_name(name) or lowered.endswith(_QUERY_SUFFIXES):
                secret = True
            else:
                secret = _weak_name(lowered) and weak_secret_value(value)
            if secret and not is_reference(value) and value.lower() not in _STOP_WORDS:
                yield Candidate(match.start(2), match.end(2), URL, "url-query", value, URL_REDACTED)


def _has_word(segment: str) -> bool:
    """Whether a path segment holds a word of four letters or more between its separators: an
    id someone named (``order-20241201-42``), not a generated token."""
    return any(
        len(part) >= 4 and part.isalpha() and (part.islower() or part.isupper())
        for part in _SEGMENT_PARTS.split(segment)
    )


_SEGMENT_PARTS = re.compile(r"[-_.~]")


def token_user(user: str) -> bool:
    """A URL's user name that is a token, not a name (``jenkins-ci-robot-01`` is a name)."""
    return key_shaped(user) and not WORDY.fullmatch(user) and "@" not in user


# --- cookies --------------------------------------------------------------------------------------

_COOKIE_HEADER = re.compile(r"(?i:\b(set-cookie|cookie)[ \t]{0,4}:[ \t]{0,8})([^\r\n'\"`]{1,8192})")
_COOKIE_PAIR = re.compile(r"[ \t]{0,8}([^=;,\s]{1,256})=([^;\r\n'\"`]{0,4096})")
_COOKIE_ATTRIBUTES = word_set(
    "path domain expires max-age samesite secure httponly priority partitioned"
)
_SESSION_COOKIE = re.compile(r"(?i:sess|sid|token|auth|jwt|login|remember|csrf|xsrf|secret|key)")


def _adjacent_pairs(text: str, start: int, end: int) -> Iterator[re.Match[str]]:
    """A header's pairs from ``start``, each just after the ``;`` that ends the one before, up
    to the first that is not: what ``finditer`` finds up to its first gap, but each pair is
    matched where it must start, not searched for (a search read a long value without ``=``
    from every position: 64 KB of such headers took 1.7 s)."""
    at = start
    while (pair := _COOKIE_PAIR.match(text, at, end)) is not None:
        yield pair
        if _COOKIE_PAIR.match(text, pair.end(), end) is not None:
            return  # a value cut at its longest, the next pair in it: not after a ``;``
        at = pair.end() + 1  # the ``;`` between pairs


def cookie_candidates(text: str) -> Iterator[Candidate]:
    """Values of ``Cookie:`` and ``Set-Cookie:`` headers (curl -v, a HAR, a log line): every
    value of a request's cookies, the first pair of a response's (its attributes are not)."""
    for header in _COOKIE_HEADER.finditer(text):
        response = header.group(1).lower() == "set-cookie"
        for pair in _adjacent_pairs(text, header.start(2), header.end(2)):
            name, value = pair.group(1), pair.group(2).strip().strip('"')
            if name.lower() in _COOKIE_ATTRIBUTES:
                continue
            sized = len(value) >= 8 or (len(value) >= 4 and _SESSION_COOKIE.search(name))
            if sized and not is_plain_value(value):
                start = text.index(value, pair.start(2))
                yield Candidate(start, start + len(value), AUTHORIZATION, "cookie", value)
            if response:
                break


# --- authorization headers and assignments ----------------------------------------------------

_AUTHORIZATION = re.compile(
    r"(?i:\b(?:proxy-)?authorization[\"']?\s{0,8}[:=]\s{0,8}[\"']?"
    r"(?:(?:bearer|basic|token|bot|apikey|digest|negotiate|ntlm|sso-key)\s{1,8})?"
    r"|\bbearer\s{1,8})"
    r"([^\s\"'`,;]{1,8192})"
)
_ASSIGN_OP = re.compile(r"([\"']?)[ \t]{0,8}(=>|:=|=|:)[ \t]{0,8}")
_QUOTED = re.compile(r"\"((?:[^\"\\\n]|\\.){0,4096})\"|'([^'\n]{0,4096})'")
_BARE_EQUALS_VALUE = re.compile(r"[^\s'\"`;|&<>]{1,4096}")
_BARE_COLON_VALUE = re.compile(r"[^\n,;}\]\"'`]{1,512}")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_NAME_TAIL = re.compile(r"[\w.-]{0,64}")
QUOTED_SECRET_NAMES = word_set("auth pass pwd pw")
_TOKEN_LIKE = re.compile(r"[^\s]{8,}")
"""Short keys that are secrets only as quoted data keys: docker's ``"auth": "<base64>"``."""
_DOC_FIELD = re.compile(r":(?:param|type|arg|key|keyword|var|ivar|cvar|vartype|raises)\s+\Z")
_CALL_OR_INDEX = re.compile(r"[^(\[]*[(\[]")
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_CODE_NAME = re.compile(r"[A-Za-z_]+|[A-Za-z_]\w*_\w*")
"""A bare value that reads as a program's variable (``token = next_tok``, ``token=text``)."""


def looks_like_code(value: str) -> bool:
    """A call, an index or an attribute path: ``self.headers.get(``, ``os.environ[``."""
    return _CALL_OR_INDEX.match(value) is not None or _DOTTED_NAME.fullmatch(value) is not None


_KEYWORDS = (
    r"pass|pwd|pw\b|pswd|secret|sekr|secrit|secert|scret|token|tokn|key|auth|credential|sess"
    r"|kennwort|contrase|senha|mdp"
)
KEYWORDS = re.compile(_KEYWORDS)
"""Searched in the lower-cased text: the anchors of assignments."""


def authorization_candidates(text: str) -> Iterator[Candidate]:
    for match in _AUTHORIZATION.finditer(text):
        value = match.group(1)
        name = value.rstrip("})]")
        if len(value) >= 8 and not (
            is_plain_value(value) or looks_like_code(value) or _IDENTIFIER.fullmatch(name)
        ):
            yield Candidate(match.start(1), match.end(1), AUTHORIZATION, "authorization", value)


def assignment_candidates(
    text: str, lowered: str, shell: bool, taken: list[tuple[int, int]]
) -> Iterator[Candidate]:
    """``NAME=value``, ``name: value``, ``"name": "value"`` where the name says secret; in
    ``shell`` text (a command line) every bare ``name=word`` is an assignment, elsewhere a
    lower-case ``name=word`` is more likely a program's keyword argument. A keyword inside a
    ``taken`` span (sorted; a stronger finding or a marker) is no name: so a value that gets
    redacted reads the same before and after (idempotence)."""
    starts = [start for start, _ in taken]
    done = 0
    for hit in KEYWORDS.finditer(lowered):  # the module's current one (add_secret_names)
        if hit.start() < done:
            continue
        inside = bisect.bisect_right(starts, hit.start()) - 1
        if inside >= 0 and hit.start() < taken[inside][1]:
            continue
        start = hit.start()
        floor = max(done, start - 64)
        while start > floor and text[start - 1] in _NAME_CHARS:
            start -= 1
        tail = _NAME_TAIL.match(text, hit.end())
        end = tail.end() if tail is not None else hit.end()
        done = end
        name = text[start:end].lstrip(".")
        if not name or name[0] == "-" or (start and text[start - 1] in "${%"):
            continue  # a flag (the command rules know what it means) or $DB_PASSWORD, ${TOKEN}
        if _DOC_FIELD.search(text, max(0, start - 12), start):
            continue  # a docstring field: ``:param token: ...``, ``:type token: str``
        op = _ASSIGN_OP.match(text, end)
        quoted_name = start > 0 and text[start - 1] in "\"'"
        short_key = quoted_name and name.lower() in QUOTED_SECRET_NAMES
        if op is None or not (short_key or secret_name(name)):
            continue
        in_path = start > 0 and text[start - 1] in "/\\"
        done, candidate = _assigned_value(text, op, quoted_name, shell or name.isupper(), in_path)
        if candidate is not None and short_key and not _TOKEN_LIKE.fullmatch(candidate.value):
            candidate = None  # "auth": "<base64>" yes, 'pass': 'The "pass" statement' no
        following = bisect.bisect_right(starts, op.end())
        if following < len(starts) and starts[following] < done:
            done = op.end()  # a redaction inside may remove the quote that ends this value
        if candidate is not None:
            yield candidate


_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}\Z")


def _assigned_value(
    text: str, op: re.Match[str], quoted_name: bool, variable: bool, in_path: bool = False
) -> tuple[int, Candidate | None]:
    """Where the value after ``op`` ends, and the candidate if it is a secret. A bare word is
    code (``token=text``) unless the name is a shell or environment variable
    (``DB_PASSWORD=letmein``). The end counts even for a value that is no secret, so the same
    span is skipped whether it holds a value or (redacted before) a marker: idempotence."""
    at = op.end()
    operator = op.group(2)
    if at >= len(text) or (operator == "=" and text[at] in "=~"):
        return at, None  # a comparison, not an assignment
    quoted = _QUOTED.match(text, at)
    if quoted is not None:
        group = 1 if quoted.group(1) is not None else 2
        start, end, value = quoted.start(group), quoted.end(group), quoted.group(group)
        if len(value) < 3 or is_plain_value(value) or _IDENTIFIER.fullmatch(value):
            return quoted.end(), None  # ``SECRET_KEY = 'aws_secret_access_key'`` names one
        return quoted.end(), Candidate(start, end, ASSIGNMENT, "assignment", value)
    if operator == ":" and not (quoted_name or op.group(0)[-1:] in " \t"):
        return at, None  # ``word:word`` (a marker, a scheme, a port) is no assignment
    pattern = _BARE_COLON_VALUE if operator == ":" else _BARE_EQUALS_VALUE
    bare = pattern.match(text, at)
    if bare is None:
        return at, None
    value = bare.group(0).rstrip().rstrip(",)}]:;")
    at += len(value) - len(value.lstrip())  # spaces beyond the operator's own
    value = value.lstrip()
    if in_path and operator == "=":  # a path segment or file name: token=X.csv, /k=X/f.json
        value = value.split("/", 1)[0].split("\\", 1)[0]
    extension = _EXTENSION.search(value) if operator == "=" else None
    if extension is not None and (in_path or looks_like_code(value)):
        value = value[: extension.start()]  # db_password=X.bak: the name of a file
        in_path = True
    if operator == ":" and " #" in value:
        value = value[: value.index(" #")].rstrip()
    if operator == ":" and " " in value:
        first = value.split(" ", 1)[0]
        if key_shaped(first) or (password_like(first) and entropy(first) >= 3.0):
            value = first  # "Token: X - Vault": the value, then words about it
    spaced = op.group(0).endswith((" ", "\t"))
    if (
        len(value) < 4
        or (operator == ":" and value.count(" ") > 1)  # prose after a label
        or is_plain_value(value)
        or is_plain_value(value.split()[0])
        or (not in_path and looks_like_code(value))
        or (not in_path and _IDENTIFIER.fullmatch(value))
        or (operator == ":" and value.startswith("#"))
        or (
            operator != ":"
            and not in_path
            and (spaced or not variable)
            and _CODE_NAME.fullmatch(value)
        )
    ):
        return bare.end(), None
    return bare.end(), Candidate(at, at + len(value), ASSIGNMENT, "assignment", value)


_SQL_PASSWORD = re.compile(
    r"(?i:\bidentified\s{1,8}(?:with\s{1,8}\w{1,40}\s{1,8})?by(?:\s{1,8}password)?"
    r"|\bpassword(?:\s{1,8}for\s{1,8}[^\s=]{1,200})?"
    r"(?:\s{0,8}=\s{0,8}(?:(?:old_)?password\s{0,4}\(\s{0,4})?)?)"
    r"\s{0,8}(?:'([^'\n]{1,512})'|\"([^\"\n]{1,512})\""
    r"|(?<=[Bb][Yy] )([^\s'\";]{4,128})(?=[\s;]|\Z))"
)
"""``IDENTIFIED BY 'x'`` (also ``"x"`` and Oracle's bare ``IDENTIFIED BY x``), ``PASSWORD 'x'``,
``PASSWORD = 'x'``, ``SET PASSWORD FOR u = PASSWORD('x')``."""


_SQL_ACCOUNT = re.compile(r"(?i:\b(?:user|role|login|grant|set)\b)")
"""``identified by 'x'`` is English too: only a statement about an account holds a password."""


def sql_candidates(text: str) -> Iterator[Candidate]:
    """``CREATE USER ... IDENTIFIED BY 'x'``, ``ALTER ROLE ... PASSWORD 'x'``: a match counts
    when an account word stands before it on its line, that is when the line's first one
    ends before it (a match starts a word). Each line is searched once, not once per match:
    a 64 KB line of ``identified by`` took 3 s."""
    line_end = -1
    account_end = 0
    for match in _SQL_PASSWORD.finditer(text):
        if match.start() > line_end:
            line_start = text.rfind("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.start())
            line_end = len(text) if line_end < 0 else line_end
            account = _SQL_ACCOUNT.search(text, line_start, line_end)
            account_end = len(text) + 1 if account is None else account.end()
        if account_end > match.start():
            continue
        group = next(n for n in (1, 2, 3) if match.group(n) is not None)
        value = match.group(group)
        if not is_plain_value(value):
            yield Candidate(match.start(group), match.end(group), ASSIGNMENT, "sql-password", value)


_NETRC = re.compile(
    r"\bmachine[ \t\n]{1,40}\S{1,256}(?:[ \t\n]{1,40}\S{1,256}){0,4}?[ \t\n]{1,40}"
    r"password[ \t\n]{1,40}(\S{1,256})"
)
_NUMBERS = re.compile(r"[\d:.]+")
"""``00:11:22:33:44:55`` is a MAC address, not a pgpass line."""
_PGPASS = re.compile(r"(?m)^[^:\s#]{1,256}:(?:\d{1,5}|\*):[^:\s]{1,256}:[^:\s]{1,256}:(\S{1,256})$")


def credential_file_candidates(text: str) -> Iterator[Candidate]:
    """Lines of ``~/.netrc`` (``machine h login u password X``) and ``~/.pgpass``
    (``host:port:database:user:X``), as ``cat`` shows them."""
    for pattern, rule in ((_NETRC, "netrc-password"), (_PGPASS, "pgpass-password")):
        for match in pattern.finditer(text):
            value = match.group(1)
            if len(value) >= 4 and not (is_plain_value(value) or _NUMBERS.fullmatch(value)):
                yield Candidate(match.start(1), match.end(1), ASSIGNMENT, rule, value)


_PROSE = re.compile(
    r"(?i:\b(api[ _-]?key|access[ _-]?key|secret[ _-]?key|private[ _-]?key|password|passphrase"
    r"|passcode|token|secret|pin|otp|one-time code|verification code|recovery code)s?\b"
    r"(?:[^\n.;]{0,24}?\b((?:(?:is|was|has been|have been) )?(?:reset|set|changed|updated) to"
    r"|is|was|are|will be)\b[ \t]{0,4}:?)?)"
    r"[ \t]{1,8}[\"'`]?([^\s\"'`]{4,512})"
)
_NUMERIC_LABELS = word_set("pin otp")


def prose_candidates(text: str) -> Iterator[Candidate]:
    """ "Your new API key is X", "the password was reset to X": a value named in a sentence."""
    for match in _PROSE.finditer(text):
        label, value = match.group(1).lower(), match.group(3).rstrip(".,;:)")
        numeric = value.isdigit() and 4 <= len(value) <= 8
        if match.group(2) is None:  # "Invalid API key X": without a verb, a generated key only
            if not key_shaped(value):
                continue
        elif numeric and (label in _NUMERIC_LABELS or label.endswith("code")):
            pass  # "your PIN is 4821"
        elif not (key_shaped(value) or (password_like(value) and entropy(value) >= 2.5)):
            continue
        start = match.start(3)
        yield Candidate(start, start + len(value), ASSIGNMENT, "prose-secret", value)
