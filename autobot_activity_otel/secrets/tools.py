"""The per-tool table: what each command's flags, positionals and environment variables mean.

Data only; ``commands.py`` reads it. A tool's password flags say whether the value must be
attached (``-pX``) or may follow (``-p X``); ``value_flags`` take a value that is not a secret
(so the next word is skipped, not read as a positional); ``env`` names the variables the tool
reads its secret from (``SSHPASS=... sshpass -e``), which are secrets wherever they are assigned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``: keeps the long tables readable."""
    return frozenset(text.split())


class Mode(Enum):
    """How a password flag carries its value."""

    ATTACHED = "attached"  # only -pVALUE / --flag=VALUE (mysql: a bare -p prompts)
    VALUE = "value"  # -p VALUE, -pVALUE, --flag VALUE, --flag=VALUE
    AFTER_COLON = "after-colon"  # user:password (curl -u)
    AFTER_PERCENT = "after-percent"  # user%password (smbclient -U)
    AFTER_COMMA = "after-comma"  # user,password (lftp -u)
    CREDENTIALS = "credentials"  # user:password, or a token alone (--auth, _auth)
    COOKIE = "cookie"  # name=value; name2=value2 (curl -b, --cookie): every value
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
    env: frozenset[str] = frozenset()
    """Environment variables the tool reads a secret from: secrets wherever they are set."""


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
        env=word_set("MYSQL_PWD"),
    ),
    Tool(
        "sshpass-password",
        word_set("sshpass"),
        flags={"-p": _V},
        value_flags=word_set("-f -d -P"),
        wrapper=True,
        env=word_set("SSHPASS"),
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
        flags={"-a": _V, "--pass": _V, "--askpass": _V},
        value_flags=word_set("-h -p -n -u -s --user"),
        switches=word_set("--askpass"),
        env=word_set("REDISCLI_AUTH"),
    ),
    Tool(
        "htpasswd-password",
        word_set("htpasswd"),
        value_flags=word_set("-C -r"),
        positional={"nb": 1, "b": 2},
        stdin_flags=word_set("-i"),
    ),
    Tool(
        "redis-password",
        word_set("redis-server keydb-server valkey-server redis-sentinel"),
        flags={"--requirepass": _V, "--masterauth": _V},
        value_flags=word_set("--port --bind --dir --dbfilename --masteruser"),
    ),
    Tool(
        "smbclient-password",
        word_set("smbclient rpcclient smbget smbcacls smbtree"),
        flags={"-U": Mode.AFTER_PERCENT, "--user": Mode.AFTER_PERCENT, "--password": _V},
        value_flags=word_set("-W -I -p -m -n -c -D -A"),
        env=word_set("PASSWD"),
    ),
    Tool(
        "smb-password",
        word_set("smbmap crackmapexec nxc netexec evil-winrm impacket-psexec psexec psexec.exe"),
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
            "--cookie": Mode.COOKIE,
            "-b": Mode.COOKIE,
        },
        value_flags=word_set(
            "-H -d -o -X -A -e -F -T -x -w -c -K -m -r -C -Y -y -z --data --data-raw "
            "--data-binary --data-urlencode --header --output --request --user-agent --referer "
            "--form --upload-file --proxy --cookie-jar --config --max-time --cacert "
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
        env=word_set("WGETRC_PASSWORD"),
    ),
    Tool(
        "lftp-password",
        word_set("lftp ncftp ncftpget ncftpput"),
        flags={"-u": Mode.AFTER_COMMA, "--user": Mode.AFTER_COMMA, "-p": _V},
        value_flags=word_set("-e -c -f -P --port"),
        env=word_set("LFTP_PASSWORD"),
    ),
    Tool(
        "http-credentials",
        word_set("http https xh httpie ab"),
        flags={"-a": Mode.AFTER_COLON, "--auth": Mode.AFTER_COLON, "-A": Mode.AFTER_COLON},
        value_flags=word_set("-v --verify --cert --cert-key -o --output -n -c -t -T -p"),
    ),
    Tool(
        "rsync-password",
        word_set("rsync"),
        env=word_set("RSYNC_PASSWORD"),
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
        env=word_set("LDAPBINDPW"),
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
        env=word_set("SQLCMDPASSWORD"),
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
    Tool(
        "vault-token",
        word_set("vault"),
        subcommands=word_set("login"),
        positional={"": 0},
        env=word_set("VAULT_TOKEN"),
    ),
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
        "config-value",
        word_set("rclone"),
        subcommands=word_set("create update"),
        named_values=True,
    ),
    Tool(
        "minio-secret",
        word_set("mc mcli"),
        subcommands=word_set("set add"),
        positional={"": 3},
    ),
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
        env=word_set("PGPASSWORD"),
    ),
    Tool(
        "windows-password",
        word_set("net net.exe"),
        subcommands=word_set("use"),
        positional={"": 1},
    ),
    Tool(
        "password-manager",
        word_set("bw op"),
        env=word_set("BW_SESSION BW_PASSWORD BW_CLIENTSECRET OP_SESSION OP_SERVICE_ACCOUNT_TOKEN"),
    ),
    Tool(
        "registry-auth",
        word_set("npm yarn pnpm docker"),
        env=word_set(
            "NPM_CONFIG__AUTH NPM_CONFIG__PASSWORD DOCKER_AUTH_CONFIG YARN_NPM_AUTH_IDENT"
        ),
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
