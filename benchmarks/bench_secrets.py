"""Secret engine against detect-secrets: speed (``scan_line``), recall and false positives.

Run: ``.venv/bin/python benchmarks/bench_secrets.py`` (prints the tables); ``--write`` also puts
them into docs/secrets.md between the ``bench_secrets`` markers. ``--quick`` uses fewer rounds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("AUTOBOT_ACTIVITY_FINGERPRINT_KEY", "bench-secrets-key")  # no key file

from detect_secrets import SecretsCollection  # noqa: E402
from detect_secrets.core.scan import scan_line  # noqa: E402
from detect_secrets.settings import default_settings  # noqa: E402

from autobot_activity_otel.secrets import (  # noqa: E402
    prefilter,
    redact,
    register_secret,
    unregister_secret,
)
from benchmarks.harness import Row, machine, markdown, micros, per_call  # noqa: E402

DOC = ROOT / "docs" / "secrets.md"
BEGIN, END = "<!-- bench_secrets:begin -->", "<!-- bench_secrets:end -->"

COMMANDS = (
    "git status --short --branch",
    "ls -la /tmp",
    "cd /srv/app && make test",
    "python manage.py migrate --settings=config.settings.production",
    "docker run -d -p 8080:80 nginx:1.25",
    "pip install -r requirements.txt",
    "grep -rn TODO src/ | head -20",
    "kubectl get pods -n default -o wide",
    "npm run build",
    "git commit -m 'fix the parser for nested quotes' && git push origin main",
)
SECRET_COMMANDS = (
    "mysql -u root -pS3cretPw shop",
    "sshpass -p Ssh.Pass99 ssh -p 2222 deploy@web1",
    "docker login -u bob -p D0ckerPw! registry.example.com",
    "curl -H 'Authorization: Bearer Tk9Lw5Rt7Nm3Pd8Xc4Vb6' https://api.x.io",
    "export GITHUB_TOKEN=ghp_R8x2Lq0vTz5Nw3Ya7Kd1Hc9Ue4Sj6Pm2Bf0Xy",
    "psql postgresql://app:PgUrlPw69@db:5432/shop",
    "PGPASSWORD=PgPw46 psql -h db -U app",
    "htpasswd -b /etc/nginx/.htpasswd alice Htp4ssword",
    "redis-cli -h cache -p 6379 -a R3disPw get k",
    "kubectl create secret generic db --from-literal=password=K8sPw16 -n prod",
)
_LOG_LINES = (
    "2026-11-27T08:00:{s:02d}Z INFO  worker[{n}] processed job {n} in {s}ms status=ok",
    "2026-11-27T08:00:{s:02d}Z DEBUG http GET /api/v1/items?page={n}&sort=name 200 {s}ms",
    '  File "/srv/app/handlers/{n}.py", line {s}, in handle',
    "{n:08x}  4c6f 7265 6d20 6970 7375 6d20 646f 6c6f  Lorem ipsum dolo",
    "Step {n}/{s} : RUN pip install --no-cache-dir -r requirements.txt",
)


def long_output(size: int = 100_000) -> str:
    """About ``size`` characters of mixed log output, with two secrets in the middle."""
    lines: list[str] = []
    n = 0
    while sum(map(len, lines)) < size:
        lines.append(_LOG_LINES[n % len(_LOG_LINES)].format(n=n, s=n % 60))
        n += 1
    lines.insert(len(lines) // 2, "export API_TOKEN=Tk9Lw5Rt7Nm3Pd8Xc4Vb6")
    lines.insert(len(lines) // 3, "Connecting to postgresql://app:PgUrlPw69@db:5432/shop")
    return "\n".join(lines)


def clean_output(size: int = 65_536) -> str:
    """``size`` characters of the same log lines, without a secret."""
    lines: list[str] = []
    n = total = 0
    while total < size:
        line = _LOG_LINES[n % len(_LOG_LINES)].format(n=n, s=n % 60)
        lines.append(line)
        total += len(line) + 1
        n += 1
    return "\n".join(lines)[:size]


def load_corpus() -> tuple[tuple, tuple]:
    path = ROOT / "tests" / "secrets" / "secret_corpus.py"
    spec = importlib.util.spec_from_file_location("secret_corpus", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["secret_corpus"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.POSITIVES, module.NEGATIVES


# --- speed --------------------------------------------------------------------------------------


def ours(texts: Iterable[str], kind: str) -> Callable[[], None]:
    batch = tuple(texts)
    return lambda: [redact(text, kind) for text in batch] and None


def theirs(texts: Iterable[str]) -> Callable[[], None]:
    """detect-secrets as an ad-hoc scanner: ``scan_line`` on every line."""
    lines = tuple(line for text in texts for line in text.splitlines())
    return lambda: [list(scan_line(line)) for line in lines] and None


def side_by_side(
    texts: tuple[str, ...], kind: str, number: int, their_number: int, rounds: int
) -> tuple[float, float]:
    """Median seconds per text, ours and detect-secrets, in short alternating batches so that
    load from elsewhere on a shared machine hits both alike."""
    ours_fn, theirs_fn = ours(texts, kind), theirs(texts)
    ours_fn(), theirs_fn()  # warm up
    mine: list[float] = []
    other: list[float] = []
    for _ in range(rounds):
        mine.append(per_call(ours_fn, number) / len(texts))
        other.append(per_call(theirs_fn, their_number) / len(texts))
    return statistics.median(mine), statistics.median(other)


def speed(rounds: int) -> list[Row]:
    output = (long_output(),)
    long_rounds = max(3, rounds // 4)  # detect-secrets takes seconds per 100 KB
    with default_settings():
        commands = side_by_side(COMMANDS, "command", 300, 1, rounds)
        secrets = side_by_side(SECRET_COMMANDS, "command", 30, 1, rounds)
        long = side_by_side(output, "output", 3, 1, long_rounds)
        ids = [uuid.uuid4() for _ in range(1_000)]
        for secret_id in ids:
            register_secret(secret_id, f"reg-{secret_id.hex[:20]}")
        try:
            hit = (f"deploy --tag v1 reg-{ids[7].hex[:20]} now",)
            registry_commands = side_by_side(COMMANDS, "command", 300, 1, rounds)
            registry_hit = side_by_side(hit, "command", 300, 3, rounds)
            registry_output = side_by_side(output, "output", 3, 1, long_rounds)
        finally:
            for secret_id in ids:
                unregister_secret(secret_id)

    def row(label: str, mine: float, other: float, target: str) -> Row:
        return Row(label, micros(mine), micros(other), f"{other / mine:,.0f}×", target)

    mine, other = (
        (19 * typical + holding) / 20 for typical, holding in zip(commands, secrets, strict=True)
    )
    return [
        row("typical command, no secret (10 commands)", *commands, "≥ 100×, a few µs"),
        row("command with a secret (10 commands)", *secrets, "≥ 100×"),
        row(
            "a session's commands, 1 in 20 with a secret (from the two rows above)",
            mine,
            other,
            "≥ 100×",
        ),
        row("100 KB log output with 2 secrets", *long, "faster"),
        row("typical command, 1,000 secrets registered", *registry_commands, "≥ 100×"),
        row("command holding 1 of 1,000 registered secrets", *registry_hit, "≥ 100×"),
        row("100 KB output, 1,000 secrets registered", *registry_output, "faster"),
    ]


LAST_RUN_MB_S = 100_000 / 17_700  # bytes per µs = MB/s: 100 KB in 17.7 ms, the last run
"""The figure this engine replaced (docs/benchmarks.md before issue #12): about 5.6 MB/s."""


def throughput(rounds: int) -> list[Row]:
    """Output redaction speed on 64 KB without a secret: with Hyperscan anchors, with ``re``
    anchors (no ``fast`` extra), and with 1,000 values registered."""
    text = clean_output()
    size = len(text)
    rows: list[Row] = []

    def row(label: str, seconds: float, target: str) -> Row:
        rate = size / seconds / 1e6
        return Row(
            label,
            f"{rate:,.1f} MB/s ({seconds * 1e3:,.2f} ms)",
            f"{LAST_RUN_MB_S:,.1f} MB/s",
            f"{rate / LAST_RUN_MB_S:,.1f}×",
            target,
        )

    def measure() -> float:
        samples = [per_call(lambda: redact(text, "output"), 5) for _ in range(rounds)]
        return statistics.median(samples)

    fast = prefilter.use_hyperscan(True)
    if fast:
        rows.append(row("64 KB output, no secret (Hyperscan anchors)", measure(), "≥ 50 MB/s"))
    prefilter.use_hyperscan(False)
    rows.append(row("64 KB output, no secret (`re` anchors, no fast extra)", measure(), ""))
    prefilter.use_hyperscan(True)
    ids = [uuid.uuid4() for _ in range(1_000)]
    for secret_id in ids:
        register_secret(secret_id, f"reg-{secret_id.hex[:20]}")
    try:
        rows.append(row("64 KB output, no secret, 1,000 registered", measure(), ""))
    finally:
        for secret_id in ids:
            unregister_secret(secret_id)
    return rows


THROUGHPUT_METHOD = """
Median of {rounds} rounds of five `redact(text, "output")` calls on 64 KB of the log lines
below without a secret. Baseline: the previous engine's figure from the last `make bench`
(100 KB in 17.7 ms, 5.6 MB/s); the issue's target is at least 50 MB/s.
"""

SPEED_METHOD = """
Median per text over {rounds} rounds (100 KB rows: {long_rounds}), ours and detect-secrets 1.5
(`scan_line` under `default_settings()`, one call per line, as it scans ad-hoc strings)
measured in short alternating batches in the same process. Ours is `redact(text, kind)`:
`command` for commands, `output` for the 100 KB log. The "1,000 registered" rows run with
1,000 values registered (detect-secrets has no such feature and scans the same texts).
The session row weighs the two command rows 19:1. Ratio = detect-secrets time / ours.
"""

# --- accuracy -----------------------------------------------------------------------------------


def _hits(reported: Iterable[str], planted: str) -> bool:
    return any(len(value) >= 3 and (value in planted or planted in value) for value in reported)


def accuracy() -> list[tuple[str, int, int]]:
    """(scanner, secrets found, look-alikes flagged) on the corpus."""
    positives, negatives = load_corpus()
    with default_settings():
        return [
            (
                "ours: `redact(text, kind)`",
                sum(planted_gone(case) for case in positives),
                sum(
                    bool(redact(case.text, case.kind, context=case.context).findings)
                    for case in negatives
                ),
            ),
            (
                "detect-secrets `scan_line` (ad-hoc, eager)",
                sum(_hits(_scan_line_values(case.text), case.secret) for case in positives),
                sum(bool(_scan_line_values(case.text)) for case in negatives),
            ),
            (
                "detect-secrets `scan_file` (file mode, filters on)",
                sum(_hits(_scan_file_values(case.text), case.secret) for case in positives),
                sum(bool(_scan_file_values(case.text)) for case in negatives),
            ),
        ]


def planted_gone(case: Any) -> bool:
    """Found and gone; a case read after another text (its command) is given it as context."""
    result = redact(case.text, case.kind, context=case.context)
    return bool(result.findings) and case.secret not in result.text


def _scan_line_values(text: str) -> list[str]:
    return [s.secret_value or "" for line in text.splitlines() for s in scan_line(line)]


def _scan_file_values(text: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "case.txt")
        Path(path).write_text(text, encoding="utf-8")
        collection = SecretsCollection()
        collection.scan_file(path)
        return [s.secret_value or "" for _, s in collection]


ACCURACY_METHOD = """
The labelled corpus of tests/secrets/secret_corpus.py ({p} planted secrets, positives for
every rule and tool, {n} look-alikes). Ours: a secret counts as found when redaction reports a
finding and the planted value is gone (a case printed by a command is given the command as
`context`, as recording does). detect-secrets: found when a reported value contains,
or is contained in, the planted value (generous: a partial hit counts). A look-alike counts as
a false positive when anything at all is reported.
"""


def accuracy_table(positives: int, negatives: int) -> str:
    lines = [
        "## Recall and false positives on the corpus",
        "",
        ACCURACY_METHOD.format(p=positives, n=negatives).strip(),
        "",
        "| scanner | recall | false-positive rate |",
        "|---|---|---|",
    ]
    for name, found, flagged in accuracy():
        lines.append(
            f"| {name} | {found / positives:.1%} ({found}/{positives}) "
            f"| {flagged / negatives:.1%} ({flagged}/{negatives}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update docs/secrets.md")
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 21")
    args = parser.parse_args()
    rounds = 5 if args.quick else 21
    positives, negatives = load_corpus()
    accuracy_md = accuracy_table(len(positives), len(negatives))
    method = SPEED_METHOD.format(rounds=rounds, long_rounds=max(3, rounds // 4))
    speed_md = markdown("Speed against detect-secrets", speed(rounds), method).replace(
        "| measured | baseline |", "| ours | detect-secrets |"
    )
    throughput_md = markdown(
        "Output redaction throughput",
        throughput(max(5, rounds // 2)),
        THROUGHPUT_METHOD.format(rounds=max(5, rounds // 2)),
    )
    report = f"{accuracy_md}\n{speed_md}\n{throughput_md}\nMachine: {machine()}.\n"
    print(report)
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        head, _, rest = doc.partition(BEGIN)
        _, _, tail = rest.partition(END)
        DOC.write_text(f"{head}{BEGIN}\n{report}{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
