"""The chaos suite: a batch across A1D, Claid and A2E through emulators that fault ~10 % of
requests, checked against issue #10's "done when" with the emulators' own submit counters.

Each provider's emulator runs standalone (``mediatask emulate --faults``) so it outlives the
batch commands; every job has its own input URL, so the emulator's ledger
(``url:<input URL>``, see :mod:`mediatask.emulator.submissions`) tells each job's submits and
tasks apart. ``MEDIATASK_CHAOS_JOBS`` sets the number of jobs (default 300, as the issue
measured: about 1.5 minutes on two cores), ``MEDIATASK_CHAOS_SEED`` the first emulator's seed.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import attrs
import pytest

from mediatask.testing import Standalone, mediatask_command, serving_folder, standalone_emulator

pytestmark = pytest.mark.slow

JOBS = int(os.environ.get("MEDIATASK_CHAOS_JOBS", "300"))
SEED = int(os.environ.get("MEDIATASK_CHAOS_SEED", "11"))
PROVIDERS = ("a1d", "claid", "a2e")
FAULTS = "rate=0.1,expired=0,stall-seconds=2,retry-after=1"
"""Every kind but expired links, which no re-run may recover without paying again."""
TASK_SECONDS = 0.5
COMMAND_SECONDS = 900


def job_line(provider: str, number: int, input_url: str) -> dict[str, Any]:
    """One manifest line; each job has its own input URL (its identity at the emulator)."""
    job: dict[str, Any] = {"id": f"{provider}-{number:03d}", "provider": provider}
    if provider == "a1d":
        return job | {"operation": "image-upscaler", "input": input_url, "params": {"scale": 2}}
    if provider == "claid":
        params = {"operations": {"resizing": {"width": 48}}, "output": {"format": "png"}}
        return job | {"operation": "edit", "input": input_url, "params": params}
    return job | {  # 5 coins each: the emulated account's 5000 coins last 1000 jobs
        "operation": "talking-photo",
        "input": input_url,
        "params": {"prompt": f"says hello, take {number}", "duration": 1},
    }


def small_png(number: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (64, 48), ((number * 37) % 256, (number * 91) % 256, 120))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def intact(path: Path) -> str | None:
    """Why the output file at ``path`` is not a whole, decodable file (``None``: it is)."""
    if not path.is_file():
        return "missing"
    data = path.read_bytes()
    suffix = path.suffix.lower()
    try:
        if suffix in (".png", ".jpg", ".jpeg", ".webp"):
            from PIL import Image

            magic = {".png": b"\x89PNG\r\n\x1a\n", ".webp": b"RIFF", ".jpg": b"\xff\xd8\xff"}
            if not data.startswith(magic.get(suffix, magic[".jpg"])):
                return "wrong magic bytes"
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # decodes every pixel: a truncated file fails here
        elif suffix == ".mp4":
            import av

            if data[4:8] != b"ftyp":
                return "wrong magic bytes"
            with av.open(io.BytesIO(data), mode="r") as container:
                frames = len(list(container.decode(video=0)))
            if frames == 0:
                return "no frames"
        elif suffix == ".svg" and b"<svg" not in data:
            return "not SVG"
    except Exception as exc:  # noqa: BLE001  # any decoder error means a broken file
        return f"does not decode: {type(exc).__name__}: {exc}"
    return None


@attrs.frozen
class Chaos:
    """The emulators, the manifest and how to run the batch against them."""

    emulators: dict[str, Standalone]
    manifest: Path
    out: Path
    home: Path
    identities: dict[str, tuple[str, str]]
    """Job id -> (provider, identity at that provider's emulator)."""

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for emulator in self.emulators.values() for k, v in emulator.env.items()}
        return env | {"MEDIATASK_HOME": str(self.home)}

    def batch(self, *flags: str) -> subprocess.CompletedProcess[str]:
        args = ["batch", str(self.manifest), "-o", str(self.out), *flags]
        done = mediatask_command(*args, env=self.env, timeout=COMMAND_SECONDS)
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        return done

    def records(self) -> list[dict[str, Any]]:
        listed = mediatask_command(
            "jobs", "list", "-n", "0", "--journal", str(self.out), "--json", env=self.env
        )
        assert listed.returncode == 0, listed.stderr
        return list(json.loads(listed.stdout))

    def _ledger(self, column: str) -> dict[str, int]:
        submits = {name: emulator.submits() for name, emulator in self.emulators.items()}
        return {
            job: submits[provider].get(identity, {}).get(column, 0)
            for job, (provider, identity) in self.identities.items()
        }

    def created(self) -> dict[str, int]:
        """Job id -> how many of its submits created a task."""
        return self._ledger("created")

    def received(self) -> dict[str, int]:
        """Job id -> how many of its submits reached the provider at all."""
        return self._ledger("received")

    def created_twice(self) -> dict[str, list[str]]:
        return {name: emulator.created_twice() for name, emulator in self.emulators.items()}

    def faults(self) -> dict[str, int]:
        """Faults injected so far, per provider."""
        return {
            name: sum(v for k, v in emulator.stats().items() if k.startswith("fault "))
            for name, emulator in self.emulators.items()
        }


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    """The emulators with faults, and the batch run twice: once, then the same command again."""
    root = tmp_path_factory.mktemp("chaos")
    inputs = root / "inputs"
    inputs.mkdir()
    (root / "home").mkdir()
    with ExitStack() as stack:
        inputs_url = stack.enter_context(serving_folder(inputs))
        emulators = {
            provider: stack.enter_context(
                standalone_emulator(
                    provider,
                    f"sk-chaos-{secrets.token_hex(6)}",
                    TASK_SECONDS,
                    faults=f"{FAULTS},seed={SEED + index}",
                )
            )
            for index, provider in enumerate(PROVIDERS)
        }
        lines, identities = [], {}
        for n in range(JOBS):
            provider = PROVIDERS[n % len(PROVIDERS)]
            (inputs / f"in-{n:03d}.png").write_bytes(small_png(n))
            line = job_line(provider, n, f"{inputs_url}/in-{n:03d}.png")
            lines.append(json.dumps(line))
            identities[line["id"]] = (provider, f"url:{line['input']}")
        manifest = root / "jobs.jsonl"
        manifest.write_text("\n".join(lines) + "\n")
        chaos = Chaos(emulators, manifest, root / "out", root / "home", identities)
        chaos.batch()
        chaos.batch()  # the same command, no flags
        yield chaos


def done_when_problems(chaos: Chaos, records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Every way the journal and the emulators break issue #10's "done when", by kind."""
    problems: dict[str, list[str]] = {}

    def problem(kind: str, text: str) -> None:
        problems.setdefault(kind, []).append(text)

    received, created = chaos.received(), chaos.created()
    seen = {record["job"] for record in records}
    for job in sorted(set(chaos.identities) - seen):
        problem("missing from the journal", job)
    for record in records:
        job, state, error = record["job"], record["state"], record["error"] or ""
        provider = chaos.identities[job][0]
        if record["handle"]:  # mediatask received the task id: it must end ok, files intact
            if state != "succeeded":
                problem(f"has a task but is {state}", f"{job}: {error[:160]}")
                continue
            if not record["outputs"]:
                problem("succeeded without outputs", job)
            for output in record["outputs"]:
                why = intact(Path(output.get("path") or ""))
                if why is not None:
                    problem("output not intact", f"{job}: {output.get('path')}: {why}")
            continue
        if state != "uncertain":  # no task id: only "uncertain" is true
            problem(f"no task id and {state}", f"{job}: {error[:160]}")
            continue
        if received[job] == 0:
            problem("uncertain though it never reached the provider", f"{job}: {error[:160]}")
        if provider == "a2e" and created[job] > 0:
            problem("a2e task exists but was not reconciled by the list", job)
        if not error.strip() or "\n" in error.strip() or "<html" in error.lower():
            problem("uncertain without a one-line reason", f"{job}: {error[:160]!r}")
    for provider, twice in chaos.created_twice().items():
        for identity in twice:
            problem("task created twice", f"{provider}: {identity}")
    return problems


def describe(problems: dict[str, list[str]]) -> str:
    return "\n".join(
        f"{kind}: {len(items)}, e.g. {'; '.join(items[:3])}" for kind, items in problems.items()
    )


@pytest.mark.subprocess
def test_after_a_plain_rerun_every_job_is_ok_or_truly_uncertain_and_none_paid_twice(
    chaos: Chaos,
) -> None:
    faults = chaos.faults()
    assert all(faults.values()), faults  # the chaos really happened

    records = chaos.records()
    states = Counter(record["state"] for record in records)
    print(f"after a plain re-run: {dict(states)}; faults injected {faults}")

    problems = done_when_problems(chaos, records)

    assert not problems, (
        f"after a first run and one plain re-run of {JOBS} jobs "
        f"(faults injected: {faults}; journal: {dict(states)}):\n{describe(problems)}"
    )


@pytest.mark.subprocess
def test_retry_failed_creates_no_second_task_for_a_job_whose_task_may_be_alive(
    chaos: Chaos,
) -> None:
    # No job here was failed by its provider (failure rate 0): every job that has a task
    # must keep that one task, so the flag may create none for them.
    before = chaos.created()

    chaos.batch("--retry-failed")

    after = chaos.created()
    again = sorted(job for job, count in after.items() if before[job] and count > before[job])
    assert not again, f"--retry-failed created a second task for {len(again)} jobs: {again[:5]}"
    assert not any(chaos.created_twice().values()), chaos.created_twice()


@pytest.mark.subprocess
def test_rerun_expired_creates_no_second_task_when_no_result_expired(chaos: Chaos) -> None:
    before = chaos.created()

    done = chaos.batch("--rerun-expired")

    assert "No such option" not in done.stderr, done.stderr
    after = chaos.created()
    again = sorted(job for job, count in after.items() if before[job] and count > before[job])
    assert not again, f"--rerun-expired created a second task for {len(again)} jobs: {again[:5]}"
    assert not any(chaos.created_twice().values()), chaos.created_twice()


@pytest.mark.subprocess
def test_rerun_expired_pays_again_only_for_expired_results(tmp_path: Path) -> None:
    """Results that expire before download are re-run once each by ``--rerun-expired``; a job
    whose submit's answer was lost (its task may be alive) is never touched."""
    (tmp_path / "inputs").mkdir()
    (tmp_path / "home").mkdir()
    with ExitStack() as stack:
        inputs_url = stack.enter_context(serving_folder(tmp_path / "inputs"))
        a1d = stack.enter_context(
            standalone_emulator(
                "a1d",
                f"sk-chaos-{secrets.token_hex(6)}",
                TASK_SECONDS,
                faults=f"expired=1,reset-after=0.3,seed={SEED}",
            )
        )
        lines, identities = [], {}
        for n in range(12):
            (tmp_path / "inputs" / f"in-{n:03d}.png").write_bytes(small_png(n))
            line = job_line("a1d", n, f"{inputs_url}/in-{n:03d}.png")
            lines.append(json.dumps(line))
            identities[line["id"]] = ("a1d", f"url:{line['input']}")
        manifest = tmp_path / "jobs.jsonl"
        manifest.write_text("\n".join(lines) + "\n")
        chaos = Chaos({"a1d": a1d}, manifest, tmp_path / "out", tmp_path / "home", identities)
        chaos.batch()
        records = {record["job"]: record for record in chaos.records()}
        expired = sorted(job for job, record in records.items() if record["state"] == "expired")
        alive = sorted(job for job, record in records.items() if not record["handle"])
        assert expired, records  # every download found its link expired
        assert alive, records  # reset-after: tasks whose id never arrived
        before = chaos.created()
        a1d.set_faults(None)

        done = chaos.batch("--rerun-expired")

        assert "No such option" not in done.stderr, done.stderr
        after = chaos.created()
        paid_again = sorted(job for job in after if after[job] > before[job])
        assert paid_again == expired
        assert all(after[job] == before[job] + 1 for job in expired)
        assert not set(paid_again) & set(alive)
