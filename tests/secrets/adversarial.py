"""The adversarial corpus: every way a secret has been seen to slip past redaction, tried anew.

Each case plants a made-up value (through ``planted.plant``) and delivers it the way an agent's
activity would: a command, its output, an exception, a file name, a seed function's parameter,
a registered value in a transformed form, a span from another producer, keystrokes, a
browser field, a subprocess form, the project's own secrets. ``test_adversarial.py`` runs them
all through the real pipeline (recording, span, ``ActivitySpanExporter``, SQLite and
PostgreSQL) and looks for the value in rows, spans, logs and durable storage.

Every case must pass: a value known to leak has no place here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from support import planted

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.secrets import register_secret
from autobot_activity_otel.tracking import browser, desktop, file, terminal
from autobot_activity_otel.tracking.browser import set_navigation


@dataclass
class Case:
    """One attack: a class, a planted value, how it is delivered, what else must not appear."""

    name: str
    kind: str
    secret: str
    deliver: Callable[[], None]
    forms: tuple[str, ...] = ()
    """Other strings that give the value away (its base64, its percent-encoding, ...)."""
    foreign: bool = False
    """A span of another producer: only what we store is ours to keep clean."""
    keystrokes: bool = False
    """Stored typed text is also replayed (BackSpace, Shift) before looking for the value."""
    registered: bool = False
    ids: list[uuid.UUID] = field(default_factory=list)


CASES: list[Case] = []


def _rng(tag: str) -> random.Random:
    return random.Random(f"adversarial:{tag}")


def pw(tag: str) -> str:
    """A password-like value: words, digits and a symbol, mixed case."""
    r = _rng(tag)
    upper, lower = "ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz"
    word = r.choice(upper) + "".join(r.choice(lower) for _ in range(r.randint(3, 5)))
    other = r.choice(upper) + "".join(r.choice(lower) for _ in range(2))
    return f"{word}{r.randint(10, 99)}-{other}{r.randint(100, 999)}{r.choice('!#%+')}"


def tok(tag: str, length: int = 28) -> str:
    """A generated token: letters of both cases and digits, high entropy."""
    r = _rng(tag)
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    while True:
        value = "".join(r.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in value) and any(c.isupper() for c in value):
            return value


def hexs(tag: str, length: int = 32) -> str:
    r = _rng(tag)
    return "".join(r.choice("0123456789abcdef") for _ in range(length))


def case(
    kind: str,
    name: str,
    secret: str,
    deliver: Callable[[], None],
    **options: Any,
) -> Case:
    planted.plant(secret)
    for form in options.get("forms", ()):
        planted.plant(form)
    made = Case(f"{kind}-{name}", kind, secret, deliver, **options)
    CASES.append(made)
    return made


# --- how a value is delivered --------------------------------------------------------------------


def command(text: str, output: str | None = None) -> Callable[[], None]:
    def deliver() -> None:
        record = ActivityRecord(ActivityType.TERMINAL, "execute")
        record.set_text(attr.PROCESS_COMMAND_LINE, text, "command")
        if output is not None:
            record.set_text(attr.TERMINAL_OUTPUT, output, "output")
        record.end()

    return deliver


def argv(words: list[str]) -> Callable[[], None]:
    """An argv list, as the terminal instrumentation hands it over."""

    def deliver() -> None:
        record = ActivityRecord(ActivityType.TERMINAL, "execute")
        record.set_text(attr.PROCESS_COMMAND_LINE, words, "command")
        record.end()

    return deliver


def output(text: str, run: str = "cat settings") -> Callable[[], None]:
    return command(run, text)


def failure(exc: BaseException, run: str = "python deploy.py") -> Callable[[], None]:
    def deliver() -> None:
        record = ActivityRecord(ActivityType.TERMINAL, "execute")
        record.set_text(attr.PROCESS_COMMAND_LINE, run, "command")
        record.fail(exc)
        record.end()

    return deliver


def file_op(path: str, new_path: str | None = None, action: str = "write") -> Callable[[], None]:
    def deliver() -> None:
        record = ActivityRecord(ActivityType.FILE, action)
        record.set_text(attr.FILE_PATH, path)
        record.set_text(attr.FILE_NEW_PATH, new_path)
        record.end()

    return deliver


def navigate(url: str, chain: tuple[str, ...] = ()) -> Callable[[], None]:
    def deliver() -> None:
        record = ActivityRecord(ActivityType.BROWSER, "navigate")
        set_navigation(record, url, 200, chain)
        record.end()

    return deliver


def typed(text: str) -> Callable[[], None]:
    def deliver() -> None:
        record = ActivityRecord(ActivityType.DESKTOP, "type")
        desktop.record_input_text(record, text, "redacted")
        record.end()

    return deliver


def seed(function: Callable[..., Any], **kwargs: Any) -> Callable[[], None]:
    return lambda: asyncio.run(function(**kwargs)) and None


def foreign(
    name: str,
    attributes: dict[str, Any],
    *,
    status: str | None = None,
    events: tuple[tuple[str, dict[str, Any]], ...] = (),
    activity: bool = True,
) -> Callable[[], None]:
    """A span from another producer: our attribute names or the conventions', raw values."""

    def deliver() -> None:
        values = dict(attributes)
        if activity:
            values.setdefault(attr.ACTIVITY_TYPE, "terminal")
            values.setdefault(attr.ACTIVITY_ID, str(uuid.uuid4()))
            values.setdefault(attr.ACTIVITY_ACTION, "execute")
        span = trace.get_tracer("some.other.producer").start_span(name, attributes=values)
        for event_name, event_attributes in events:
            span.add_event(event_name, event_attributes)
        if status is not None:
            span.set_status(Status(StatusCode.ERROR, status))
        span.end()

    return deliver


def _in_context(session_id: str, deliver: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        from autobot_activity_otel import activity_context

        with activity_context(session_id=session_id):
            deliver()

    return run


def _in_session(session_id: str, deliver: Callable[[], None]) -> Callable[[], None]:
    """Inside ``activity_session``: its root span carries the session id too."""

    def run() -> None:
        from autobot_activity_otel import activity_session

        with activity_session(session_id=session_id):
            deliver()

    return run


def registered(made: Case) -> Case:
    made.registered = True
    return made


def register_all() -> list[uuid.UUID]:
    """Register the values of the registered-class cases (for the whole run of the corpus)."""
    ids = []
    for made in CASES:
        if made.registered:
            secret_id = uuid.uuid5(uuid.NAMESPACE_URL, f"adversarial:{made.name}")
            register_secret(secret_id, made.secret)
            ids.append(secret_id)
    return ids


def _called(words: list[str]) -> subprocess.CalledProcessError:
    return subprocess.CalledProcessError(1, words)


def _timeout(words: list[str]) -> subprocess.TimeoutExpired:
    return subprocess.TimeoutExpired(words, 5)


# --- 1. commands --------------------------------------------------------------------------------


def _commands() -> Iterator[None]:
    env_tools = [
        ("SSHPASS", "sshpass -e ssh deploy@web1 uptime"),
        ("SSHPASS", "sshpass -e scp build.tar deploy@web2:/srv"),
        ("REDISCLI_AUTH", "redis-cli -h cache.internal ping"),
        ("REDISCLI_AUTH", "redis-cli --no-auth-warning -n 2 keys '*'"),
        ("MYSQL_PWD", "mysqldump -u backup shop > shop.sql"),
        ("PGPASSWORD", "pg_dump -h db -U app app > app.sql"),
        ("LFTP_PASSWORD", "lftp --env-password -u deploy sftp://files.example.com"),
        ("RSYNC_PASSWORD", "rsync -a data/ rsync://backup@nas/share"),
        ("VAULT_TOKEN", "vault kv get secret/app"),
        ("BW_SESSION", "bw list items --search github"),
        ("OP_SESSION_my", "op item get github --fields password"),
        ("SQLCMDPASSWORD", "sqlcmd -S db -U sa -Q 'select 1'"),
        ("PASSWD", "smbclient //fs/share -U alice -c ls"),
        ("LDAPBINDPW", "ldapsearch -x -D cn=admin,dc=ex -b dc=ex"),
        ("NPM_CONFIG__AUTH", "npm publish --access public"),
    ]
    for number, (variable, run) in enumerate(env_tools):
        secret = pw(f"env{number}")
        quoted = shlex.quote(secret)
        case(
            "commands",
            f"env-{variable.lower()}-{number}",
            secret,
            command(f"{variable}={quoted} {run}"),
        )
    for number, (variable, run) in enumerate(env_tools[:6]):
        secret = pw(f"envx{number}")
        case(
            "commands",
            f"export-{variable.lower()}-{number}",
            secret,
            command(f"export {variable}={shlex.quote(secret)} && {run}"),
        )
    case(
        "commands",
        "env-wrapper-sshpass",
        (s := pw("envw")),
        command(f"env SSHPASS={shlex.quote(s)} sshpass -e ssh web1"),
    )
    case(
        "commands",
        "docker-auth-config",
        (s := tok("dac")),
        command(
            f'DOCKER_AUTH_CONFIG=\'{{"auths":{{"r.io":{{"auth":"{s}"}}}}}}\' docker pull r.io/app'
        ),
    )
    # cookies on the command line
    for number, template in enumerate(
        [
            "curl --cookie 'sessionid={s}' https://app.example.com/api/me",
            "curl -b 'theme=dark; sid={s}' https://app.example.com/",
            'curl -b "PHPSESSID={s}" https://shop.example.com/cart',
            'curl --cookie "JSESSIONID={s}; Path=/" https://legacy.example.com/',
            "curl -H 'Cookie: remember_token={s}' https://app.example.com/",
            "wget --header='Cookie: connect.sid={s}' https://app.example.com/export",
            "http https://app.example.com/me 'Cookie:session={s}'",
            "curl -sS -b 'lang=en; _session_id={s}; tz=UTC' https://app.example.com/",
        ]
    ):
        secret = tok(f"cookie{number}", 24)
        case("commands", f"cookie-{number}", secret, command(template.format(s=secret)))
    # OAuth, session and ticket parameters in URL arguments
    for number, template in enumerate(
        [
            "curl 'https://app.example.com/oauth/callback?code={s}&state=xyz'",
            "curl 'https://app.example.com/oauth/callback?state=ab12&code={s}'",
            "wget 'https://sso.example.com/login?ticket=ST-{s}'",
            "curl 'https://app.example.com/dl?session={s}'",
            "open 'https://app.example.com/cb#code={s}'",
            "curl 'https://app.example.com/x;jsessionid={s}?a=1'",
            "curl 'https://app.example.com/api?sid={s}&fmt=json'",
            "xdg-open 'https://idp.example.com/saml?SAMLResponse={s}'",
            "curl 'https://app.example.com/cb?oauth_verifier={s}&oauth_token=abc'",
            "curl 'https://app.example.com/verify?otp_code={s}'",
        ]
    ):
        secret = tok(f"oauth{number}", 26)
        case("commands", f"query-{number}", secret, command(template.format(s=secret)))
    case(
        "commands",
        "query-state",
        (s := tok("state", 22)),
        command(f"curl 'https://app.example.com/cb?code=abc&state={s}'"),
    )
    # a token as the user of a URL
    for number, template in enumerate(
        [
            "git clone https://{s}@gitlab.example.com/group/repo.git",
            "git remote set-url origin https://{s}@github.com/org/repo.git",
            "pip install --index-url https://{s}@pypi.example.com/simple app",
            "curl https://{s}:@api.example.com/v1/charges",
            "npm install --registry https://{s}@npm.example.com/ app",
            "git push https://{s}:x-oauth-basic@github.com/org/repo.git main",
        ]
    ):
        secret = tok(f"userinfo{number}", 32)
        case("commands", f"url-user-token-{number}", secret, command(template.format(s=secret)))
    # Windows-style and comma-joined credential flags
    for number, template in enumerate(
        [
            "xfreerdp /u:admin /p:{s} /v:10.0.0.5",
            "xfreerdp /v:win01 /u:CORP\\\\alice /p:{s} /cert:ignore",
            "cmdkey /add:fs01 /user:alice /pass:{s}",
            "msdeploy -verb:sync -dest:auto,computerName=web1 /password:{s}",
            "net use \\\\\\\\fs01\\\\share {s} /user:CORP\\\\alice",
            "net use Z: \\\\\\\\fs01\\\\share {s} /persistent:no",
            "psexec \\\\\\\\win01 -u admin -p {s} cmd",
            "lftp -u deploy,{s} sftp://files.example.com",
            "lftp -u 'deploy,{s}' -e 'mirror out; bye' ftp://files.example.com",
            "ncftpput -u deploy -p {s} files.example.com /in report.csv",
            "schtasks /create /tn backup /tr backup.cmd /ru svc /rp:{s}",
        ]
    ):
        secret = pw(f"win{number}")
        case("commands", f"flags-{number}", secret, command(template.format(s=secret)))
    # SQL password clauses passed to a client
    for number, template in enumerate(
        [
            "mysql -u root -e \"SET PASSWORD FOR 'app'@'%' = '{s}'\"",
            "mysql -u root -e \"CREATE USER 'app'@'%' IDENTIFIED BY '{s}'\"",
            "mysql -u root -e 'ALTER USER app IDENTIFIED BY \"{s}\"'",
            "mariadb -e \"GRANT ALL ON shop.* TO 'app'@'%' IDENTIFIED BY '{s}'\"",
            "psql -c \"ALTER ROLE app WITH PASSWORD '{s}'\"",
            "psql -U postgres -c \"CREATE ROLE ci LOGIN ENCRYPTED PASSWORD '{s}'\"",
            "sqlcmd -S db -Q \"CREATE LOGIN app WITH PASSWORD = '{s}'\"",
            "sqlplus / as sysdba <<< 'ALTER USER scott IDENTIFIED BY {s};'",
            "mysql -e \"SET PASSWORD = PASSWORD('{s}')\"",
        ]
    ):
        secret = pw(f"sql{number}")
        case("commands", f"sql-{number}", secret, command(template.format(s=secret)))
    # shlex.join of an argv holding SQL with quotes (what the instrumentation records)
    for number, words in enumerate(
        [
            ["mysql", "-e", "CREATE USER 'a'@'%' IDENTIFIED BY '{s}'"],
            ["psql", "-c", "ALTER ROLE app PASSWORD '{s}'"],
        ]
    ):
        secret = pw(f"sqlargv{number}")
        case("commands", f"sql-argv-{number}", secret, argv([w.format(s=secret) for w in words]))
    # a secret piped into an encoder or a reader of stdin
    for number, template in enumerate(
        [
            "echo -n '{s}' | base64",
            "printf '%s' '{s}' | base64 -w0",
            "echo '{s}' | openssl base64",
            "echo -n {s} | xxd -p",
            "echo -n '{s}' | sha256sum",
            "echo -n '{s}' | gcloud secrets create db-pass --data-file=-",
            "echo '{s}' | docker secret create db_pass -",
            "printf %s '{s}' | kubectl create secret generic db --from-file=password=/dev/stdin",
            "echo -n '{s}' | vault kv put secret/db password=-",
            "base64 <<< '{s}'",
            "echo 'deploy:{s}' | chpasswd",
            "echo '{s}' | htpasswd -i -c .htpasswd alice",
        ]
    ):
        secret = pw(f"pipe{number}")
        case("commands", f"stdin-{number}", secret, command(template.format(s=secret)))
    # a path argument whose basename names another tool
    for number, template in enumerate(
        [
            "mysqldump -u root /srv/backups/gh -p{s} shop",
            "mysql --defaults-file=/etc/mysql/debian.cnf /opt/tools/docker -p{s}",
            "redis-cli --rdb /var/backups/curl -a {s}",
            "sshpass -p {s} rsync -a /srv/data/mysql web1:/srv",
            "mongodump --out /backups/htpasswd --password {s}",
        ]
    ):
        secret = pw(f"path{number}")
        case("commands", f"path-tool-{number}", secret, command(template.format(s=secret)))
    # unknown tools with generic credential flags
    for number, template in enumerate(
        [
            "deployctl push --auth admin:{s} prod",
            "./sync.sh --auth {s}",
            "npm config set _auth {s}",
            "yarn config set npmAuthToken {s}",
            "tool --_auth={s} fetch",
            "backup-agent --creds svc:{s} run",
            "uploader --credentials robot:{s}",
            "mirror --basic-auth ci:{s} https://repo.example.com",
            "cli login --user-password {s}",
        ]
    ):
        secret = pw(f"generic{number}")
        case("commands", f"generic-flag-{number}", secret, command(template.format(s=secret)))
    for number, template in enumerate(
        [
            "rclone config create store s3 access_key_id AKX secret_access_key {s}",
            "mc alias set local http://minio:9000 minioadmin {s}",
            "gpg --batch --passphrase-fd 0 -d backup.gpg <<< '{s}'",
            "git credential approve <<< $'protocol=https\\nhost=x\\npassword={s}'",
            "redis-server --port 6380 --requirepass {s}",
            "docker run -e DB_PASS={s} app:1",
        ]
    ):
        secret = pw(f"more{number}")
        case("commands", f"more-tools-{number}", secret, command(template.format(s=secret)))
    yield


# --- 2. output ----------------------------------------------------------------------------------


def _output() -> Iterator[None]:
    labelled = [
        ("$ printenv DB_PASSWORD\n{s}\n$ ", "pw"),
        ("deploy@web1:~$ echo $API_TOKEN\n{s}\ndeploy@web1:~$ ", "tok"),
        ("$ vault read -field=password secret/db\n{s}\n", "pw"),
        ("$ vault kv get -field=token secret/ci\n{s}\n", "tok"),
        ("$ kubectl get secret db -o jsonpath='{{.data.password}}'\n{s}\n", "b64"),
        ("$ gcloud secrets versions access latest --secret=api-key\n{s}\n", "tok"),
        (
            "$ aws secretsmanager get-secret-value --secret-id prod/db"
            " --query SecretString --output text\n{s}\n",
            "pw",
        ),
        ("$ openssl rand -base64 32\n{s}\n", "b64"),
        ("$ openssl rand -hex 24\n{s}\n", "hex"),
        ("$ pwgen -s 24 1\n{s}\n", "tok"),
        ("$ head -c 32 /dev/urandom | base64\n{s}\n", "b64"),
        ("Your new API key is:\n\n  {s}\n\nStore it safely; it will not be shown again.\n", "tok"),
        ("Generated password:\n{s}\n", "pw"),
        ("Personal access token (copy it now):\n{s}\n", "tok"),
        ("Recovery code:\n{s}\n", "tok"),
        ("Your new API key is {s}. Keep it secret.", "tok"),
        ("The password for user deploy was reset to {s}\n", "pw"),
        ("token has been set to {s}\n", "tok"),
        ("Your one-time code is 482913", "pin"),
    ]
    for number, (template, style) in enumerate(labelled):
        tag = f"label{number}"
        secret = {
            "pw": pw(tag),
            "tok": tok(tag),
            "hex": hexs(tag, 48),
            "b64": base64.b64encode(tok(tag, 24).encode()).decode(),
            "pin": "482913",
        }[style]
        if style == "pin":
            secret = str(100000 + _rng(tag).randint(0, 899999))
            template = template.replace("482913", "{s}")
        case("output", f"label-{number}", secret, output(template.format(s=secret)))
    # the value alone, the command that printed it in another field
    for number, (run, style) in enumerate(
        [
            ("printenv DB_PASSWORD", "pw"),
            ("vault read -field=value secret/stripe", "tok"),
            ("kubectl get secret api -o jsonpath={.data.token}", "tok"),
        ]
    ):
        secret = pw(f"ctx{number}") if style == "pw" else tok(f"ctx{number}")
        case(
            "output",
            f"label-in-command-{number}",
            secret,
            output(f"{secret}\n", run=run),
        )
    # a low-entropy value that only the command names: no shape to go by
    for number, (run, secret) in enumerate(
        [
            ("printenv DB_PASSWORD", "sunflower1987"),
            ("vault kv get -field=password secret/db", "letmein2024"),
            ("kubectl get secret db -o jsonpath='{.data.password}' | base64 -d", "73915046"),
        ]
    ):
        case(
            "output",
            f"plain-value-named-by-command-{number}",
            secret,
            output(f"{secret}\n", run=run),
        )
    # values alone, one a line, printed by an extraction or a template that names their key
    for number, (run, style) in enumerate(
        [
            ("grep -oP '(?<=password=).*' config.ini", "pw"),
            ("grep -Po 'token:\\s*\\K\\S+' app.yml", "tok"),
            ("sed -n 's/^DB_PASSWORD=//p' .env", "pw"),
            ("awk -F= '/^API_KEY/{print $2}' .env", "tok"),
            ('cut -d= -f2 <<< "$(grep SECRET .env)"', "pw"),
            ("cd app && grep -i db_password .env | cut -d= -f2-", "pw"),
            ("docker inspect -f '{{index .Config.Labels \"db_password\"}}' app", "pw"),
            ("podman inspect app --format '{{.Config.Labels.api_token}}' | tee t", "tok"),
            ("kubectl get secret db -o go-template='{{index .data \"api-key\"}}'", "b64"),
            ("kubectl get secret db -o template --template={{.data.token}}", "b64"),
            ("perl -ne 'print \"$1\\n\" if /password=(\\S+)/' .env", "pw"),
            ("perl -nle 'print $1 if /^TOKEN=(.*)/' .env", "tok"),
            ("rg -o -r '$1' 'api_key=(\\S+)' config/", "tok"),
            ("rg --only-matching --replace '$1' 'password: (\\S+)' deploy/", "pw"),
        ]
    ):
        tag = f"extract{number}"
        secret = {
            "pw": pw(tag),
            "tok": tok(tag),
            "b64": base64.b64encode(tok(tag, 24).encode()).decode(),
        }[style]
        case("output", f"extracted-{number}", secret, output(f"{secret}\n", run=run))
    # a language's secret generator in a one-liner: it prints the secret it made
    for number, run in enumerate(
        [
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
            'node -e \'console.log(require("crypto").randomBytes(24).toString("base64"))\'',
        ]
    ):
        secret = tok(f"generated{number}", 32)
        case("output", f"generated-{number}", secret, output(f"{secret}\n", run=run))
    # several matches: the value on a later line is as much a value as the first
    first, second = pw("extract-many-1"), pw("extract-many-2")
    case(
        "output",
        "extracted-several",
        second,
        output(f"{first}\n{second}\n", run="grep -oP '(?<=password=).*' a.ini"),
        forms=(first,),
    )
    first, second = pw("jq-many-1"), pw("jq-many-2")
    case(
        "output",
        "jq-several",
        second,
        output(f"{first}\n{second}\n", run="jq -r '.users[].password' users.json"),
        forms=(first,),
    )
    # a language's one-liner reading a secret by name; a line or field after the key
    for number, run in enumerate(
        [
            "python3 -c 'import os; print(os.environ[\"DB_PASSWORD\"])'",
            "php -r 'echo getenv(\"API_TOKEN\");'",
            "awk -F'password=' 'NF>1{print $2}' app.ini",
            "sed -n '/password:/{n;p}' creds.txt",
            "(printenv DB_PASSWORD)",
            "gpg -d secrets.gpg",
            "echo $GH_PAT 2>&1",
            "cut -d= -f2- .env",
        ]
    ):
        secret = ["osprey", "puffin", "gannet", "curlew", "shrike", "siskin", "linnet", "dipper"][
            number
        ]
        secret += str(1970 + number)
        case("output", f"one-liner-{number}", secret, output(f"{secret}\n", run=run))
    # a passphrase with blanks, printed alone by a command that names it
    for number, run in enumerate(
        ["sed -n 's/^PASSPHRASE=//p' .env", "vault kv get -field=passphrase secret/gpg"]
    ):
        r = _rng(f"passphrase{number}")
        words = ["amber", "quartz", "lantern", "violet", "harbor", "meadow", "cinder", "falcon"]
        secret = " ".join(r.sample(words, 4)) + f" {r.randint(10, 99)}"
        case("output", f"passphrase-{number}", secret, output(f"{secret}\n", run=run))
    # a terminal's transcript: the command at its prompt names what it printed
    case(
        "output",
        "transcript-printenv",
        "bluethroat1964",
        output("deploy@web1:~$ printenv DB_PASSWORD\nbluethroat1964\ndeploy@web1:~$ ", run="bash"),
    )
    # a grep -A1 of a secret's name: a plain word under the key is the value all the same
    case(
        "output",
        "grep-after-key",
        "bluebell2020",
        output("password:\nbluebell2020\n", run="grep -A1 'password:' creds.txt"),
    )
    secret = pw("extract-prompt")
    case(
        "output",
        "extracted-after-prompt",
        secret,
        output(f"$ sed -n 's/^DB_PASSWORD=//p' .env\n{secret}\n$ "),
    )
    # PuTTY keys
    for number in range(2):
        lines = [tok(f"ppk{number}-{line}", 64) for line in range(3)]
        mac = hexs(f"ppkmac{number}", 64)
        body = "\n".join(lines)
        ppk = (
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy@ci\n"
            f"Public-Lines: 2\nAAAAC3NzaC1lZDI1NTE5AAAAIPubPubPubPubPubPub\nAAAAPublicTail\n"
            f"Private-Lines: 3\n{body}\nPrivate-MAC: {mac}\n"
        )
        case(
            "output",
            f"ppk-{number}",
            lines[1],
            output(ppk, run="cat deploy.ppk"),
            forms=(lines[0], lines[2], mac),
        )
    # Set-Cookie headers in a verbose transfer
    for number, template in enumerate(
        [
            "< HTTP/2 200\n< set-cookie: sessionid={s}; Path=/; HttpOnly; Secure\n"
            "< content-type: text/html\n",
            "HTTP/1.1 302 Found\r\nSet-Cookie: __Host-auth={s}; Path=/; Secure\r\nLocation: /\r\n",
            "> GET / HTTP/1.1\n> Cookie: csrftoken=abc; sessionid={s}\n",
        ]
    ):
        secret = tok(f"setcookie{number}", 30)
        case(
            "output",
            f"set-cookie-{number}",
            secret,
            output(template.format(s=secret), run="curl -v https://app"),
        )
    # base64 of a secret the command produced
    secret = pw("b64produced")
    encoded = base64.b64encode(secret.encode()).decode()
    case(
        "output",
        "base64-of-found",
        secret,
        output(f"DB_PASSWORD={secret}\nencoded: {encoded}\n", run="./show-config"),
        forms=(encoded,),
    )
    secret = pw("b64produced2")
    encoded = base64.b64encode(f"admin:{secret}".encode()).decode()
    case(
        "output",
        "basic-auth-header-out",
        secret,
        output(f"> Authorization: Basic {encoded}\n", run="curl -v -u admin https://x"),
        forms=(encoded,),
    )
    # configuration files an agent prints
    configs = [
        ("STRIPE={s}\nDEBUG=false\nPORT=8080\n", "tok", "cat .env"),
        ("export BACKEND_HOOK='{s}'\n", "tok", "cat env.sh"),
        (
            "[api]\nendpoint = https://api.example.com\nsignature_material = {s}\n",
            "tok",
            "cat config.ini",
        ),
        ("[db]\npassword =\n    {s}\nhost = db\n", "pw", "cat config.ini"),
        ("[db]\npassword = first-part\n    {s}\n", "pw", "cat legacy.ini"),
        ("database:\n  password:\n    secure: {s}\n  host: db\n", "tok", "cat .travis.yml"),
        ("api_token: |\n  {s}\nregion: eu\n", "tok", "cat settings.yaml"),
        ("db_password:\n  value: {s}\n", "pw", "cat values.yaml"),
        (
            "env:\n  - name: DB_PASSWORD\n    value: {s}\n  - name: LOG_LEVEL\n    value: info\n",
            "pw",
            "kubectl get deploy app -o yaml",
        ),
        (
            '{{"environment": [{{"name": "API_KEY", "value": "{s}"}}]}}',
            "tok",
            "aws ecs describe-task-definition",
        ),
        (
            '<appSettings>\n  <add key="ApiKey" value="{s}" />\n</appSettings>',
            "tok",
            "cat web.config",
        ),
        (
            "<settings><servers><server><id>nexus</id><username>ci</username>\n<password>{s}</password>\n</server></servers></settings>",
            "pw",
            "cat ~/.m2/settings.xml",
        ),
        ("<config><privateToken>{s}</privateToken></config>", "tok", "cat app.xml"),
        ("SEKRIT={s}\n", "pw", "cat .env"),
        ("PASSWRD={s}\n", "pw", "cat .env"),
        ("passwort: {s}\n", "pw", "cat de.yaml"),
        ("kennwort = {s}\n", "pw", "cat de.ini"),
        ("<clientSecret>{s}</clientSecret>", "tok", "cat sso.xml"),
        ("webhook_signing: {s}\n", "tok", "cat hooks.yaml"),
        ("  upstream_credential: '{s}'\n", "tok", "cat proxy.yaml"),
    ]
    for number, (template, style, run) in enumerate(configs):
        secret = pw(f"cfg{number}") if style == "pw" else tok(f"cfg{number}")
        case("output", f"config-{number}", secret, output(template.format(s=secret), run=run))
    # a browser's cookie file, ps listings, shell history
    secret = tok("jar", 32)
    jar = f"# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tTRUE\t0\tsessionid\t{secret}\n"
    case("output", "cookie-jar", secret, output(jar, run="cat cookies.txt"))
    secret = pw("ps1")
    case(
        "output",
        "ps-listing",
        secret,
        output(f"root  812  0.0  0.1  redis-server --requirepass {secret}\n", run="ps aux"),
    )
    for number, template in enumerate(
        [
            "API token\n---------\n{s}\n",
            '{{\n  "credentials": {{\n    "password": "{s}"\n  }}\n}}\n',
            "//registry.npmjs.org/:_authToken={s}\n",
            "https://ci:{s}@github.com\n",
            '"Env": [\n  "PATH=/usr/bin",\n  "DB_PASSWORD={s}"\n]',
        ]
    ):
        secret = pw(f"moreout{number}")
        case("output", f"more-output-{number}", secret, output(template.format(s=secret)))
    secret = pw("hist1")
    case(
        "output",
        "history",
        secret,
        output(f" 1021  lftp -u deploy,{secret} sftp://files\n 1022  ls\n", run="history"),
    )
    yield


# --- 3. exceptions ------------------------------------------------------------------------------


def _exceptions() -> Iterator[None]:
    argvs = [
        ["mysql", "-u", "root", "-p{s}", "shop"],
        ["sshpass", "-p", "{s}", "ssh", "web1"],
        ["docker", "login", "-u", "ci", "-p", "{s}", "registry.example.com"],
        ["redis-cli", "-a", "{s}", "ping"],
        ["curl", "-u", "admin:{s}", "https://api.example.com"],
        ["htpasswd", "-b", ".htpasswd", "alice", "{s}"],
        ["openssl", "enc", "-aes256", "-pass", "pass:{s}", "-in", "a"],
        ["lftp", "-u", "deploy,{s}", "sftp://files"],
        ["deployctl", "--api-key", "{s}", "push"],
        ["xfreerdp", "/u:admin", "/p:{s}", "/v:win01"],
    ]
    for number, words in enumerate(argvs):
        secret = pw(f"called{number}")
        filled = [w.format(s=secret) for w in words]
        case("exceptions", f"called-process-{number}", secret, failure(_called(filled)))
    for number, words in enumerate(argvs[:5]):
        secret = pw(f"timeout{number}")
        filled = [w.format(s=secret) for w in words]
        case("exceptions", f"timeout-{number}", secret, failure(_timeout(filled)))
    secret = pw("quote-in-argv")
    filled = ["mysql", "-e", f"CREATE USER 'a' IDENTIFIED BY '{secret}'"]
    case("exceptions", "called-process-sql", secret, failure(_called(filled)))
    for number, template in enumerate(
        [
            "/tmp/exports/token={s}.csv",
            "/srv/backups/db_password={s}.bak",
            "/home/u/api_key={s}/report.json",
            "C:\\\\Users\\\\u\\\\secret={s}.txt",
        ]
    ):
        secret = pw(f"fnf{number}")
        path = template.format(s=secret)
        case(
            "exceptions",
            f"file-not-found-{number}",
            secret,
            failure(FileNotFoundError(2, "No such file or directory", path)),
        )
    for number, template in enumerate(
        [
            "[Errno 111] Connection refused: postgresql://app:{s}@db:5432/app",
            '(psycopg.OperationalError) connection to "postgresql://u:{s}@db/x" failed',
            "Command 'mysql -u root -p{s} shop' returned non-zero exit status 1.",
        ]
    ):
        secret = pw(f"moreexc{number}")
        case(
            "exceptions",
            f"more-messages-{number}",
            secret,
            failure(OSError(template.format(s=secret))),
        )
    secret = pw("perm")
    case(
        "exceptions",
        "permission",
        secret,
        failure(PermissionError(13, "Permission denied", f"/run/secrets/token={secret}")),
    )
    for number, template in enumerate(
        [
            "Error: page.fill: Timeout 30000ms exceeded.\n"
            "Page said: 'Your verification code is {s}'",
            "Error: locator.click: page error: Invalid API key {s}",
            "playwright._impl._errors.Error: net::ERR_ABORTED at https://app.example.com/cb?code={s}",
            "requests.exceptions.HTTPError: 401 for url: https://api.example.com/v1?access_token={s}",
            "KeyError: 'Authorization: Bearer {s}'",
            "ValueError: invalid literal for password={s}",
        ]
    ):
        secret = (
            tok(f"exc{number}", 24)
            if number != 0
            else str(100000 + _rng("exc0").randint(0, 899999))
        )
        case(
            "exceptions",
            f"message-{number}",
            secret,
            failure(RuntimeError(template.format(s=secret))),
        )
    yield


# --- 4. file names ------------------------------------------------------------------------------


def _file_names() -> Iterator[None]:
    paths = [
        ("/data/exports/token={s}.csv", None),
        ("/srv/backups/db_password={s}.bak", None),
        ("/tmp/run/api_key={s}/out.json", None),
        ("report.csv", "/archive/secret={s}.csv"),
        ("dump.sql", "/backups/password={s}.sql.gz"),
        ("/var/www/uploads/access_token={s}", None),
        ("C:\\\\temp\\\\client_secret={s}.json", None),
        ("/home/u/.cache/session_token={s}.tmp", "/home/u/.cache/done"),
    ]
    for number, (path, new_path) in enumerate(paths):
        secret = pw(f"fname{number}")
        case(
            "file-names",
            f"path-{number}",
            secret,
            file_op(
                path.format(s=secret),
                new_path.format(s=secret) if new_path else None,
                "rename" if new_path else "write",
            ),
        )
    for number, template in enumerate(["/uploads/token={s}.pdf", "/dl/api_key={s}.zip"]):
        secret = pw(f"fseed{number}")
        case(
            "file-names",
            f"seed-upload-{number}",
            secret,
            seed(file.track_file_upload, path=template.format(s=secret)),
        )
    for number, template in enumerate(["/tmp/secret={s}.txt", "/srv/password={s}.env"]):
        secret = pw(f"fcmd{number}")
        case(
            "file-names",
            f"mv-{number}",
            secret,
            command(f"mv notes.txt {template.format(s=secret)}"),
        )
    yield


# --- 5. seed-function parameters ----------------------------------------------------------------


def _seed_parameters() -> Iterator[None]:
    cases = [
        (
            "session-id",
            lambda s: seed(terminal.track_command_execution, command="ls", session_id=s),
        ),
        (
            "pty-id",
            lambda s: seed(terminal.track_pty_session_creation, pty_id=s, shell_type="bash"),
        ),
        (
            "browser-session",
            lambda s: seed(browser.track_browser_navigation, url="https://x.io", session_id=s),
        ),
        (
            "file-session",
            lambda s: seed(
                file.track_file_operation, operation="read", path="/tmp/a", session_id=s
            ),
        ),
        ("desktop-action", lambda s: seed(desktop.track_desktop_action, action=f"run-{s}")),
        ("context-session", lambda s: _in_context(s, command("git pull"))),
        ("activity-session", lambda s: _in_session(s, command("git fetch"))),
    ]
    for name, make in cases:
        secret = pw(f"seedp-{name}")
        registered(case("seed-parameters", name, secret, make(secret)))
    for name, selector in (("input-password-selector", "#password"), ("input-pw", "[name=pw]")):
        secret = pw(f"seedp-{name}")
        deliver = seed(
            browser.track_browser_action, action="type", selector=selector, input_value=secret
        )
        case("seed-parameters", name, secret, deliver)
    for name, make in [
        (
            "screenshot-path",
            lambda s: seed(desktop.track_screenshot_capture, screenshot_path=f"/shots/{s}.png"),
        ),
        (
            "working-directory",
            lambda s: seed(
                terminal.track_command_execution, command="ls", working_directory=f"/srv/{s}"
            ),
        ),
        (
            "shell-type",
            lambda s: seed(terminal.track_command_execution, command="ls", shell_type=s),
        ),
        (
            "selector",
            lambda s: seed(browser.track_element_click, url="https://x.io", selector=f"#{s}"),
        ),
        (
            "form-selector",
            lambda s: seed(
                browser.track_form_submission, url="https://x.io", form_selector=f"form[data-k={s}]"
            ),
        ),
        ("window-title", lambda s: seed(desktop.track_window_focus, window_title=f"Vault - {s}")),
    ]:
        secret = pw(f"seedp-{name}")
        registered(case("seed-parameters", name, secret, make(secret)))
    for number, template in enumerate(
        [
            "deploy --token {s}",
            "mysql -p{s}",
        ]
    ):
        secret = pw(f"seedcmd{number}")
        case(
            "seed-parameters",
            f"command-{number}",
            secret,
            seed(terminal.track_command_execution, command=template.format(s=secret)),
        )
    yield


# --- 6. registered secrets, transformed ---------------------------------------------------------


def _registered() -> Iterator[None]:
    variants: list[tuple[str, str, Callable[[str], str], str]] = [
        (
            "percent",
            "Reg Pass/{n}+x",
            lambda s: f"https://app.example.com/login?next=%2F&p={quote(s, safe='')}",
            "url",
        ),
        (
            "percent-plus",
            "Reg Pass {n} y",
            lambda s: f"curl -d 'pw={quote_plus(s)}' https://x",
            "command",
        ),
        ("json-quote", 'Reg"Quote{n}z', lambda s: json.dumps({"password": s}), "output"),
        ("json-backslash", "Reg\\Back{n}w", lambda s: json.dumps({"v": s}), "output"),
        ("shell-single", "Reg'Tick{n}q", lambda s: shlex.join(["deploy", "--value", s]), "command"),
        ("upper", "RegUpper{n}abc", lambda s: f"LOG: USING {s.upper()} FOR AUTH", "output"),
        (
            "lower-host",
            "RegHost{n}Label",
            lambda s: f"https://{s.lower()}.tunnel.example.com/",
            "url",
        ),
        ("base64", "RegB64-{n}-Value", lambda s: base64.b64encode(s.encode()).decode(), "output"),
        (
            "base64-inner",
            "RegInner-{n}-Val",
            lambda s: base64.b64encode(f"user:{s}:end".encode()).decode(),
            "output",
        ),
        (
            "base64-url",
            "Reg?Url>{n}~Val",
            lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
            "output",
        ),
        ("hex", "RegHex-{n}-Value", lambda s: s.encode().hex(), "output"),
        ("split-two", "RegSplit{n}Word", lambda s: f"printf %s {s[:5]} {s[5:]} > f", "command"),
        (
            "split-three",
            "RegThree{n}Words",
            lambda s: f"echo -n {s[:3]} {s[3:9]} {s[9:]}",
            "command",
        ),
        (
            "double-quoted",
            'Reg$Dollar"{n}',
            lambda s: (
                'echo "' + s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'
            ),
            "command",
        ),
        (
            "in-url-userinfo",
            "RegUser{n}Info",
            lambda s: f"https://bot:{quote(s, safe='')}@git.example.com/r",
            "url",
        ),
    ]
    for number, (name, template, transform, kind) in enumerate(variants):
        secret = template.format(n=number * 7 + 13)
        shown = transform(secret)
        form = shown if shown != secret else None
        deliver = {
            "url": navigate,
            "command": command,
            "output": lambda text: output(text, run="./show"),
        }[kind](shown)
        forms: tuple[str, ...] = ()
        if name.startswith(("base64", "hex", "percent", "json", "upper", "lower")):
            forms = (shown.split("=")[-1] if name == "percent-plus" else shown,)
            if kind == "url" and name == "percent":
                forms = (quote(secret, safe=""),)
            if name == "lower-host":
                forms = (secret.lower(),)
            if name == "upper":
                forms = (secret.upper(),)
            if name.startswith("json"):
                forms = (json.dumps(secret)[1:-1],)
        del form
        registered(case("registered", name, secret, deliver, forms=forms))
        # the same value detected without registration is not the point here
    yield


# --- 7. foreign spans ---------------------------------------------------------------------------


def _foreign() -> Iterator[None]:
    attributes: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
        (
            "browser-input",
            lambda s: {
                attr.ACTIVITY_TYPE: "browser",
                attr.ACTIVITY_ACTION: "type",
                attr.BROWSER_INPUT_VALUE: f"password={s}",
            },
        ),
        (
            "desktop-input",
            lambda s: {
                attr.ACTIVITY_TYPE: "desktop",
                attr.ACTIVITY_ACTION: "type",
                attr.DESKTOP_INPUT_TEXT: f"mysql -u root -p{s}\n",
            },
        ),
        (
            "terminal-output",
            lambda s: {
                attr.PROCESS_COMMAND_LINE: "env",
                attr.TERMINAL_OUTPUT: f"PGPASSWORD={s}\nHOME=/root\n",
            },
        ),
        ("command-line", lambda s: {attr.PROCESS_COMMAND_LINE: f"sshpass -p {s} ssh web1"}),
        ("command-args", lambda s: {"process.command_args": ["sshpass", "-p", s, "ssh", "web1"]}),
        (
            "command-args-mysql",
            lambda s: {"process.command_args": ("mysql", "-u", "root", f"-p{s}")},
        ),
        ("header-authorization", lambda s: {"http.request.header.authorization": [f"Bearer {s}"]}),
        ("header-cookie", lambda s: {"http.request.header.cookie": [f"sid={s}; theme=dark"]}),
        ("header-api-key", lambda s: {"http.request.header.x-api-key": [s]}),
        (
            "header-set-cookie",
            lambda s: {"http.response.header.set-cookie": [f"session={s}; Path=/"]},
        ),
        ("url-full-code", lambda s: {"url.full": f"https://app.example.com/cb?code={s}&state=abc"}),
        ("url-query", lambda s: {"url.query": f"session={s}"}),
        ("url-path-reset", lambda s: {"url.full": f"https://shop.example.com/reset/{s}"}),
        ("db-statement", lambda s: {"db.statement": f"CREATE USER app IDENTIFIED BY '{s}'"}),
        ("db-connection", lambda s: {"db.connection_string": f"postgresql://app:{s}@db:5432/app"}),
        ("secret-named-attribute", lambda s: {"db.password": s}),
        (
            "nested-metadata",
            lambda s: {
                attr.ACTIVITY_METADATA: json.dumps({"request": {"headers": {"X-Api-Token": s}}})
            },
        ),
        ("attribute-key", lambda s: {f"auth.token={s}": "1"}),
        (
            "selector",
            lambda s: {
                attr.ACTIVITY_TYPE: "browser",
                attr.ACTIVITY_ACTION: "click",
                attr.BROWSER_SELECTOR: f"a[href='/reset?token={s}']",
            },
        ),
        (
            "screenshot-path",
            lambda s: {
                attr.ACTIVITY_TYPE: "desktop",
                attr.ACTIVITY_ACTION: "screenshot",
                attr.DESKTOP_SCREENSHOT_PATH: f"/shots/api_key={s}.png",
            },
        ),
        ("window-title", lambda s: {attr.ACTIVITY_WINDOW_TITLE: f"Token: {s} - Vault"}),
        ("session-id", lambda s: {attr.SESSION_ID: f"session_token={s}"}),
        (
            "redirect-chain",
            lambda s: {
                attr.ACTIVITY_TYPE: "browser",
                attr.ACTIVITY_ACTION: "navigate",
                attr.BROWSER_REDIRECT_CHAIN: [
                    f"https://sso.example.com/cb?ticket={s}",
                    "https://app.example.com/",
                ],
            },
        ),
    ]
    for name, make in attributes:
        secret = tok(f"foreign-{name}", 24)
        case(
            "foreign-spans", name, secret, foreign("foreign operation", make(secret)), foreign=True
        )
    for number, template in enumerate(
        ["GET /oauth/cb?code={s}", "login password={s}", "exec mysql -p{s}"]
    ):
        secret = tok(f"fname{number}", 24)
        case(
            "foreign-spans",
            f"span-name-{number}",
            secret,
            foreign(template.format(s=secret), {}),
            foreign=True,
        )
    for number, template in enumerate(
        ["auth failed for token={s}", "Command '['redis-cli', '-a', '{s}']' returned 1"]
    ):
        secret = tok(f"fstatus{number}", 24)
        case(
            "foreign-spans",
            f"status-{number}",
            secret,
            foreign("op", {}, status=template.format(s=secret)),
            foreign=True,
        )
    for number, (event, attributes_of) in enumerate(
        [
            (
                "exception",
                lambda s: {
                    "exception.message": f"login failed: password={s}",
                    "exception.type": "AuthError",
                },
            ),
            (
                "exception",
                lambda s: {
                    "exception.stacktrace": f'File "x.py"\n  connect("postgresql://u:{s}@db/app")'
                },
            ),
            ("request", lambda s: {"http.request.header.authorization": f"Bearer {s}"}),
            ("Bearer {s}", lambda s: {}),
        ]
    ):
        secret = tok(f"fevent{number}", 24)
        events = ((event.format(s=secret), attributes_of(secret)),)
        case(
            "foreign-spans",
            f"event-{number}",
            secret,
            foreign("op", {}, events=events),
            foreign=True,
        )
    yield


# --- 8. keystrokes ------------------------------------------------------------------------------


def _keystrokes() -> Iterator[None]:
    # registered secrets typed with a correction, Shift held, a cursor move: replayed first
    secret = pw("keys-backspace")
    registered(
        case(
            "keystrokes",
            "backspace",
            secret,
            typed(secret[:4] + "x<BackSpace>" + secret[4:]),
            keystrokes=True,
        )
    )
    secret = pw("keys-shift")
    held = "".join(f"<Shift_L>{c.lower()}" if c.isupper() else c for c in secret)
    registered(case("keystrokes", "shift-held", secret, typed(held), keystrokes=True))
    secret = pw("keys-left")
    registered(
        case(
            "keystrokes",
            "cursor-left",
            secret,
            typed(secret[:-2] + secret[-1] + "<Left>" + secret[-2]),
            keystrokes=True,
        )
    )
    for number in range(3):
        secret = pw(f"keys-typed{number}")
        case("keystrokes", f"mysql-typed-{number}", secret, typed(f"mysql -u root -p{secret}\n"))
    secret = tok("keys-vendor", 36)
    case("keystrokes", "token-typed", f"ghp_{secret}", typed(f"export GH_TOKEN=ghp_{secret}\n"))
    secret = pw("keys-registered")
    registered(case("keystrokes", "registered-typed", secret, typed(secret)))
    yield


# --- 9. browser ---------------------------------------------------------------------------------


def _browser() -> Iterator[None]:
    for number, template in enumerate(
        [
            "https://app.example.com/oauth/callback?code={s}&state=xyz",
            "https://app.example.com/#access_token={s}&token_type=bearer",
            "https://app.example.com/dl?session={s}",
            "https://sso.example.com/cas/login?ticket=ST-{s}",
            "https://app.example.com/magic?login_token={s}",
            "https://app.example.com/reset?reset_token={s}",
            "https://app.example.com/x;jsessionid={s}",
            "https://{s}@git.example.com/org/repo",
        ]
    ):
        secret = tok(f"nav{number}", 26)
        case("browser", f"url-{number}", secret, navigate(template.format(s=secret)))
    for number, template in enumerate(
        [
            "https://idp.example.com/authorize?state={s}&client_id=app",
            "https://sso.example.com/cb?SAMLResponse={s}",
        ]
    ):
        secret = tok(f"chain{number}", 26)
        case(
            "browser",
            f"redirect-chain-{number}",
            secret,
            navigate(
                "https://app.example.com/home",
                (template.format(s=secret), "https://app.example.com/login"),
            ),
        )
    fields = [
        ("input[name=pass]", "pw"),
        ("input[name=pw]", "pw"),
        ("#pin", "pin"),
        ("input[name=otp]", "pin"),
        ("#totp-code", "pin"),
        ("input[name=cvv]", "cvv"),
        ("input[autocomplete=one-time-code]", "pin"),
        ("#mfa-token", "pin"),
    ]
    for number, (selector, style) in enumerate(fields):
        r = _rng(f"field{number}")
        secret = (
            pw(f"field{number}")
            if style == "pw"
            else str(r.randint(100000, 999999))
            if style == "pin"
            else f"{r.randint(100, 999)}9"
        )
        secret = secret if len(secret) >= 8 else secret + str(r.randint(10, 99)) + "7"
        case(
            "browser",
            f"field-{number}",
            secret,
            seed(
                browser.track_browser_action, action="type", selector=selector, input_value=secret
            ),
        )
    secret = pw("upload-name")
    case(
        "browser",
        "upload-file-name",
        secret,
        seed(file.track_file_upload, path=f"/uploads/token={secret}.csv"),
    )
    passphrase = "correct Horse {n} battery".format(n=_rng("pp").randint(100, 999))
    registered(
        case(
            "browser",
            "re-encoded-passphrase",
            passphrase,
            navigate(f"https://app.example.com/s?q={quote(passphrase)}"),
            forms=(quote(passphrase),),
        )
    )
    host = "RegHostLabel" + str(_rng("hl").randint(100, 999))
    registered(
        case(
            "browser",
            "lower-cased-host",
            host,
            navigate(f"https://{host.lower()}.example.com/"),
            forms=(host.lower(),),
        )
    )
    secret = tok("page-error", 24)
    case(
        "browser",
        "page-error",
        secret,
        failure(
            RuntimeError(
                f"Error: page.goto: net::ERR_FAILED at https://x.io/?access_token={secret}"
            ),
            run="navigate",
        ),
    )
    yield


# --- 10. subprocess forms and our own logs -------------------------------------------------------


def _subprocess_forms() -> Iterator[None]:
    from pathlib import PurePosixPath

    secret = pw("sub-bytes")
    case("subprocess", "bytes-command", secret, command(f"mysql -p{secret} shop".encode().decode()))
    secret = pw("sub-argv")
    case("subprocess", "argv-list", secret, argv(["sshpass", "-p", secret, "ssh", "web1"]))
    secret = pw("sub-argv-bytes")

    def deliver_bytes() -> None:
        record = ActivityRecord(ActivityType.TERMINAL, "execute")
        record.set_text(
            attr.PROCESS_COMMAND_LINE, [b"redis-cli", b"-a", secret.encode()], "command"
        )
        record.end()

    case("subprocess", "argv-bytes", secret, deliver_bytes)
    secret = pw("sub-path")

    def deliver_path() -> None:
        record = ActivityRecord(ActivityType.TERMINAL, "execute")
        record.set_text(
            attr.PROCESS_COMMAND_LINE, [PurePosixPath("/usr/bin/mysql"), f"-p{secret}"], "command"
        )
        record.end()

    case("subprocess", "argv-pathlike", secret, deliver_path)
    secret = pw("sub-shell")
    case("subprocess", "shell-c", secret, command(f"bash -c 'export DB_PASSWORD={secret}; ./run'"))
    secret = pw("sub-ssh")
    case("subprocess", "ssh-remote", secret, command(f'ssh web1 "redis-cli -a {secret} ping"'))
    secret = pw("sub-sudo")
    case(
        "subprocess",
        "sudo-stdin",
        secret,
        command(f"echo {secret} | sudo -S systemctl restart app"),
    )
    secret = pw("sub-nul")
    case("subprocess", "nul-bytes", secret, command(f"mysql\x00-p{secret}\x00shop"))
    secret = pw("sub-huge")
    case(
        "subprocess",
        "long-output",
        secret,
        command("./build", "x" * 70000 + f"\nexport API_TOKEN={secret}\n"),
    )
    secret = pw("sub-unicode")
    case("subprocess", "unicode", secret, command(f"İstanbul 🔑 mysql -p{secret}"))
    secret = pw("sub-log")

    def deliver_failure() -> None:
        from autobot_activity_otel.secrets import engine

        original = engine._redact

        def broken(text: str, kind: str, context: str | None) -> None:
            raise RuntimeError(text)

        engine._redact = broken  # type: ignore[assignment]
        try:
            command(f"mysql -p{secret}")()
        finally:
            engine._redact = original

    case("own-logs", "engine-failure", secret, deliver_failure)
    yield


# --- 11. the project's own secrets --------------------------------------------------------------


def _child_prints(name: str, value: str, env: dict[str, str] | None = None) -> str:
    """Run a real child under the terminal instrumentation that prints ``name`` from its
    environment (a URL's password, if it is a URL) with ``value`` set after start-up."""
    import os

    from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor

    code = (
        f"import os, urllib.parse as u; v = os.environ.get({name!r}, ''); "
        "print(u.urlsplit(v).password if '://' in v else v)"
    )
    instrumentor = TerminalInstrumentor()
    instrumentor.instrument()  # start-up: own secrets registered, then this one is set
    previous = os.environ.get(name)
    try:
        if env is None:
            os.environ[name] = value
        shown = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
    finally:
        instrumentor.uninstrument()
        if env is None and previous is None:
            os.environ.pop(name, None)
        elif env is None and previous is not None:
            os.environ[name] = previous
    return shown


def _own() -> Iterator[None]:
    def own_output(name: str, value: str, shown: str) -> Callable[[], None]:
        def deliver() -> None:
            import os

            from autobot_activity_otel.secrets import register_own_secrets, unregister_secret

            previous = os.environ.get(name)
            os.environ[name] = value
            try:
                ids = register_own_secrets()
                try:
                    command("env", shown)()
                finally:
                    for secret_id in ids:
                        unregister_secret(secret_id)
            finally:
                if previous is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = previous

        return deliver

    def child_env(name: str, value: str) -> Callable[[], None]:
        return lambda: _child_prints(name, value) and None

    variables = [
        ("fingerprint-key", "AUTOBOT_ACTIVITY_FINGERPRINT_KEY", lambda t: tok(t, 40).lower()),
        ("database-url", "AUTOBOT_ACTIVITY_DATABASE_URL", pw),
        ("ingest-token", "AUTOBOT_ACTIVITY_INGEST_TOKEN", lambda t: hexs(t, 40)),
        ("token", "AUTOBOT_ACTIVITY_TOKEN", lambda t: tok(t, 32)),
        ("named-password", "AUTOBOT_ACTIVITY_SMTP_PASSWORD", pw),
        ("otlp-headers", "OTEL_EXPORTER_OTLP_HEADERS", lambda t: tok(t, 30)),
    ]
    for label, name, make in variables:
        secret = make(f"own-{label}-registered")
        value = secret
        if label == "database-url":
            value = f"postgresql://writer:{secret}@db.internal:5432/audit"
        elif label == "otlp-headers":
            value = f"authorization=Bearer%20{secret}"
        shown = {
            "fingerprint-key": f"HOME=/root\nAUTOBOT_ACTIVITY_INGEST={secret}\n",
            "database-url": f"connecting as writer with {secret}\n",
        }.get(label, f"X={secret}\n")
        case("own-secrets", f"{label}-registered", secret, own_output(name, value, shown))
        secret = make(f"own-{label}-child-env")
        value = secret
        if label == "database-url":
            value = f"postgresql://writer:{secret}@db.internal:5432/audit"
        elif label == "otlp-headers":
            value = f"authorization=Bearer%20{secret}"
        case("own-secrets", f"{label}-child-env", secret, child_env(name, value))

    secret = tok("child-env-real", 40)

    def real_child() -> None:
        import os

        env = dict(os.environ, AUTOBOT_ACTIVITY_SERVICE_TOKEN=secret)
        _child_prints("AUTOBOT_ACTIVITY_SERVICE_TOKEN", secret, env)

    case("own-secrets", "child-prints-inherited", secret, real_child)
    yield


# --- round two: new shapes of the classes the second round closed ------------------------------


def _more_seed_parameters() -> Iterator[None]:
    """Every free text through the redactor: names, renamed actions, metadata, sessions."""

    def named(secret: str) -> Callable[[], None]:
        def deliver() -> None:
            from autobot_activity_otel.recording import start_activity

            start_activity(ActivityType.TERMINAL, "execute", name=f"deploy {secret}").end()

        return deliver

    def renamed(secret: str) -> Callable[[], None]:
        def deliver() -> None:
            record = ActivityRecord(ActivityType.BROWSER, "click")
            record.rename(f"submit-{secret}")
            record.end()

        return deliver

    def unparsed_user(secret: str) -> Callable[[], None]:
        def deliver() -> None:
            @terminal.terminal_activity
            def handler(command: str, user_id: str) -> int:
                return 0

            handler("ls", user_id=f"user-{secret}")

        return deliver

    def metadata_note(secret: str) -> Callable[[], None]:
        def deliver() -> None:
            record = ActivityRecord(ActivityType.FILE, "read")
            record.set_text(attr.FILE_PATH, "/tmp/notes.txt")
            record.metadata["note"] = {"deep": [f"handler said {secret}"]}
            record.end()

        return deliver

    registered_shapes: list[tuple[str, Callable[[str], Callable[[], None]]]] = [
        ("span-name", named),
        ("renamed-action", renamed),
        ("unparsed-user-id", unparsed_user),
        ("nested-metadata", metadata_note),
        (
            "keyboard-session",
            lambda s: seed(desktop.track_keyboard_input, text="ls", session_id=f"s-{s}"),
        ),
        (
            "window-focus-app",
            lambda s: seed(desktop.track_window_focus, window_title="Term", app_name=f"app {s}"),
        ),
        (
            "form-session",
            lambda s: seed(browser.track_form_submission, url="https://x.io", session_id=s),
        ),
    ]
    for name, make in registered_shapes:
        secret = pw(f"seed2-{name}")
        registered(case("seed-parameters", name, secret, make(secret)))
    rule_shapes: list[tuple[str, Callable[[str], Callable[[], None]]]] = [
        (
            "pty-id-assignment",
            lambda s: seed(terminal.track_pty_session_creation, pty_id=f"pty token={s}"),
        ),
        (
            "session-assignment",
            lambda s: seed(browser.track_element_click, selector="#ok", session_id=f"password={s}"),
        ),
        (
            "desktop-action-assignment",
            lambda s: seed(desktop.track_desktop_action, action=f"paste api_key={s}"),
        ),
        (
            "screenshot-key-path",
            lambda s: seed(desktop.track_screenshot_capture, screenshot_path=f"/s/api_key={s}.png"),
        ),
        (
            "context-session-assignment",
            lambda s: _in_context(f"secret={s}", command("git status")),
        ),
    ]
    for name, make in rule_shapes:
        secret = pw(f"seed2-{name}")
        case("seed-parameters", name, secret, make(secret))
    yield


def _coalesced(pieces: list[str], pause: float, **windows: float) -> Callable[[], None]:
    """Keys through the VNC instrumentor's coalescer, with a pause between the pieces."""

    def deliver() -> None:
        import time

        from autobot_activity_otel.instrumentation.vnc.coalescer import Coalescer

        options = {"move_window": 0.05, "keystroke_window": 0.05, "max_run": 10.0, **windows}
        coalescer = Coalescer(trace.get_tracer("adversarial.vnc"), **options)
        connection = object()
        try:
            for number, piece in enumerate(pieces):
                if number:
                    time.sleep(pause)
                for key in KEY_PIECES.findall(piece):
                    coalescer.keys(connection, lambda _: (None, None), key)
        finally:
            coalescer.close()

    return deliver


KEY_PIECES = re.compile(r"<[^<>\s]{1,40}>|.", re.DOTALL)
"""One key event's text each: a named key (``<BackSpace>``) or a character."""


def _more_keystrokes() -> Iterator[None]:
    """Registered values typed with every kind of correction, and rule-found ones replayed."""
    edits: list[tuple[str, Callable[[str], str]]] = [
        ("ctrl-u-retry", lambda s: "wrong-attempt<ctrl-u>" + s),
        ("home-prefix", lambda s: s[1:] + "<Home>" + s[0]),
        ("delete-after-left", lambda s: s + "q<Left><Delete>"),
        ("del-characters", lambda s: s[:3] + "zz\x7f\x7f" + s[3:]),
        (
            "held-shift",
            lambda s: "".join(f"<+Shift_L>{c.lower()}<-Shift_L>" if c.isupper() else c for c in s),
        ),
        (
            "caps-lock",
            lambda s: "".join(
                f"<Caps_Lock>{c.lower()}<Caps_Lock>" if c.isupper() else c for c in s
            ),
        ),
        ("two-backspaces", lambda s: s[:2] + "ab<BackSpace><BackSpace>" + s[2:]),
        ("end-after-home", lambda s: s[:-3] + "<Home><End>" + s[-3:]),
    ]
    for name, edit in edits:
        secret = pw(f"keys2-{name}")
        registered(case("keystrokes", name, secret, typed(edit(secret)), keystrokes=True))
    # the same through the real coalescer: a pause, and a run cut by max_run
    secret = pw("keys2-pause")
    registered(
        case(
            "keystrokes",
            "coalesced-pause",
            secret,
            _coalesced([secret[:8], secret[8:] + "\n"], 0.2, field_window=5.0),
            forms=(secret[:8],),  # a piece left whole in an activity of its own
            keystrokes=True,
        )
    )
    secret = pw("keys2-max-run")
    registered(
        case(
            "keystrokes",
            "coalesced-max-run",
            secret,
            _coalesced([secret[:8], secret[8:] + "\n"], 0.15, max_run=0.1, field_window=5.0),
            forms=(secret[:8],),
            keystrokes=True,
        )
    )
    secret = pw("keys2-coalesced-shift")
    held = "".join(f"<+shift>{c.lower()}<-shift>" if c.isupper() else c for c in secret)
    registered(
        case(
            "keystrokes",
            "coalesced-held-shift",
            secret,
            _coalesced([held[: len(held) // 2], held[len(held) // 2 :] + "\n"], 0.1),
            keystrokes=True,
        )
    )
    # unregistered: a rule finds the value once the corrections are replayed
    secret = pw("keys2-mysql")
    case(
        "keystrokes",
        "mysql-corrected",
        secret,
        typed(f"mysql -u root -p{secret[:3]}x<BackSpace>{secret[3:]}\n"),
        keystrokes=True,
    )
    secret = tok("keys2-export", 30)
    case(
        "keystrokes",
        "export-shift-held",
        secret,
        typed(
            "export API_TOKEN="
            + "".join(f"<Shift_L>{c.lower()}" if c.isupper() else c for c in secret)
            + "\n"
        ),
        keystrokes=True,
    )
    yield


def _more_browser_fields() -> Iterator[None]:
    """Values typed into fields a selector names as secret (no ``input_is_secret``)."""
    selectors = [
        "#pinCode",
        "input[autocomplete=cc-number]",
        "input[autocomplete=new-password]",
        "input[type=password][name=login]",
        "label=PIN",
        "[placeholder='Security code']",
        "#otp_input",
        "input[name=verification_code]",
        "input[data-testid=mfa-code]",
        "[aria-label='One-time passcode']",
        "input[name=cc-csc]",
        "#current-password",
    ]
    for number, selector in enumerate(selectors):
        r = _rng(f"field2-{number}")
        secret = str(r.randint(10_000_000, 99_999_999)) if number % 2 else pw(f"field2-{number}")
        case(
            "browser",
            f"field-selector-{number}",
            secret,
            seed(
                browser.track_browser_action, action="type", selector=selector, input_value=secret
            ),
        )
    yield


def _more_own() -> Iterator[None]:
    """More of the project's own secrets: other variables, other ways of starting a child."""
    secret = tok("own2-traces-headers", 30)
    case(
        "own-secrets",
        "otlp-traces-headers-child-env",
        secret,
        lambda: _child_prints("OTEL_EXPORTER_OTLP_TRACES_HEADERS", secret) and None,
    )
    secret = tok("own2-asyncio", 36)

    def asyncio_child() -> None:
        import os

        from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor

        async def run() -> None:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "import os; print(os.environ.get('AUTOBOT_ACTIVITY_RELAY_TOKEN', ''))",
                stdout=subprocess.PIPE,
            )
            await process.communicate()

        instrumentor = TerminalInstrumentor()
        instrumentor.instrument()
        os.environ["AUTOBOT_ACTIVITY_RELAY_TOKEN"] = secret
        try:
            asyncio.run(run())
        finally:
            os.environ.pop("AUTOBOT_ACTIVITY_RELAY_TOKEN", None)
            instrumentor.uninstrument()

    case("own-secrets", "asyncio-child-env", secret, asyncio_child)
    secret = pw("own2-percent")

    def percent_printed() -> None:
        import os

        from autobot_activity_otel.secrets import register_own_secrets, unregister_secret

        os.environ["AUTOBOT_ACTIVITY_SMTP_PASSWORD"] = secret
        try:
            ids = register_own_secrets()
            try:
                command("cat mail.url", f"smtp://mailer:{quote(secret, safe='')}@mx/\n")()
            finally:
                for secret_id in ids:
                    unregister_secret(secret_id)
        finally:
            os.environ.pop("AUTOBOT_ACTIVITY_SMTP_PASSWORD", None)

    case(
        "own-secrets",
        "percent-encoded-registered",
        secret,
        percent_printed,
        forms=(quote(secret, safe=""),),
    )
    secret = tok("own2-extra", 32)

    def minted() -> None:
        from autobot_activity_otel.secrets import register_own_secrets, unregister_secret

        ids = register_own_secrets(extra={"ingest-token": secret})
        try:
            command("cat token.txt", f"{secret}\n")()
        finally:
            for secret_id in ids:
                unregister_secret(secret_id)

    case("own-secrets", "minted-token-registered", secret, minted)
    # vncdotool's own log of a clipboard the remote desktop sent, while VNC is instrumented
    secret = tok("own2-clipboard", 30)

    def clipboard_logged() -> None:
        from vncdotool.client import VNCDoToolClient

        from autobot_activity_otel.instrumentation.vnc import VNCInstrumentor

        instrumentor = VNCInstrumentor()
        instrumentor.instrument()
        try:
            VNCDoToolClient.copy_text(None, f"API_KEY={secret}")  # type: ignore[arg-type]
            command("vnc copy")()
        finally:
            instrumentor.uninstrument()

    case("own-logs", "vncdotool-clipboard", secret, clipboard_logged)
    yield


for _builder in (
    _commands,
    _output,
    _exceptions,
    _file_names,
    _seed_parameters,
    _registered,
    _foreign,
    _keystrokes,
    _browser,
    _subprocess_forms,
    _own,
    _more_seed_parameters,
    _more_keystrokes,
    _more_browser_fields,
    _more_own,
):
    list(_builder())
