"""A labelled corpus of what an agent types or sees: secrets per rule and tool, and look-alikes.

Every secret here is made up. A positive case names the planted value (which must not survive
redaction) and the rule expected to find it; a negative case must produce no finding at all.
Shared by the tests (tests/secrets/test_secret_corpus.py) and the benchmark, which scores
detect-secrets on the same cases.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    text: str
    kind: str
    secret: str | None = None
    rule: str | None = None
    context: str | None = None
    """The text just before this one (the command whose output it is), as recording gives it."""

    @property
    def positive(self) -> bool:
        return self.secret is not None


GH = "ghp_R8x2Lq0vTz5Nw3Ya7Kd1Hc9Ue4Sj6Pm2Bf0Xy"
GL = "glpat-Zk3u9XwQ2rT8vLm1Np4s"
SLACK = "xoxb-2048-4096-Vb7Qz1Lk3Rt9Wm5Ns2Pd8Xc"
STRIPE = "sk_live_51Hq8ZpLk3R9tWm5Ns2Pd8XcVb7Qz1"
GOOGLE = "AIzaSyB3k9Qz1Lw5Rt7Nm2Pd8Xc4Vb6Hj0Kq3sT"
OPENAI = "sk-proj-4fT9kQ2zLw8Rx1Nm5Pd7Xc3Vb6Hj0Kq2sYt"
ANTHROPIC = "sk-ant-api03-Xk2Q9zLw5Rt7Nm3Pd8Xc4Vb6Hj0Kq1sYtUe"
NPM = "npm_Qz1Lk3Rt9Wm5Ns2Pd8XcVb7Hj0Kq4sYtUe6A"
VAULT = "hvs.CAESIJk2Qz9Lw5Rt7Nm3Pd8Xc4Vb6Hj0Kq1sYtUeGh4KHGh2cy5aW"
VAULT_LEGACY = "s.Qz9Lw5Rt7Nm3Pd8Xc4Vb6Hj0"
AWS_ID = "AKIAQ3EGUSB4XK7PLM2Z"
AWS_SECRET = "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"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZ2VudC00MiIsImlhdCI6MTcwMDAwMDAwMH0"
    ".Qz9Lw5Rt7Nm3Pd8Xc4Vb6Hj0Kq1sYtUeGh4KHGh2cy5"
)
PYPI = "pypi-AgEIcHlwaS5vcmcCJGQ5ZDk3Mzk0LTQ5YWQtNGI1MS1iYjI1LTU5NzQ2ZmNkYjQ2OQ"
DOCKER_PAT = "dckr_pat_Qz9Lw5Rt7Nm3Pd8Xc4Vb6Hj0Kq1s"
HF = "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"
SENDGRID = "SG.Qz9Lw5Rt7Nm3Pd8Xc4Vb6H.j0Kq1sYtUeGh4KHGh2cy5aWQz9Lw5Rt7Nm3Pd8Xc4Vb6"
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0"

_P = Case

POSITIVES: tuple[Case, ...] = (
    # --- mysql family -------------------------------------------------------------------------
    _P("mysql -u root -pS3cretPw shop", "command", "S3cretPw", "mysql-password"),
    _P("mysql -uroot -pS3cretPw -h db.internal shop", "command", "S3cretPw", "mysql-password"),
    _P("mysql --user=app --password=Pa55w0rd! shop", "command", "Pa55w0rd!", "mysql-password"),
    _P("mysql --password Pa55w0rd2 -u app", "command", "Pa55w0rd2", "mysql-password"),
    _P("mysqldump -u backup -p'dump pw 9' --all-databases", "command", "dump pw 9"),
    _P("mysqladmin -u root -pAdm1nPw status", "command", "Adm1nPw", "mysql-password"),
    # a flag quoted whole, as shlex.join writes an argv word holding shell characters
    _P("mysql -u root '-pS3cret!x' shop", "command", "S3cret!x", "mysql-password"),
    _P('docker login -u ci "--password=Rg9!tokn" reg.io', "command", "Rg9!tokn"),
    _P("mariadb -u root -pMariaPw7 -e 'show databases'", "command", "MariaPw7"),
    _P("sudo mysql -u root -pSudoPw11 < dump.sql", "command", "SudoPw11", "mysql-password"),
    _P("docker exec -it db mysql -uroot -pInCont4iner shop", "command", "InCont4iner"),
    _P("cd /srv && mysql -h 10.0.0.5 -P 3306 -u app -pChainPw1 app_db", "command", "ChainPw1"),
    _P('mysql -u root -p"Quoted Pw 1" shop', "command", "Quoted Pw 1", "mysql-password"),
    # --- sshpass ------------------------------------------------------------------------------
    _P(
        "sshpass -p Ssh.Pass99 ssh -p 2222 deploy@web1", "command", "Ssh.Pass99", "sshpass-password"
    ),
    _P("sshpass -pInlinePw3 scp file deploy@web1:/tmp", "command", "InlinePw3"),
    _P("sshpass -p 'with space 7' rsync -a src/ web1:dst/", "command", "with space 7"),
    # --- registry logins ----------------------------------------------------------------------
    _P("docker login -u bob -p D0ckerPw! registry.example.com", "command", "D0ckerPw!"),
    _P("docker login --username bob --password D0ckerPw2 ghcr.io", "command", "D0ckerPw2"),
    _P("podman login -u bob -p P0dmanPw quay.io", "command", "P0dmanPw", "registry-password"),
    _P("helm registry login -u bob --password H3lmPw5 reg.io", "command", "H3lmPw5"),
    _P("echo Piped-Pw-42 | docker login -u bob --password-stdin", "command", "Piped-Pw-42"),
    _P("printf '%s' PrintfPw8 | podman login --password-stdin -u x r.io", "command", "PrintfPw8"),
    _P("az login -u ops@example.com -p Az-Pass-33", "command", "Az-Pass-33", "az-password"),
    # --- redis, htpasswd, smb, openssl --------------------------------------------------------
    _P("redis-cli -h cache -p 6379 -a R3disPw get k", "command", "R3disPw", "redis-password"),
    _P("redis-cli --pass R3disPw2 ping", "command", "R3disPw2", "redis-password"),
    _P("htpasswd -b /etc/nginx/.htpasswd alice Htp4ssword", "command", "Htp4ssword"),
    _P("htpasswd -nbB alice Htp4ssword2", "command", "Htp4ssword2", "htpasswd-password"),
    _P("htpasswd -cb .htpasswd bob Htp4ssword3", "command", "Htp4ssword3", "htpasswd-password"),
    _P("smbclient //fs/share -U 'CORP\\alice%Smb-Pw-1'", "command", "Smb-Pw-1"),
    _P("smbclient -L fs -U alice%SmbPw2", "command", "SmbPw2", "smbclient-password"),
    _P("smbmap -H 10.0.0.9 -u admin -p SmbMapPw3", "command", "SmbMapPw3", "smb-password"),
    _P("openssl enc -aes-256-cbc -in a -out b -pass pass:Enc-Pw-4", "command", "Enc-Pw-4"),
    _P("openssl pkcs12 -export -in c.pem -out c.p12 -passout pass:P12pw55", "command", "P12pw55"),
    _P("openssl rsa -in k.pem -passin pass:RsaPw66 -out k2.pem", "command", "RsaPw66"),
    _P("openssl enc -d -aes256 -k KayPw777 -in x.enc", "command", "KayPw777", "openssl-password"),
    # --- curl, wget ---------------------------------------------------------------------------
    _P("curl -u admin:Curl-Pw-9 https://api.example.com/v1", "command", "Curl-Pw-9"),
    _P(
        "curl --user admin:CurlPw10 -X POST https://x.io", "command", "CurlPw10", "curl-credentials"
    ),
    _P("curl -uadmin:CurlPw11 https://x.io", "command", "CurlPw11", "curl-credentials"),
    _P(
        "curl -H 'Authorization: Bearer Tk9Lw5Rt7Nm3Pd8Xc4Vb6' https://api.x.io",
        "command",
        "Tk9Lw5Rt7Nm3Pd8Xc4Vb6",
        "authorization",
    ),
    _P(
        'curl -H "Authorization: Basic YWRtaW46Q3VybFB3MTI=" https://x.io',
        "command",
        "YWRtaW46Q3VybFB3MTI=",
        "authorization",
    ),
    _P('curl -H "X-API-Key: Xk9Lw5Rt7Nm3Pd8Xc4" https://x.io', "command", "Xk9Lw5Rt7Nm3Pd8Xc4"),
    _P("curl --oauth2-bearer Oa2Lw5Rt7Nm3Pd8Xc https://x.io", "command", "Oa2Lw5Rt7Nm3Pd8Xc"),
    _P(
        "wget --password=WgetPw13 ftp://files.example.com/a", "command", "WgetPw13", "wget-password"
    ),
    _P("wget --http-user=bob --http-password=WgetPw14 https://x.io/f", "command", "WgetPw14"),
    _P("wget --ftp-password WgetPw15 ftp://x.io/f", "command", "WgetPw15", "wget-password"),
    # --- kubernetes, vault, cloud CLIs --------------------------------------------------------
    _P(
        "kubectl create secret generic db --from-literal=password=K8sPw16 -n prod",
        "command",
        "K8sPw16",
        "kubernetes-secret",
    ),
    _P(
        "kubectl create secret docker-registry reg --docker-username=u --docker-password=RegPw17",
        "command",
        "RegPw17",
    ),
    _P(f"vault login {VAULT}", "command", VAULT),
    _P("vault login VaultTok3nLegacyValue18", "command", "VaultTok3nLegacyValue18", "vault-token"),
    _P("vault kv put secret/app db_password=VaultKvPw19", "command", "VaultKvPw19", "assignment"),
    _P(
        "az keyvault secret set --vault-name kv --name db --value AzKvPw20",
        "command",
        "AzKvPw20",
        "az-secret-value",
    ),
    _P("gh secret set API_TOKEN --body GhBodyTok21", "command", "GhBodyTok21", "gh-secret-value"),
    _P(
        f"aws configure set aws_secret_access_key {AWS_SECRET}",
        "command",
        AWS_SECRET,
    ),
    _P("npm config set //registry.npmjs.org/:_authToken NpmAuthTok22", "command", "NpmAuthTok22"),
    _P("git config --global github.token GitCfgTok23", "command", "GitCfgTok23", "config-value"),
    _P("gcloud auth login --access-token GcloudTok24abc", "command", "GcloudTok24abc"),
    # --- other tools --------------------------------------------------------------------------
    _P("ldapsearch -x -D cn=admin,dc=ex -w LdapPw25 -b dc=ex", "command", "LdapPw25"),
    _P("mongosh -u admin -p MongoPw26 --authenticationDatabase admin", "command", "MongoPw26"),
    _P("mongodump --username u --password=MongoPw27 --db app", "command", "MongoPw27"),
    _P("sqlcmd -S db -U sa -P SqlCmdPw28 -Q 'select 1'", "command", "SqlCmdPw28"),
    _P("zip -P ZipPw29 -r backup.zip data/", "command", "ZipPw29", "archive-password"),
    _P("7z a -pSevenPw30 backup.7z data/", "command", "SevenPw30", "archive-password"),
    _P("unzip -P UnzipPw31 backup.zip", "command", "UnzipPw31", "archive-password"),
    _P("keytool -list -keystore ks.jks -storepass StorePw32", "command", "StorePw32"),
    _P("ssh-keygen -t ed25519 -N KeygenPw33 -f ~/.ssh/id_x", "command", "KeygenPw33"),
    _P("rabbitmqctl add_user app RabbitPw34", "command", "RabbitPw34", "rabbitmq-password"),
    _P("nmcli dev wifi connect HomeNet password WifiPw35", "command", "WifiPw35", "nmcli-password"),
    _P("echo SudoStdin36 | sudo -S apt-get update", "command", "SudoStdin36", "stdin-secret"),
    _P("docker login -u bob --password-stdin <<< 'HereStr37'", "command", "HereStr37"),
    # --- generic flags --------------------------------------------------------------------------
    _P("./deploy.sh --api-key ApiKeyGen38 --env prod", "command", "ApiKeyGen38", "secret-flag"),
    _P("mytool --token=TokGen39 sync", "command", "TokGen39", "secret-flag"),
    _P("terraform-helper --client-secret CliSec40abc", "command", "CliSec40abc", "secret-flag"),
    _P("app serve --secret SecGen41xyz --port 8080", "command", "SecGen41xyz", "secret-flag"),
    _P("clickhouse-client --password ChPw42 -q 'select 1'", "command", "ChPw42", "secret-flag"),
    _P("gpg --batch --passphrase GpgPhrase43 -d f.gpg", "command", "GpgPhrase43", "secret-flag"),
    _P("java -jar tool.jar -password JavaPw44", "command", "JavaPw44", "secret-flag"),
    _P("rclone sync --s3-secret-access-key RcloneSk45 src dst", "command", "RcloneSk45"),
    # --- assignments --------------------------------------------------------------------------
    _P("PGPASSWORD=PgPw46 psql -h db -U app", "command", "PgPw46", "assignment"),
    _P("export DB_PASSWORD=ExportPw47", "command", "ExportPw47", "assignment"),
    _P("export API_KEY='ExportKey48abc'", "command", "ExportKey48abc", "assignment"),
    _P("MYSQL_PWD=EnvPw49 mysqldump shop > shop.sql", "command", "EnvPw49", "assignment"),
    _P("docker run -e POSTGRES_PASSWORD=DockEnv50 postgres:16", "command", "DockEnv50"),
    _P("docker build --build-arg NPM_TOKEN=BuildArg51 .", "command", "BuildArg51", "assignment"),
    _P("env SECRET_KEY=EnvSk52abc python app.py", "command", "EnvSk52abc", "assignment"),
    _P("ansible-playbook site.yml -e ansible_password=Ans53pw", "command", "Ans53pw"),
    _P("terraform apply -var 'db_password=TfPw54'", "command", "TfPw54", "assignment"),
    _P("DATABASE_PASSWORD=DotEnv55\nDEBUG=false", "output", "DotEnv55", "assignment"),
    _P('{"user": "bob", "password": "JsonPw56"}', "output", "JsonPw56", "assignment"),
    _P('{"api_key":"JsonKey57abc","region":"eu"}', "output", "JsonKey57abc", "assignment"),
    _P("db:\n  user: app\n  password: YamlPw58\n", "output", "YamlPw58", "assignment"),
    _P("client_secret: YamlSec59xyz", "text", "YamlSec59xyz", "assignment"),
    _P("[client]\npassword = IniPw60\n", "output", "IniPw60", "assignment"),
    _P('settings.SECRET_KEY = "DjangoSk61-abc"', "text", "DjangoSk61-abc", "assignment"),
    _P("AWS_SECRET_ACCESS_KEY=" + AWS_SECRET, "output", AWS_SECRET),
    _P("aws_secret_access_key = " + AWS_SECRET, "output", AWS_SECRET),
    _P("X-Auth-Token: XAuth62Lw5Rt7Nm", "output", "XAuth62Lw5Rt7Nm", "assignment"),
    _P("PRIVATE-TOKEN: PrivTok63Rt7Nm3", "output", "PrivTok63Rt7Nm3", "assignment"),
    _P("Authorization: Token Drf64Lw5Rt7Nm3Pd8", "output", "Drf64Lw5Rt7Nm3Pd8", "authorization"),
    _P("authorization: Bearer Lower65Rt7Nm3Pd8", "output", "Lower65Rt7Nm3Pd8", "authorization"),
    _P("ALTER USER app WITH PASSWORD 'SqlAlter66';", "text", "SqlAlter66", "sql-password"),
    _P("CREATE USER 'u'@'%' IDENTIFIED BY 'SqlIdent67';", "text", "SqlIdent67", "sql-password"),
    _P("Your new password: Welcome-2024-68", "output", "Welcome-2024-68", "assignment"),
    # --- URLs ---------------------------------------------------------------------------------
    _P("psql postgresql://app:PgUrlPw69@db:5432/shop", "command", "PgUrlPw69", "url-password"),
    _P("mongodb+srv://admin:MongoUrl70@cluster0.x.mongodb.net/app", "url", "MongoUrl70"),
    _P("redis://:RedisUrl71@cache:6379/0", "url", "RedisUrl71", "url-password"),
    _P("amqp://guest:AmqpUrl72@mq:5672/vhost", "url", "AmqpUrl72", "url-password"),
    _P("ftp://bob:FtpUrl73@files.example.com/pub", "url", "FtpUrl73", "url-password"),
    _P("git clone https://oauth2:GitUrl74abc@gitlab.com/g/p.git", "command", "GitUrl74abc"),
    _P("https://api.example.com/v1/items?access_token=QsTok75abc&page=2", "url", "QsTok75abc"),
    _P("https://x.io/cb#access_token=FragTok76&token_type=bearer", "url", "FragTok76"),
    _P(
        "https://maps.example.com/api?key=Qz9Lw5Rt7Nm3Pd8Xc4Vb6&q=x", "url", "Qz9Lw5Rt7Nm3Pd8Xc4Vb6"
    ),
    _P(
        "https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIDX%2F20240101&X-Amz-Signature=9f3c2a",
        "url",
        "9f3c2a",
        "url-query",
    ),
    _P("https://blob.core.windows.net/c/f?sv=2022&sig=SasSig77%3D", "url", "SasSig77%3D"),
    _P(
        "pip install --index-url https://__token__:PipTok78@pypi.example.com/simple x",
        "command",
        "PipTok78",
    ),
    _P("curl 'https://api.x.io/data?api_key=ApiQs79abc&fmt=json'", "command", "ApiQs79abc"),
    _P("Connecting to https://deploy:HttpsPw80@ci.example.com ...", "output", "HttpsPw80"),
    # --- vendor formats -----------------------------------------------------------------------
    _P(f"git remote set-url origin https://{GH}@github.com/o/r.git", "command", GH),
    _P(f"GH_TOKEN used: {GH}", "output", GH, "github-token"),
    _P(
        "github_pat_11ABCDEFG0Qz9Lw5Rt7Nm3_Pd8Xc4Vb6Hj0Kq1sYtUeGh4KHGh2cy5aW",
        "text",
        "github_pat_11ABCDEFG0Qz9Lw5Rt7Nm3_Pd8Xc4Vb6Hj0Kq1sYtUeGh4KHGh2cy5aW",
        "github-token",
    ),
    _P(f"token for CI: {GL}", "output", GL, "gitlab-token"),
    _P(f"SLACK={SLACK}", "output", SLACK, "slack-token"),
    _P(f"stripe.api_key = '{STRIPE}'", "text", STRIPE, "stripe-key"),
    _P("rk_live_51Hq8ZpLk3R9tWm5Ns2Pd8Xc in logs", "output", "rk_live_51Hq8ZpLk3R9tWm5Ns2Pd8Xc"),
    _P(f"maps loaded with {GOOGLE}", "output", GOOGLE, "google-api-key"),
    _P(f"OPENAI_API_KEY={OPENAI}", "command", OPENAI, "openai-key"),
    _P(f"client = Anthropic(api_key='{ANTHROPIC}')", "text", ANTHROPIC, "anthropic-key"),
    _P(f"//registry.npmjs.org/:_authToken={NPM}", "output", NPM, "npm-token"),
    _P(f"export VAULT_TOKEN={VAULT}", "command", VAULT, "vault-token"),
    _P(f"legacy token {VAULT_LEGACY} issued", "output", VAULT_LEGACY, "vault-token"),
    _P(f"aws_access_key_id = {AWS_ID}", "output", AWS_ID, "aws-access-key-id"),
    _P(f"Cookie header carried {JWT}", "output", JWT, "jwt"),
    _P(f"twine upload -u __token__ -p {PYPI} dist/*", "command", PYPI),
    _P(f"echo {DOCKER_PAT} > /tmp/t", "command", DOCKER_PAT, "docker-hub-token"),
    _P(f"HF token {HF}", "output", HF, "huggingface-token"),
    _P(f"sendgrid: {SENDGRID}", "output", SENDGRID, "sendgrid-key"),
    _P(
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
        "output",
        PEM_BODY,
        "private-key",
    ),
    _P(
        f"cat key\n-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n",
        "output",
        PEM_BODY,
        "private-key",
    ),
    _P(
        "https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEF2/Qz9Lw5Rt7Nm3Pd8Xc4Vb6Hj0",
        "url",
        "Qz9Lw5Rt7Nm3Pd8Xc4Vb6Hj0",
        "slack-webhook",
    ),
    # --- credential files as `cat` shows them ---------------------------------------------------
    _P(
        '{"auths": {"registry.example.com": {"auth": "Ym9iOkQwY2tlclB3IQ=="}}}',
        "output",
        "Ym9iOkQwY2tlclB3IQ==",
        "assignment",
    ),
    _P("db.internal:5432:app:app:PgPassF1le", "output", "PgPassF1le", "pgpass-password"),
    _P("*:*:*:replicator:Repl1cat0r", "output", "Repl1cat0r"),
    _P(
        "machine api.example.com\n  login me@example.com\n  password NetrcPw77",
        "output",
        "NetrcPw77",
        "netrc-password",
    ),
    _P("machine git.example.com login bob password NetrcPw78", "output", "NetrcPw78"),
    # --- keystrokes and processes -------------------------------------------------------------
    _P("mysql -u root -pTyped81Pw\n", "keystrokes", "Typed81Pw", "mysql-password"),
    _P("root  4242  0.1  mysqld --user=mysql --password=PsOut82", "output", "PsOut82"),
    _P(" 1021  sshpass -p HistPw83 ssh web1", "output", "HistPw83", "sshpass-password"),
    _P(
        "Command 'docker login -u ci -p ErrPw84 reg.io' returned non-zero exit status 1.",
        "text",
        "ErrPw84",
        "registry-password",
    ),
    # --- round two: shapes an adversarial review found ---------------------------------------
    _P("SSHPASS='Ssh-Env-Pw7' sshpass -e ssh web1", "command", "Ssh-Env-Pw7", "assignment"),
    _P("REDISCLI_AUTH=Rd5-Auth-77 redis-cli ping", "command", "Rd5-Auth-77", "assignment"),
    _P("BW_SESSION=Bw9SessTok3nValue redis-cli", "command", "Bw9SessTok3nValue", "assignment"),
    _P("curl --cookie 'sessionid=Ck9Lw5Rt7Nm3Pd8' https://x.io", "command", "Ck9Lw5Rt7Nm3Pd8"),
    _P("curl -b 'theme=dark; sid=Abc123Xyz789' https://x.io", "command", "Abc123Xyz789"),
    _P("< Set-Cookie: session=Sx9Lw5Rt7Nm3Pd8; Path=/", "output", "Sx9Lw5Rt7Nm3Pd8", "cookie"),
    _P("https://x.io/cb?code=4/0AX4XfWhQ9zKq&state=ok", "url", "4/0AX4XfWhQ9zKq", "url-query"),
    _P("https://x.io/dl?session=Zk3u9XwQ2rT8", "url", "Zk3u9XwQ2rT8", "url-query"),
    _P("https://sso.x.io/login?ticket=ST-991-Zk3u9XwQ", "url", "ST-991-Zk3u9XwQ", "url-query"),
    _P("https://x.io/reset?reset_token=Rt9Lw5Rt7Nm3", "url", "Rt9Lw5Rt7Nm3", "url-query"),
    _P(
        "git clone https://Zk3u9XwQ2rT8vLm1Np4s@gitlab.example.com/g/r.git",
        "command",
        "Zk3u9XwQ2rT8vLm1Np4s",
        "url-user-token",
    ),
    _P(
        "xfreerdp /u:admin /p:Rdp-Pw-2024 /v:10.0.0.5", "command", "Rdp-Pw-2024", "windows-password"
    ),
    _P("lftp -u deploy,Lftp-Pw-55 sftp://files", "command", "Lftp-Pw-55", "lftp-password"),
    _P(
        """mysql -e "SET PASSWORD FOR 'a'@'%' = 'SetPw-991'" """,
        "command",
        "SetPw-991",
        "sql-password",
    ),
    _P("ALTER USER scott IDENTIFIED BY Tiger-Or4cle;", "text", "Tiger-Or4cle", "sql-password"),
    _P("CREATE LOGIN app WITH PASSWORD = 'MsSql-Pw-8';", "text", "MsSql-Pw-8"),
    _P("Command '['mysql', '-u', 'root', '-pListPw-31']' returned 1", "text", "ListPw-31"),
    _P("Command '['sshpass', '-p', 'ListPw-32', 'ssh', 'h']' timed out", "text", "ListPw-32"),
    _P("mysqldump -u root /srv/backups/gh -pResetPw-9 shop", "command", "ResetPw-9"),
    _P("deployctl push --auth admin:GenAuth-77 prod", "command", "GenAuth-77", "secret-flag"),
    _P("npm config set _auth YWRtaW46TnBtUHc5OQ==", "command", "YWRtaW46TnBtUHc5OQ=="),
    _P("echo -n 'Enc-Pw-4471x' | base64", "command", "Enc-Pw-4471x", "stdin-secret"),
    _P("echo -n 'Gc-Sec-99x1' | gcloud secrets create db --data-file=-", "command", "Gc-Sec-99x1"),
    _P("/data/exports/token=Zk3u9XwQ2r.csv", "text", "Zk3u9XwQ2r", "assignment"),
    _P("mv dump.sql db_password=Hunter22x.bak", "command", "Hunter22x", "assignment"),
    _P("$ printenv DB_PASSWORD\nPr1ntEnv-Pw!\n$ ", "output", "Pr1ntEnv-Pw!", "labelled-value"),
    _P("Your new API key is:\n\n  Ak9Lw5Rt7Nm3Pd8Xc4Vb6\n", "output", "Ak9Lw5Rt7Nm3Pd8Xc4Vb6"),
    _P(
        "Your new API key is Ak8Lw5Rt7Nm3Pd8Xc4Vb6.",
        "output",
        "Ak8Lw5Rt7Nm3Pd8Xc4Vb6",
        "prose-secret",
    ),
    _P("Your PIN is 482913", "output", "482913", "prose-secret"),
    _P(
        "Private-Lines: 1\nAAAAIGvPrivBodyZk3u9XwQ2rT8vLm1Np4sYb7HcQ\nPrivate-MAC: 8f9e0a1b2c"
        "3d4e5f",
        "output",
        "AAAAIGvPrivBodyZk3u9XwQ2rT8vLm1Np4sYb7HcQ",
        "putty-private-key",
    ),
    _P("STRIPE=Zk3u9XwQ2rT8vLm1Np4sYb7HcQ0d\nDEBUG=0", "output", "Zk3u9XwQ2rT8vLm1Np4sYb7HcQ0d"),
    _P("database:\n  password:\n    secure: Nested-Pw-8812\n", "output", "Nested-Pw-8812"),
    _P("[db]\npassword =\n    IniCont-Pw-77\nhost = db\n", "output", "IniCont-Pw-77"),
    _P("SEKRIT=Hunter-2024-x\n", "output", "Hunter-2024-x", "assignment"),
    _P("<server><password>MvnPw-8812</password></server>", "output", "MvnPw-8812", "xml-element"),
    _P("- name: DB_PASSWORD\n  value: K8sEnv-Pw-1\n", "output", "K8sEnv-Pw-1", "nested-value"),
    _P('<add key="ApiKey" value="NetCfg-Key-71" />', "output", "NetCfg-Key-71", "nested-value"),
    _P(".x.io\tTRUE\t/\tTRUE\t0\tsid\tJarVal9Lw5Rt7", "output", "JarVal9Lw5Rt7", "cookie"),
    _P("redis-server --requirepass Rq-Pass-991", "command", "Rq-Pass-991", "redis-password"),
    # --- output read with its command as context ----------------------------------------------
    _P("Ctx-Pw-Hunter-771\n", "output", "Ctx-Pw-Hunter-771", context="printenv DB_PASSWORD"),
    _P("Zk3u9XwQ2rT8vLm1Np4sCtx\n", "output", "Zk3u9XwQ2rT8vLm1Np4sCtx", context="echo $API_TOKEN"),
    _P(
        "sk9Lw5Rt7Nm3Pd8Xc4Vb6Ctx\n",
        "output",
        "sk9Lw5Rt7Nm3Pd8Xc4Vb6Ctx",
        context="vault kv get -field=password secret/db",
    ),
    # the command's last line blank (a CRLF or an indented newline typed after it), or the
    # name quoted or braced (an agent's ``cd app && echo "$DB_PASSWORD"``, ``sh -c '...'``)
    _P("Ctx-Crlf-Pw-4471\n", "output", "Ctx-Crlf-Pw-4471", context="printenv DB_PASSWORD\r\n\r\n"),
    _P("Ctx-Blank-Pw-5582\n", "output", "Ctx-Blank-Pw-5582", context="printenv DB_PASSWORD\n \n"),
    _P("Ctx-Semi-Pw-2148\n", "output", "Ctx-Semi-Pw-2148", context="echo $SSHPASS;"),
    _P("Ctx-Amp-Pw-3259\n", "output", "Ctx-Amp-Pw-3259", context="echo $GH_PAT &"),
    _P("Ctx-Nul-Pw-4360\n", "output", "Ctx-Nul-Pw-4360", context="echo $GH_PAT\x00"),
    _P(
        "Ctx-Pass-Show-9926\nurl: db.internal\n",
        "output",
        "Ctx-Pass-Show-9926",
        context="pass show prod/db",
    ),
    _P("Ctx-Gopass-Pw-1037\n", "output", "Ctx-Gopass-Pw-1037", context="gopass show -o prod/db"),
    _P(
        "Ctx-Long-Pw-8815\n",
        "output",
        "Ctx-Long-Pw-8815",
        context=f"cd /srv/{'deploy/' * 45}app && printenv DB_PASSWORD",  # a long chain
    ),
    _P(
        "Ctx-Quoted-Pw-6693\n",
        "output",
        "Ctx-Quoted-Pw-6693",
        context='cd app && echo "$DB_PASSWORD"',
    ),
    _P(
        "Ctx-Braced-Pw-7704\n",
        "output",
        "Ctx-Braced-Pw-7704",
        context="cd app && echo ${DB_PASSWORD}",
    ),
    _P(
        "Zk3u9XwQ2rT8vLm1Np4sShC\n",
        "output",
        "Zk3u9XwQ2rT8vLm1Np4sShC",
        context="sh -c 'echo $API_TOKEN'",
    ),
    # a language's secret generator in a one-liner prints the secret it made
    _P(
        "q8Zr3kP1vXy7TnM2bW9cLd4Hs6Fj0GaE5uRtYiOpQwA\n",
        "output",
        "q8Zr3kP1vXy7TnM2bW9cLd4Hs6Fj0GaE5uRtYiOpQwA",
        context="python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
    ),
    _P(
        "9f3a7c1e5b2d8f4a6c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d\n",
        "output",
        "9f3a7c1e5b2d8f4a6c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d",
        context='node -e \'console.log(require("crypto").randomBytes(24).toString("hex"))\'',
    ),
    _P(
        "Vx3kP1vXy7TnM2bW9cLd4Hs6Fj0GaE5u\n",
        "output",
        "Vx3kP1vXy7TnM2bW9cLd4Hs6Fj0GaE5u",
        context="ruby -rsecurerandom -e 'puts SecureRandom.alphanumeric(32)'",
    ),
    # an extraction whose pattern names a secret's key prints the values alone, one a line
    _P(
        "Xtr-Look-Pw-1101\n",
        "output",
        "Xtr-Look-Pw-1101",
        context="grep -oP '(?<=password=).*' a.ini",
    ),
    _P(
        "Xtr-Keep-Tk-2202\n",
        "output",
        "Xtr-Keep-Tk-2202",
        context="grep -Po 'token:\\s*\\K\\S+' app.yml",
    ),
    _P(
        "Xtr-Sed-Pw-3303\n", "output", "Xtr-Sed-Pw-3303", context="sed -n 's/^DB_PASSWORD=//p' .env"
    ),
    _P(
        "sunflower1987\n",
        "output",
        "sunflower1987",
        context="sed -En 's/.*passwd: *(.*)/\\1/p' db.yml",
    ),
    _P(
        "Xtr-Awk-Key-4404\n",
        "output",
        "Xtr-Awk-Key-4404",
        context="awk -F= '/^API_KEY/{print $2}' .env",
    ),
    _P(  # an error message among the values is passed over, not an end
        "grep: b.ini: No such file or directory\nXtr-After-Err-1717\n",
        "output",
        "Xtr-After-Err-1717",
        context="grep -oP '(?<=password=).*' a.ini b.ini",
    ),
    _P(  # the command as recording stores it, its pattern's tail taken for a value
        "Xtr-Stored-Pw-1616\n",
        "output",
        "Xtr-Stored-Pw-1616",
        context="grep -oP 'password=[REDACTED:assignment]' app.ini",
    ),
    _P(
        "Xtr-Cut-Sec-5505\n",
        "output",
        "Xtr-Cut-Sec-5505",
        context='cut -d= -f2 <<< "$(grep SECRET .env)"',
    ),
    _P(
        "Xtr-Pipe-Pw-6606\n",
        "output",
        "Xtr-Pipe-Pw-6606",
        context="grep -i db_password .env | cut -d= -f2- | tr -d '\"'",
    ),
    _P(
        "Xtr-Pipe-Cs-7707\n",
        "output",
        "Xtr-Pipe-Cs-7707",
        context="grep client_secret app.ini | awk -F' = ' '{print $2}'",
    ),
    _P(  # several matches: every line is a value, not only the first
        "Xtr-First-Pw-8808\nXtr-Second-Pw-9909\n",
        "output",
        "Xtr-Second-Pw-9909",
        context="grep -oP '(?<=password=).*' app.ini",
    ),
    # a Go template or JSONPath printing a secret-named field, whatever the command
    _P(
        "WHRyLURvY2tlci1QdzEx\n",
        "output",
        "WHRyLURvY2tlci1QdzEx",
        context="docker inspect -f '{{index .Config.Labels \"db_password\"}}' app",
    ),
    _P(
        "letmein2024\n",
        "output",
        "letmein2024",
        context="cd k8s && kubectl get secret db -o jsonpath='{.data.password}' | base64 -d",
    ),
    _P(
        "WHRyLUdvVHBsLVB3MTI=\n",
        "output",
        "WHRyLUdvVHBsLVB3MTI=",
        context="kubectl get secret db -o go-template='{{.data.password}}'",
    ),
    _P(
        "WHRyLUluZGV4LUtleTEz\n",
        "output",
        "WHRyLUluZGV4LUtleTEz",
        context="kubectl get secret db -o go-template='{{index .data \"api-key\"}}'",
    ),
    _P(
        "WHRyLVRwbC1UazE0\n",
        "output",
        "WHRyLVRwbC1UazE0",
        context="kubectl get secret db -o template --template={{.data.token}}",
    ),
    _P(
        "Xtr-Podman-Tk-1515\n",
        "output",
        "Xtr-Podman-Tk-1515",
        context="podman inspect app --format '{{.Config.Labels.api_token}}' | tee t.txt",
    ),
    # perl and rg printing a capture of a secret-named pattern, jq filters ending in its field
    _P(
        "Xtr-Perl-Pw-2121\n",
        "output",
        "Xtr-Perl-Pw-2121",
        context="perl -ne 'print \"$1\\n\" if /password=(\\S+)/' .env",
    ),
    _P(
        "Xtr-Perl-First-3131\nmarigold2023\n",
        "output",
        "marigold2023",
        context="perl -nle 'print $1 if /^TOKEN=(.*)/' .env",
    ),
    _P(
        "config/app.env:Xtr-Rg-Key-4141\n",
        "output",
        "Xtr-Rg-Key-4141",
        context="rg -o -r '$1' 'api_key=(\\S+)' config/",
    ),
    _P(
        "hollyhock1999\n",
        "output",
        "hollyhock1999",
        context="rg --only-matching --replace '$1' 'password: (\\S+)' deploy/",
    ),
    _P(
        "Xtr-Jq-One-5151\nlavender2022\n",
        "output",
        "lavender2022",
        context="jq -r '.users[].password' users.json",
    ),
    _P("snapdragon77\n", "output", "snapdragon77", context="jq -r '.db.password' secrets.json"),
    _P("primrose2021\n", "output", "primrose2021", context="gh api /user --jq .token"),
    _P("Xtr-Yq-Pw-6161\n", "output", "Xtr-Yq-Pw-6161", context="yq '.database.password' v.yaml"),
    # a grep -A1 of a secret's name: the value on the line under its key, whatever its shape
    _P(
        "password:\nbluebell2020\n--\npassword:\nXtr-After-Pw-7171\n",
        "output",
        "bluebell2020",
        context="grep -A1 'password:' creds.txt",
    ),
    # a passphrase with blanks, printed alone by a command that names it
    _P(
        "tangerine orbit velvet canyon 42\n",
        "output",
        "tangerine orbit velvet canyon 42",
        context="sed -n 's/^PASSPHRASE=//p' .env",
    ),
    _P(
        "plum harbor quiet anvil\n",
        "output",
        "plum harbor quiet anvil",
        context="printenv PASSPHRASE",
    ),
    _P(
        "Xtr-First-Pw-1818\ncobalt meadow fiddle 7 sparrow\n",
        "output",
        "cobalt meadow fiddle 7 sparrow",
        context="grep -oP '(?<=passphrase=).*' wallet.ini",
    ),
)

_N = Case

NEGATIVES: tuple[Case, ...] = (
    # --- -p that is no password -----------------------------------------------------------------
    _N("mkdir -p /var/lib/app/data", "command"),
    _N("mkdir '-p' '/srv/my dir'", "command"),
    _N("mkdir -p build && cd build && cmake ..", "command"),
    _N("ssh -p 2222 deploy@web1", "command"),
    _N("scp -P 2222 file deploy@web1:/tmp", "command"),
    _N("docker run -p 8080:80 nginx:1.25", "command"),
    _N("docker run -d -p 5432:5432 -e POSTGRES_DB=app postgres:16", "command"),
    _N("podman run -p 3306:3306 mysql:8", "command"),
    _N("git log -p -2", "command"),
    _N("git add -p src/", "command"),
    _N("kubectl logs mysql-0 -p", "command"),
    _N("kubectl port-forward svc/db 5432:5432", "command"),
    _N("cp -p a.txt b.txt", "command"),
    _N("python -m pytest -p no:cacheprovider", "command"),
    _N("patch -p1 < fix.diff", "command"),
    _N("redis-cli -h cache -p 6379 ping", "command"),
    _N("mysql -u root -p shop", "command"),
    _N("mysql -u root -p -h db.internal", "command"),
    _N("mysql --password -u app shop_db < dump.sql", "command"),
    _N("sshpass -f ~/.sshpass ssh web1", "command"),
    _N("sshpass -e ssh -p 22 web1", "command"),
    _N("ps -p 4242 -o pid,cmd", "command"),
    _N("netstat -p tcp", "command"),
    _N("nc -l -p 9000", "command"),
    _N("read -p 'Continue? ' answer", "command"),
    _N("sudo -p 'pw: ' -u app whoami", "command"),
    # --- references, paths, stdin ---------------------------------------------------------------
    _N("mysql -u root -p$MYSQL_PWD shop", "command"),
    _N('mysql -u root -p"${DB_PASS}" shop', "command"),
    _N("sshpass -p $SSHPASS ssh web1", "command"),
    _N('docker login -u bob -p "$REGISTRY_TOKEN" reg.io', "command"),
    _N("echo $CR_PAT | docker login ghcr.io -u bob --password-stdin", "command"),
    _N("cat ~/.token | docker login --password-stdin -u x reg.io", "command"),
    _N("export DB_PASSWORD=$(vault kv get -field=pw secret/db)", "command"),
    _N("export GITHUB_TOKEN=${GH_TOKEN}", "command"),
    _N("PGPASSWORD=$PGPW psql -h db", "command"),
    _N("docker login --password-stdin -u bob reg.io", "command"),
    _N("openssl enc -aes256 -pass env:ENC_PW -in a -out b", "command"),
    _N("openssl rsa -passin file:/run/secrets/pw -in k.pem", "command"),
    _N("openssl req -new -passout stdin -key k.pem", "command"),
    _N("curl -u admin https://x.io", "command"),
    _N('curl -H "Authorization: Bearer $TOKEN" https://api.x.io', "command"),
    _N("wget --password-file=/etc/wgetpw https://x.io/f", "command"),
    _N("ansible-playbook site.yml --vault-password-file ~/.vault_pw", "command"),
    _N("ansible all -m ping --ask-pass", "command"),
    _N("gcloud auth activate-service-account --key-file=/secrets/sa.json", "command"),
    _N("pg_dump --password mydb > mydb.sql", "command"),
    _N("psql -W -h db -U app", "command"),
    _N("kubectl create secret generic db --from-file=password=./pw.txt", "command"),
    _N("htpasswd -c /etc/nginx/.htpasswd alice", "command"),
    _N("smbclient -L fs -U alice", "command"),
    _N("git push --no-verify", "command"),
    _N("export TOKEN_TTL=3600", "command"),
    _N("export PASSWORD_MIN_LENGTH=12", "command"),
    _N("DATABASE_URL=postgresql://db:5432/app", "output"),
    _N('password: "{{ vault_db_password }}"', "output"),
    _N("password: <your-password-here>", "output"),
    _N("api_key: ${API_KEY}", "output"),
    _N("token = os.environ['GITHUB_TOKEN']", "text"),
    _N("password = getpass.getpass()", "text"),
    _N("if password == expected:", "text"),
    _N("AWS_ACCESS_KEY_ID_FILE=/run/secrets/aws", "output"),
    # --- words in prose or in a grep ------------------------------------------------------------
    _N("grep -rn token src/", "command"),
    _N("grep -i password /var/log/auth.log | tail", "command"),
    _N("rg 'api_key' --type py", "command"),
    _N("Enter password:", "output"),
    _N("Please provide the --password flag to continue.", "text"),
    _N("The token expired; request a new one from the admin.", "text"),
    _N('password authentication failed for user "app"', "output"),
    _N("Use the secret manager to rotate keys monthly.", "text"),
    _N("Bearer tokens are sent in the Authorization header.", "text"),
    _N(
        "mysql: [Warning] Using a password on the command line interface can be insecure.", "output"
    ),
    _N("Password: ", "keystrokes"),
    _N("passwd", "command"),
    _N("man sshpass", "command"),
    _N("apt-get install -y mysql-client redis-tools", "command"),
    # --- hashes, ids, versions, URLs without credentials --------------------------------------
    _N("git checkout 3f786850e387550fdab836ed7e6dc881de23001b", "command"),
    _N("git show 9fceb02d0ae598e95dc970b74767f19372d61af8 --stat", "command"),
    _N(
        "docker pull python@sha256:"
        "4c6a3b1e9f2d8c7b5a4e3d2c1b0a9f8e7d6c5b4a3e2d1c0b9a8f7e6d5c4b3a2f",
        "command",
    ),
    _N(
        "sha256sum: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty",
        "output",
    ),
    _N("request_id=550e8400-e29b-41d4-a716-446655440000 status=200", "output"),
    _N("X-Request-Id: 123e4567-e89b-12d3-a456-426614174000", "output"),
    _N("pip install requests==2.31.0 urllib3==2.0.7", "command"),
    _N("Python 3.11.7 (main, May  9 2026) [GCC 12.2.0] on linux", "output"),
    _N("https://github.com/open-telemetry/opentelemetry-python-contrib/pull/2345", "url"),
    _N("https://example.com/search?q=password+reset&page=2", "url"),
    _N("https://api.example.com/v1/users?id=42&sort=name", "url"),
    _N("postgresql://db.internal:5432/shop", "url"),
    _N("git clone git@github.com:org/repo.git", "command"),
    _N("ssh deploy@10.0.0.5 'systemctl restart app'", "command"),
    _N("echo aGVsbG8gd29ybGQ= | base64 -d", "command"),
    _N("base64 of ordinary text: VGhlIHF1aWNrIGJyb3duIGZveA==", "output"),
    _N("ls -la /home/user/projects/my-awesome-project-directory", "command"),
    _N("python manage.py migrate --settings=config.settings.production", "command"),
    _N("npm install --save-dev @typescript-eslint/eslint-plugin", "command"),
    _N("kubectl get pods -n kube-system -o wide", "command"),
    _N("tar -czf backup-2024-01-01.tar.gz /var/www", "command"),
    _N("export PATH=$HOME/.local/bin:$PATH", "command"),
    _N("echo $((16#ff))", "command"),
    _N("a-very-long-kebab-case-identifier-for-a-test-name", "text"),
    _N("task-scheduler-worker-queue-length=42", "output"),
    _N("sk-learn is not a package name; use scikit-learn", "text"),
    _N("[REDACTED:mysql-password]", "text"),
    _N("mysql -u root -p[REDACTED:mysql-password] shop", "command"),
    _N("https://REDACTED:REDACTED@example.com/", "url"),
    _N("gpg --list-secret-keys alice@example.com", "command"),
    _N("gpg --export-secret-keys ABCD1234 > backup.asc", "command"),
    _N("aws secretsmanager get-secret-value --secret-id prod/db/password", "command"),
    _N("gcloud secrets versions access latest --secret=db-password", "command"),
    _N("docker secret create db_password ./db_password.txt", "command"),
    _N("kubectl get secret db-credentials -o yaml", "command"),
    _N("terraform output -raw db_password", "command"),
    _N("npm token list", "command"),
    _N("link/ether 00:11:22:33:44:55 brd ff:ff:ff:ff:ff:ff", "output"),
    _N("eth0:1:2:3:up", "output"),
    _N("2026-11-27 08:00:01,123 INFO a:b:c:d:e ready", "output"),
    # --- code and documentation that names secrets without holding one -----------------------
    _N("                    self.token = nextchar", "output"),
    _N("    userid = passwd = acct = ''", "output"),
    _N("        self.user, self.password = user, password", "output"),
    _N("    def post_to_server(self, data, auth=None):", "output"),
    _N('        auth = "Basic " + standard_b64encode(user_pass)', "output"),
    _N("            completer.complete(token=text, cursor=pos)", "output"),
    _N("        authorization = self.headers.get('authorization')", "output"),
    _N('HEX_PAT = "[0-9A-Fa-f]{1,4}"', "output"),
    _N("        # First pass: determine maximum length of long option names", "output"),
    _N("    :param aws_secret_access_key: AWS secret access key", "output"),
    _N("    SECRET_KEY = 'aws_secret_access_key'", "output"),
    _N("    token.STRING     : Colors.Blue,", "output"),
    _N("    fmt = 'password={0}\\n'.format(signature)", "output"),
    _N("    password: str = field(repr=False)", "output"),
    _N('"""Load and return a dynamic library identified by \'name\'."""', "output"),
    # --- round two: look-alikes of the new rules --------------------------------------------
    _N("https://example.com/search?code=python&page=2", "url"),
    _N("curl 'https://api.x.io/snippets?code=javascript&sort=stars'", "command"),
    _N("https://api.github.com/repos/o/r/issues?state=open&sort=created", "url"),
    _N("https://jira.example.com/browse?ticket=JIRA-1234", "url"),
    _N("The session expired; log in again.", "text"),
    _N("tmux new-session -s work", "command"),
    _N("session_id=42 user=alice", "output"),
    _N("cat token-rotation-notes.md", "command"),
    _N("$ ls docs\ntoken-rotation-notes.md\nREADME.md\n", "output"),
    _N("/data/token-rotation/summary.csv", "text"),
    _N("pw useradd alice -m -s /bin/sh", "command"),
    _N("pw groupshow wheel", "command"),
    _N("Listening on 0.0.0.0:4821\nPIN-less mode enabled", "output"),
    _N("server port: 8443\npin: 8080", "output"),
    _N('sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"', "output"),
    _N('checksum = "4c6a3b1e9f2d8c7b5a4e3d2c1b0a9f8e7d6c5b4a3e2d1c0b9a8f7e6d5c4b3a2f"', "output"),
    _N(
        "  integrity: sha512-Zk3u9XwQ2rT8vLm1Np4sYb7HcQ0dEj6Fi+Gh2KZk3u9XwQ2rT8vLm1Np4sYb7H==",
        "output",
    ),
    _N(
        '    "integrity": "sha512-Zk3u9XwQ2rT8vLm1Np4sYb7HcQ0dEj6Fi+Gh2KZk3u9XwQ2rT8vLm1==",',
        "output",
    ),
    _N('ETag: "33a64df551425fcc55e4d42a148795d9f25f89d4"', "output"),
    _N('etag: W/"1c-Zk3u9XwQ2rT8vLm1Np4sYb7HcQ0"', "output"),
    _N("commit 3f786850e387550fdab836ed7e6dc881de23001b\nAuthor: A <a@x.io>", "output"),
    _N("revision: 3f786850e387550fdab836ed7e6dc881de23001b", "output"),
    _N("id: 550e8400-e29b-41d4-a716-446655440000", "output"),
    _N('"requestId": "Zk3u9XwQ2rT8vLm1Np4sYb7HcQ0"', "output"),
    _N("x-amz-id-2: Zk3u9XwQ2rT8vLm1Np4sYb7HcQ0dEj6Fi+Gh2K=", "output"),
    _N("Cookie: theme=dark; lang=en", "output"),
    _N("< Set-Cookie: lang=en-US; Path=/; Max-Age=3600", "output"),
    _N("$ ls ~/.ssh\nauthorized_keys\nid_ed25519\nid_ed25519.pub\nknown_hosts\n", "output"),
    _N("The key fingerprint is:\nSHA256:Zk3u9XwQ2rT8vLm1Np4sYb7HcQ0dEj6Fi+Gh2K root@h\n", "output"),
    _N("Password:\nLast login: Mon Jan  1 10:00:00 2024 from 10.0.0.1\n", "output"),
    _N("Password:\n********\n", "output"),
    _N("$ echo $PATH\n/usr/local/bin:/usr/bin:/bin\n", "output"),
    _N("$ docker login\nUsername: bob\nPassword:\nLogin Succeeded\n", "output"),
    _N("The password is incorrect.", "text"),
    _N("Your password was changed successfully.", "text"),
    _N("password:\n  type: string\n  format: password\n  description: The password\n", "output"),
    _N("token:\n  expiry: 3600\n  issuer: auth.example.com\n", "output"),
    _N('- name: API_TOKEN_TTL\n  value: "3600"\n', "output"),
    _N("<password>${env.DB_PASSWORD}</password>", "output"),
    _N("<passwordPolicy>strict</passwordPolicy>", "output"),
    _N("github.com/x/y v1.2.3 h1:Zk3u9XwQ2rT8vLm1Np4sYb7HcQ0dEj6Fi+Gh2K=", "output"),
    _N('"publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZk3u9XwQ2rT8vLm1"', "output"),
    _N('nonce="Zk3u9XwQ2rT8vLm1Np4sYb7H"', "output"),
    _N("PYTHON_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "output"),
    _N("echo hello | base64", "command"),
    _N("sha256sum release.tar.gz", "command"),
    _N("git log --oneline\n3f78685 fix token refresh\n9fceb02 session handling\n", "output"),
    _N("$ kubectl get secrets\nNAME   TYPE     DATA   AGE\ndb     Opaque   2      3d\n", "output"),
    _N("['ls', '-la', '/tmp']", "text"),
    _N("Command '['git', 'push', 'origin', 'main']' returned non-zero exit status 1.", "text"),
    _N("mv report.csv archive/report-2024.csv", "command"),
    _N("xcopy /s /e src dst", "command"),
    _N("net use Z: \\\\fs\\share", "command"),
    _N("export GPG_TTY=$(tty)", "command"),
    _N("Invalid API key format; expected 32 characters", "text"),
    _N("redis-server --port 6380 --appendonly yes", "command"),
    # --- output with its command as context: nothing secret is named, or nothing secret shown --
    _N("/root\n", "output", context="printenv HOME"),
    _N("4\n", "output", context="python3 -c 'import random; print(random.randint(1, 6))'"),
    _N("0.7281093\n", "output", context="node -e 'console.log(Math.random())'"),
    _N(
        "2c5d8e1f0a3b4e8f9a6b7f3c2a9e1b4d\n",
        "output",
        context="python3 -c 'import hashlib; print(hashlib.md5(b\"x\").hexdigest())'",
    ),
    _N("en_US.UTF-8\n", "output", context="echo $LANG"),
    _N("3f786850e387550fdab836ed7e6dc881de23001b\n", "output", context="git rev-parse HEAD"),
    _N("python\n", "output", context="printenv CODE_LANGUAGE"),
    _N("7f3c2a9e-1b4d-4e8f-9a6b-2c5d8e1f0a3b\n", "output", context="cat session-id.txt"),
    _N("(no password set)\n", "output", context="printenv DB_PASSWORD"),
    _N("5432\n", "output", context="printenv PGPORT"),
    _N("prod/db-replica\n", "output", context="pass find db-replica"),
    _N("token-rotation-notes.md\nsession-handling.md\n", "output", context="ls docs"),
    _N("pw useradd bob -m -s /bin/sh", "command"),
    _N("ssh -p 2222 web1 'ss -ltn | grep :8443'", "command"),
    _N("integrity sha512-Zk3u9XwQ2rT8vLm1Np4s\n", "output", context="grep integrity lock"),
    _N('ETag: "33a64df551425fcc55e4d42a148795d9f25f89d4"\n', "output", context="curl -I x.io"),
    _N("session\n", "output", context="echo $SESSION_KIND"),
    _N("code=python&lang=en\n", "output", context="echo $QUERY"),
    # --- extractions and templates that name no secret, or print no value -----------------------
    _N("error:Timeout42\nerror:Refused7\n", "output", context="grep -o 'error.*' log"),
    _N("1234\n", "output", context="grep -c password auth.log"),
    _N("line-One-7x\nline-Two-8y\n", "output", context="sed -n '1,10p' file"),
    _N("Val-Two-x9\nVal-Three-y8\n", "output", context="awk '{print $2}' file"),
    _N("1.2.3-rc1\n", "output", context="grep -oP '(?<=version=).*' setup.cfg"),
    _N("db-Primary-01\n", "output", context="awk -F= '/^HOST/{print $2}' .env"),
    _N("Host-Name-7x\n", "output", context="grep -i password app.ini | cut -d' ' -f1"),
    _N("Host-Db-01x\n", "output", context="sed 's/password=.*/password=***/' app.ini"),
    _N("Db-Host-01x\n", "output", context="grep -v password .env | cut -d= -f2"),
    _N("  password: {{ .Values.db.password }}\nRelName2xQ\n", "output"),  # no formatting flag
    _N(  # the extraction feeds a variable; what prints is the next command
        "Deployed-OK\n",
        "output",
        context="X=$(grep DB_PASSWORD .env | cut -d= -f2) && ./deploy.sh",
    ),
    _N(
        "web-7f9c4d-x2kqz\n",
        "output",
        context="kubectl get pods -o go-template='{{.metadata.name}}'",
    ),
    _N("3f786850e387550fdab836ed7e6dc881\n", "output", context="docker inspect -f '{{.Id}}' app"),
    _N("api-gateway\n", "output", context="jq -r .name secrets.json"),
    _N("github-ci\nnpm-publish\n", "output", context="jq -r '.[].name' tokens.json"),
    _N("src/app.py:TODO-Fix-x9\n", "output", context="rg -o 'TODO.*' src/"),
    _N("1.2.3-Rc1x\n", "output", context="rg -o -r '$1' 'version=(\\S+)' setup.cfg"),
    _N("Error-Code-42x\n", "output", context="perl -ne 'print if /error/' app.log"),
    _N("Db-Host-01x\n", "output", context="perl -ne 'print $1 if /host=(\\S+)/' .env"),
    _N("Usage:\n  Tool-Opts-9x\n", "output", context="grep -A1 'Usage:' README.md"),
    _N("3\n", "output", context="grep -A1 -c password creds.txt"),
    # what a secret's printer writes when it has none to print: an error or a notice
    _N("No value found at secret/data/db\n", "output", context="vault kv get -field=password db"),
    _N("bash: printenv: command not found\n", "output", context="printenv DB_PASSWORD"),
    _N(
        "sed: can't read .env: No such file or directory\n",
        "output",
        context="sed -n 's/^DB_PASSWORD=//p' .env",
    ),
    _N(
        'Error from server (NotFound): secrets "db" not found\n',
        "output",
        context="kubectl get secret db -o jsonpath='{.data.password}'",
    ),
    _N("Permission denied\n", "output", context="cat /run/secrets/db_password"),
)

CORPUS: tuple[Case, ...] = POSITIVES + NEGATIVES
