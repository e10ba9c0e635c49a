"""A table of bad inputs, across the CLI and the library: each one is a clear one-line error.

Every case asserts what a new user would need: the exit status (or the exception type), one line
that matches a pattern naming what was wrong and how to fix it, no traceback, and that nothing
was paid for: the CLI cases run against standalone emulators of every provider, whose request
counters must not move when the mistake could be found before any network call; the library
cases use a transport that fails the test if anything is sent. The CLI runs in-process (click's
CliRunner), so the table stays fast.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio
from click.testing import CliRunner

import mediatask
from mediatask import Job, MediataskError, PluginManager, TaskFailedError, TaskRef, UsageError
from mediatask.cli import cli
from mediatask.engine.client import Client
from mediatask.journal.sqlite import JobState, Journal
from mediatask.settings.config import Settings
from mediatask.settings.keys import home_dir
from mediatask.testing import (
    ScriptedTransport,
    Standalone,
    sample_clip,
    serving_folder,
    standalone_emulator,
)

SAMPLES = Path(__file__).parents[2] / "samples"
URL = "https://example.com/cat.png"
PROVIDERS = ("a1d", "claid", "a2e")
# One image operation and its required parameters, per provider.
IMAGE_OP = {
    "a1d": ["a1d", "image-upscaler"],
    "claid": ["claid", "edit", "-p", "operations.resizing.width=50"],
    "a2e": ["a2e", "talking-photo", "-p", "name=x", "-p", "prompt=talk"],
}
ONE_LINE_ERROR = re.compile(r"\AError: [^\n]+\n\Z")


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, Standalone]]:
    """A standalone emulator of every provider, counting the requests that reach it."""
    with (
        standalone_emulator("a1d", "bad-inputs-a1d", 0.1) as a1d,
        standalone_emulator("claid", "bad-inputs-claid", 0.1) as claid,
        standalone_emulator("a2e", "bad-inputs-a2e", 0.1) as a2e,
    ):
        yield {"a1d": a1d, "claid": claid, "a2e": a2e}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Bad (and one good) input files, by name."""
    folder = tmp_path_factory.mktemp("inputs")
    shutil.copy(SAMPLES / "lighthouse.png", folder / "good.png")
    (folder / "text.png").write_text("not an image, just text\n")
    (folder / "empty.png").write_bytes(b"")
    (folder / "noise.png").write_bytes(bytes(range(7, 64)))
    (folder / "clip.mp4").write_bytes(sample_clip(32, 16, 4, 8))
    (folder / "song.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(64))
    (folder / "folder").mkdir()
    os.mkfifo(folder / "pipe.png")
    (folder / "params.json").write_text("[1, 2]")
    (folder / "broken.json").write_text("{nope")
    (folder / "binary.jsonl").write_bytes(b"\xff\xfe\x00\x81 not text")
    job = {"id": "j", "provider": "a1d", "operation": "image-generator", "params": {"prompt": "x"}}
    (folder / "jobs.jsonl").write_text(json.dumps(job) + "\n")
    return {path.stem: str(path) for path in folder.iterdir()}


def _stats(emulators: dict[str, Standalone]) -> dict[str, dict[str, int]]:
    return {name: emulator.stats() for name, emulator in emulators.items()}


def _env(emulators: dict[str, Standalone]) -> dict[str, str]:
    env: dict[str, str] = {}
    for emulator in emulators.values():
        env.update(emulator.env)
    return env


def _fill(args: list[str], files: dict[str, str]) -> list[str]:
    return [arg.format(**files) for arg in args]


# -- the CLI table ---------------------------------------------------------------------------

CLI_CASES: list[Any] = []


def case(name: str, args: list[str], pattern: str, **options: Any) -> None:
    """Add a CLI case: ``args`` (``{good}``… name files), the message ``pattern``, options:
    ``env`` (added, or None to drop a variable), ``stdin``, ``network`` (requests may reach the
    emulator, but no submission), ``exit_code`` (default 1)."""
    CLI_CASES.append(pytest.param(args, pattern, options, id=name))


# Input files, for every provider and both commands that submit.
for provider in PROVIDERS:
    sandbox = ["--sandbox"] if provider == "a1d" else []  # A1D takes local files only there
    for command in ("run", "submit"):
        job = [command, *IMAGE_OP[provider], *sandbox]
        tag = f"{command}-{provider}"
        case(
            f"{tag}-missing",
            [*job, "-i", "{good}.nope"],
            r"input file not found: .*good\.png\.nope: check the path",
        )
        case(f"{tag}-directory", [*job, "-i", "{folder}"], r"input .*folder is a directory: pass")
        case(f"{tag}-empty", [*job, "-i", "{empty}"], r"input .*empty\.png is empty \(0 bytes\)")
        case(
            f"{tag}-text-as-png",
            [*job, "-i", "{text}"],
            r"input .*text\.png is not an image \(it is text\): .* takes png, jpeg",
        )
        case(
            f"{tag}-noise-as-png",
            [*job, "-i", "{noise}"],
            r"not an image \(its first bytes are no format mediatask recognises\)",
        )
        case(
            f"{tag}-video-as-image",
            [*job, "-i", "{clip}"],
            r"input .*clip\.mp4 is not an image \(it is mp4\): .* takes png",
        )
        case(
            f"{tag}-under-a-file",
            [*job, "-i", "{good}/x.png"],
            r"cannot read input .*good\.png/x\.png: Not a directory: check the path",
        )
        case(f"{tag}-fifo", [*job, "-i", "{pipe}"], r"input .*pipe\.png is not a regular file")
        for scheme in ("ftp://host/cat.png", "data:image/png;base64,iVBOR", "file:///tmp/x.png"):
            word = scheme.split(":")[0]
            case(
                f"{tag}-{word}-url",
                [*job, "-i", scheme],
                rf"{word}: URLs are not supported: pass an http\(s\) URL or a local file",
            )
        case(f"{tag}-hostless-url", [*job, "-i", "https://"], r"'https://' is not a valid URL")
        case(f"{tag}-blank-input", [*job, "-i", " "], r"an input is empty: pass a file path")
        case(
            f"{tag}-unknown-operation",
            [command, provider, "explode", "-i", URL],
            rf"unknown operation 'explode' for {provider}: choose one of: ",
        )
        case(
            f"{tag}-no-input",
            [command, *IMAGE_OP[provider]],
            r"takes 1 input\(s\) \(image\), got 0: pass --input",
        )
        case(
            f"{tag}-two-inputs",
            [command, *IMAGE_OP[provider], "-i", URL, "-i", URL],
            r"takes 1 input\(s\) \(image\), got 2: pass --input",
        )
        case(
            f"{tag}-param-not-name-value",
            [*job, "-i", URL, "-p", "scale"],
            r"'scale' is not NAME=VALUE \(e\.g\. -p scale=4\)",
            exit_code=2,
        )
        case(
            f"{tag}-params-file-missing",
            [*job, "-i", URL, "--params-file", "{good}.json"],
            r"(does not exist|cannot read)",
            exit_code=2,
        )
        case(
            f"{tag}-params-file-not-json",
            [*job, "-i", URL, "--params-file", "{broken}"],
            r"broken\.json is not valid JSON",
            exit_code=2,
        )
        case(
            f"{tag}-params-file-not-object",
            [*job, "-i", URL, "--params-file", "{params}"],
            r"must hold a JSON object of parameters",
            exit_code=2,
        )
        case(
            f"{tag}-no-key",
            [command, *IMAGE_OP[provider], "-i", URL],
            rf"set MEDIATASK_{provider.upper()}_KEY",
            env={f"MEDIATASK_{provider.upper()}_KEY": None},
        )
    case(
        f"run-{provider}-out-under-a-file",
        ["run", *IMAGE_OP[provider], "-i", URL, "-o", "{good}/sub"],
        r"cannot write outputs to .*good\.png/sub: .*good\.png is a file, not a folder: choose",
    )
    case(
        f"run-{provider}-out-in-proc",
        ["run", *IMAGE_OP[provider], "-i", URL, "-o", "/proc/mediatask-out"],
        r"cannot create the output folder /proc/mediatask-out: .*: choose another -o/--out",
    )
    case(
        f"run-{provider}-out-is-a-file",
        ["run", *IMAGE_OP[provider], "-i", URL, "-o", "{good}"],
        r"(is a file|Directory .* is a file)",
        exit_code=None,
    )
    case(
        f"download-{provider}-out-under-a-file",
        ["download", f"{provider}:123456789012345678901234", "-o", "{good}/sub"],
        r"cannot write outputs to .*good\.png/sub: .*is a file, not a folder",
    )
for provider in ("a1d", "claid"):
    case(
        f"list-{provider}",
        ["list", provider],
        rf"{provider} keeps no list of tasks that mediatask can read: `mediatask list` works "
        "with a2e",
    )
    case(
        f"credits-{provider}",
        ["credits", provider],
        rf"{provider} does not report remaining credits: `mediatask credits` works with a2e",
    )

case(
    "run-out-not-writable",
    ["run", "a1d", "image-upscaler", "-i", URL, "-o", "/proc"],
    r"cannot write in the output folder /proc: .*: choose another -o/--out",
)
# A1D: URL-only, its parameters.
case(
    "a1d-local-file-without-sandbox",
    ["run", "a1d", "remove-bg", "-i", "{good}"],
    r"a1d takes inputs by URL only and .*good\.png is a local file: pass an http\(s\) URL",
)
case(
    "a1d-scale-not-allowed",
    ["run", "a1d", "image-upscaler", "-i", URL, "-p", "scale=3"],
    r"scale must be one of 2, 4, 8, 16, got '3'",
)
case(
    "a1d-scale-not-a-number",
    ["run", "a1d", "image-upscaler", "-i", URL, "-p", "scale=big"],
    r"scale must be a whole number \(2, 4, 8, 16\), got 'big'",
)
case(
    "a1d-unknown-param",
    ["run", "a1d", "image-upscaler", "-i", URL, "-p", "scal=2"],
    r"unknown parameter 'scal' \(did you mean scale\?\); known parameters: scale",
)
case(
    "a1d-missing-prompt",
    ["run", "a1d", "image-generator"],
    r"missing parameter prompt: pass -p prompt=VALUE",
)
case(
    "a1d-input-to-a-prompt-operation",
    ["run", "a1d", "image-generator", "-p", "prompt=x", "-i", URL],
    r"takes no input file; drop --input",
)
case(
    "a1d-image-as-video",
    ["run", "a1d", "video-upscaler", "-i", "{good}", "--sandbox"],
    r"input .*good\.png is not a video \(it is png\): a1d video-upscaler takes mp4",
)
case(
    "a1d-fps-too-high",
    ["run", "a1d", "speedpainter", "-i", URL, "-p", "fps=100"],
    r"fps must be at most 60, got '100'",
)
case(
    "a1d-bool-not-bool",
    ["run", "a1d", "speedpainter", "-i", URL, "-p", "needHand=maybe"],
    r"needHand must be true or false, got 'maybe'",
)
case(
    "a1d-key-over-plain-http",
    ["run", "a1d", "remove-bg", "-i", URL],
    r"refusing to send the key over plain http",
    env={"MEDIATASK_A1D_BASE_URL": "http://api.example.com"},
)
case(
    "a1d-wrong-key",
    ["run", "a1d", "remove-bg", "-i", URL],
    r"(Invalid or missing API key|key).*MEDIATASK_A1D_KEY",
    env={"MEDIATASK_A1D_KEY": "wrong"},
    network=True,
)
case(
    "sandbox-seconds-not-a-number",
    ["run", "a1d", "image-generator", "-p", "prompt=x", "--sandbox"],
    r"MEDIATASK_SANDBOX_SECONDS must be a number of seconds, got 'soon'",
    env={"MEDIATASK_SANDBOX_SECONDS": "soon"},
)
# Claid: its edit document.
case(
    "claid-input-as-param",
    ["run", "claid", "edit", "-i", URL, "-p", "input=https://x/y.png"],
    r"claid edit: input: give the image with --input, not as a parameter",
)
case(
    "claid-width-not-a-number",
    ["run", "claid", "edit", "-i", URL, "-p", "operations.resizing.width=wide"],
    r"claid edit: operations\.resizing\.width",
)
case(
    "claid-unknown-operation-field",
    ["run", "claid", "edit", "-i", URL, "-p", "operations.explode=1"],
    r"claid edit: operations.*explode",
)
case(
    "claid-misspelt-field-names-the-valid-ones",
    ["run", "claid", "edit", "-i", URL, "-p", "operations.resizing.widht=100"],
    r"operations\.resizing\.widht: extra fields not permitted \(did you mean width\?\); "
    r"valid here: width, height, fit",
)
# A2E: two inputs, audio, URL parameters.
case(
    "a2e-face-swap-one-input",
    ["run", "a2e", "face-swap", "-p", "name=x", "-i", URL],
    r"a2e face-swap takes 2 input\(s\) \(face, video\), got 1: pass --input",
)
case(
    "a2e-face-swap-video-as-face",
    ["run", "a2e", "face-swap", "-p", "name=x", "-i", "{clip}", "-i", "{clip}"],
    r"input .*clip\.mp4 is not an image \(it is mp4\): a2e face-swap takes png",
)
case(
    "a2e-avatar-image-as-audio",
    ["run", "a2e", "avatar-video", "-p", "anchor_id=" + "a" * 24, "-i", "{good}"],
    r"input .*good\.png is not an audio \(it is png\): a2e avatar-video takes mp3",
)
case(
    "a2e-audio-url-not-a-url",
    [
        "run",
        "a2e",
        "talking-photo",
        "-i",
        URL,
        "-p",
        "name=x",
        "-p",
        "prompt=t",
        "-p",
        "audio_url=x",
    ],
    r"audio_url must be an http\(s\) URL",
)
case(
    "a2e-video-time-choice",
    [
        "run",
        "a2e",
        "image-to-video",
        "-i",
        URL,
        "-p",
        "name=x",
        "-p",
        "prompt=t",
        "-p",
        "video_time=7",
    ],
    r"video_time must be one of 5, 10, 15, 20, got '7'",
)
case(
    "a2e-image-as-audio-param",
    ["run", "a2e", "talking-photo", "-i", "{good}", "-p", "prompt=t", "-p", "audio_url=@{good}"],
    r"-p audio_url=@.*good\.png is not an audio \(it is png\): a2e talking-photo takes mp3.* "
    r"for audio_url",
)
case(
    "stdin-named-standard-input",
    ["run", "a1d", "remove-bg", "-i", "-", "--sandbox"],
    r"input standard input \(-i -\) is not an image \(it is text\)",
    stdin="just some text\n",
)
case(
    "unknown-operation-did-you-mean",
    ["run", "a1d", "image-upscale", "-i", URL],
    r"unknown operation 'image-upscale' for a1d \(did you mean image-upscaler\?\)",
)
case(
    "unknown-provider-did-you-mean",
    ["run", "claidd", "edit", "-i", URL],
    r"unknown provider 'claidd' \(did you mean claid\?\); installed",
)
case(
    "batch-manifest-is-a-folder",
    ["batch", "{folder}", "-o", "{folder}/out"],
    r"cannot read the manifest .*folder: it is a folder$",
)
case(
    "batch-manifest-not-text",
    ["batch", "{binary}", "-o", "{folder}/out"],
    r"cannot read the manifest .*binary\.jsonl: it is not text \(UTF-8\)$",
)
# Handles and task commands.
case("status-no-colon", ["status", "nocolon"], r"'nocolon' is not a task handle: write PROVIDER")
case("status-empty-id", ["status", "a1d:"], r"'a1d:' is not a task handle: write PROVIDER")
case("status-unknown-provider", ["status", "nope:1"], r"unknown provider 'nope'; installed")
case(
    "status-unknown-operation",
    ["status", "a2e:123456789012345678901234", "--operation", "explode"],
    r"unknown operation 'explode' for a2e: choose one of: image-to-video",
)
case(
    "watch-unknown-operation",
    ["watch", "a2e:123456789012345678901234", "--operation", "explode"],
    r"unknown operation 'explode' for a2e: choose one of",
)
case("cancel-a1d", ["cancel", "a1d:task_1"], r"a1d has no way to cancel a task")
case(
    "status-unknown-task",
    ["status", "a1d:task_unknown"],
    r"(Task not found|not found)",
    network=True,
)
case("jobs-show-unknown", ["jobs", "show", "zzz"], r"has no job 'zzz'")
case(
    "status-journal-missing",
    ["status", "a1d:task_1", "--journal", "{good}.missing"],
    r"does not exist",
    exit_code=2,
)
# Keys.
case("keys-set-unknown-provider", ["keys", "set", "nope"], r"unknown provider 'nope'", stdin="k\n")
case(
    "keys-set-empty-stdin",
    ["keys", "set", "a1d"],
    r"no key on standard input: pipe it in, e.g\. printf %s \"\$KEY\" \| mediatask keys set a1d",
    stdin="",
)
case(
    "keys-set-blank-line",
    ["keys", "set", "claid"],
    r"no key on standard input",
    stdin="   \n",
)
case("keys-remove-unknown", ["keys", "remove", "a1d"], r"no stored key for a1d")
# Batches: a bad manifest, a bad concurrency.
case(
    "batch-missing-manifest",
    ["batch", "{good}.jsonl", "-o", "{folder}/out"],
    r"(does not exist|cannot read|not found)",
    exit_code=None,
)
case(
    "batch-out-under-a-file",
    ["batch", "{jobs}", "-o", "{good}/sub"],
    r"cannot write outputs to .*good\.png/sub: .*good\.png is a file, not a folder",
)
case(
    "batch-out-in-proc",
    ["batch", "{jobs}", "-o", "/proc/mediatask-batch"],
    r"cannot create the output folder /proc/mediatask-batch: .*: choose another -o/--out",
)
case(
    "batch-zero-concurrency",
    ["batch", "{params}", "-o", "{folder}/out", "--concurrency", "0"],
    r"(concurrency|0 is not in the range)",
    exit_code=2,
)


@pytest.mark.subprocess
@pytest.mark.parametrize(("args", "pattern", "options"), CLI_CASES)
def test_bad_cli_input_is_one_clear_line_and_costs_nothing(
    args: list[str],
    pattern: str,
    options: dict[str, Any],
    emulators: dict[str, Standalone],
    files: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _env(emulators)
    for name, value in options.get("env", {}).items():
        if value is None:
            env.pop(name, None)
            monkeypatch.delenv(name, raising=False)
        else:
            env[name] = value
    before = _stats(emulators)
    result = CliRunner().invoke(cli, _fill(args, files), env=env, input=options.get("stdin"))
    output = result.output
    expected = options.get("exit_code", 1)
    if expected is None:
        assert result.exit_code not in (0, None), output
    else:
        assert result.exit_code == expected, output
    assert "Traceback" not in output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert re.search(pattern, output), output
    if expected == 1:
        assert ONE_LINE_ERROR.match(output), output
    after = _stats(emulators)
    if options.get("network"):
        for name in PROVIDERS:
            assert after[name].get("submissions", 0) == before[name].get("submissions", 0)
    else:
        assert after == before  # found before any request: nothing paid, nothing even asked
    _nothing_lost()


def _nothing_lost() -> None:
    """No job of the user's journal is left mid-submit or with a task but no handle."""
    path = home_dir() / "journal.sqlite"
    if not path.exists():
        return
    with Journal(path) as journal:
        for record in journal.records():
            assert record.state is not JobState.SUBMITTING, record
            assert record.state is not JobState.SUBMITTED or record.handle, record


def test_the_table_is_big_enough() -> None:
    assert len(CLI_CASES) + len(LIBRARY_CASES) >= 120


# -- the library table -----------------------------------------------------------------------

LIBRARY_CASES: list[Any] = []
# Typed as Any: these cases pass what the signatures forbid, as an untyped caller would.
AnyJob: Any = Job
AnyJournal: Any = Journal
AnyClient: Any = Client
AnyTaskRef: Any = TaskRef
any_run: Any = mediatask.run
any_run_many: Any = mediatask.run_many


def lib(name: str, call: Any, error: type[BaseException], pattern: str) -> None:
    """Add a library case: ``call(files)`` must raise ``error`` matching ``pattern``."""
    LIBRARY_CASES.append(pytest.param(call, error, pattern, id=name))


lib("job-provider-none", lambda f: AnyJob(None, "x"), TypeError, r"Job\.provider must be a string")
lib("job-operation-none", lambda f: AnyJob("a1d", None), TypeError, r"Job\.operation must be a str")
lib("job-provider-int", lambda f: AnyJob(1, "x"), TypeError, r"must be a string, got int 1")
lib("job-provider-empty", lambda f: AnyJob("", "x"), UsageError, r"Job\.provider must not be empty")
lib("job-operation-blank", lambda f: AnyJob("a1d", " "), UsageError, r"operation must not be empty")
lib("job-inputs-int", lambda f: AnyJob("a", "b", 5), TypeError, r"inputs must be a path or URL")
lib("job-inputs-bytes", lambda f: AnyJob("a", "b", b"x.png"), TypeError, r"inputs must be a path")
lib("job-inputs-dict", lambda f: AnyJob("a", "b", {"x": 1}), TypeError, r"inputs must be a path")
lib("job-input-none", lambda f: AnyJob("a", "b", [None]), TypeError, r"each input must be a path")
lib("job-input-int", lambda f: AnyJob("a", "b", ["x", 3]), TypeError, r"got int 3")
lib("job-params-list", lambda f: AnyJob("a", "b", [], [1]), TypeError, r"params must be a mapping")
lib("job-params-str", lambda f: AnyJob("a", "b", [], "scale=2"), TypeError, r"params must be a map")
lib("job-params-int-key", lambda f: AnyJob("a", "b", [], {1: 2}), TypeError, r"name must be a str")
lib(
    "run-many-zero",
    lambda f: any_run_many([], concurrency=0),
    UsageError,
    r"concurrency must be at least 1, got 0: pass e\.g\. 8",
)
lib(
    "run-many-negative",
    lambda f: any_run_many([], concurrency=-3),
    UsageError,
    r"concurrency must be at least 1, got -3",
)
lib(
    "run-many-str",
    lambda f: any_run_many([], concurrency="8"),
    UsageError,
    r"concurrency must be a whole number, got '8'",
)
lib(
    "run-many-bool",
    lambda f: any_run_many([], concurrency=True),
    UsageError,
    r"concurrency must be a whole number, got True",
)
lib(
    "run-many-not-jobs",
    lambda f: any_run_many(["a1d image-upscaler"]),
    TypeError,
    r"job must be a mediatask\.Job, got str: build one with Job\(",
)
lib(
    "run-not-a-job",
    lambda f: any_run({"provider": "a1d"}),
    TypeError,
    r"job must be a mediatask\.Job, got dict",
)
lib(
    "run-out-dir-int",
    lambda f: any_run(Job("a1d", "image-upscaler", [URL]), out_dir=5),
    TypeError,
    r"out_dir must be a folder path \(a str or os\.PathLike\), got int 5$",
)
NOW = datetime.now(UTC)
lib("taskref-provider-none", lambda f: AnyTaskRef(None, "1", NOW), TypeError, r"provider must be")
lib("taskref-id-none", lambda f: AnyTaskRef("a1d", None, NOW), TypeError, r"task_id must be a")
lib("taskref-id-float", lambda f: AnyTaskRef("a1d", 1.5, NOW), TypeError, r"string or an integer")
lib("taskref-when-str", lambda f: AnyTaskRef("a", "1", "today"), TypeError, r"timezone-aware")
lib("journal-none", lambda f: AnyJournal(None), TypeError, r"^Journal path must be a file path")
lib("journal-int", lambda f: AnyJournal(3), TypeError, r"a str or os\.PathLike\), got int 3$")
lib("journal-bytes", lambda f: AnyJournal(b"j.sqlite"), TypeError, r"PathLike\), got bytes$")
lib("run-none", lambda f: any_run(None), TypeError, r"^job must be a mediatask\.Job, got None: ")
lib("run-many-none", lambda f: any_run_many(None), TypeError, r"^jobs must be an iterable of")
lib("run-many-one-job", lambda f: any_run_many(Job("a1d", "x")), TypeError, r"a list\), got Job$")
lib("run-many-out-dir", lambda f: any_run_many([], out_dir=["o"]), TypeError, r"\), got list$")
lib("client-plugins-none", lambda f: AnyClient(plugins=None), TypeError, r"^Client plugins must be")
# The mapping may hold keys: only its type is shown.
lib("client-settings-dict", lambda f: AnyClient(settings={"K": "sk-1"}), TypeError, r"got dict$")
lib("client-retry-int", lambda f: AnyClient(retry=3), TypeError, r"retry must be a RetryPolicy")


def on_client(method: str, *args: Any) -> Any:
    """A library case calling ``Client.method(*args)`` on a client that cannot send anything."""

    async def call() -> None:
        async with _client(ScriptedTransport([])) as client:
            returned = getattr(client, method)(*args)
            if isinstance(returned, contextlib.AbstractAsyncContextManager):
                async with returned as outcomes:
                    async for _ in outcomes:
                        pass
            elif inspect.isawaitable(returned):
                await returned

    return lambda f: trio.run(call)


A1D_JOB = Job("a1d", "image-upscaler", [URL])
lib("client-run-none", on_client("run", None), TypeError, r"^job must be a mediatask\.Job")
lib("client-run-out-dir", on_client("run", A1D_JOB, 5), TypeError, r"^out_dir must be a folder")
lib("client-check-str", on_client("check", "a1d image-upscaler"), TypeError, r"Job, got str: ")
lib("client-submit-dict", on_client("submit", {}), TypeError, r"^job must be a mediatask\.Job")
lib("client-wait-str", on_client("wait", "a1d:1"), TypeError, r"^task must be a mediatask\.TaskRef")
lib("client-many-int", on_client("run_many", 8), TypeError, r"^jobs must be an iterable")
lib("client-many-item", on_client("run_many", [None]), TypeError, r"^job must be a mediatask\.Job")
lib(
    "run-many-generator-item",
    lambda f: any_run_many(job for job in [A1D_JOB, None]),
    TypeError,
    r"^job must be a mediatask\.Job, got None",
)


@pytest.mark.parametrize(("call", "error", "pattern"), LIBRARY_CASES)
def test_bad_library_arguments_raise_a_sentence(
    call: Any, error: type[BaseException], pattern: str, files: dict[str, str]
) -> None:
    with pytest.raises(error, match=pattern) as raised:
        call(files)
    assert "\n" not in str(raised.value)
    if error is TypeError:  # mediatask's sentence on every Python, never the interpreter's
        assert re.match(r"[\w. ]+ must be .+, got ", str(raised.value))


def _client(transport: ScriptedTransport) -> Client:
    keys = {"MEDIATASK_A1D_KEY": "k", "MEDIATASK_CLAID_KEY": "k", "MEDIATASK_A2E_KEY": "k"}
    return Client(
        plugins=PluginManager.from_entry_points(),
        settings=Settings(environ=keys),
        transport=transport,
    )


SUBMIT_CASES = [
    ("text", r"is not an image \(it is text\)"),
    ("empty", r"is empty \(0 bytes\)"),
    ("folder", r"is a directory"),
    ("pipe", r"is not a regular file"),
    ("clip", r"is not an image \(it is mp4\)"),
]


@pytest.mark.parametrize("provider", ["claid", "a2e"])
@pytest.mark.parametrize(("name", "pattern"), SUBMIT_CASES)
async def test_client_submit_refuses_bad_files_before_sending(
    provider: str, name: str, pattern: str, files: dict[str, str]
) -> None:
    transport = ScriptedTransport([])
    operation = {"claid": ("edit", {}), "a2e": ("talking-photo", {"name": "x", "prompt": "t"})}
    op, params = operation[provider]
    async with _client(transport) as client:
        with pytest.raises(UsageError, match=pattern):
            client.check(Job(provider, op, [files[name]], params))
        with pytest.raises(UsageError, match=pattern):
            await client.submit(Job(provider, op, [files[name]], params))
    assert transport.sent == []


async def test_client_run_refuses_an_unwritable_out_dir_before_sending(
    files: dict[str, str],
) -> None:
    transport = ScriptedTransport([])
    async with _client(transport) as client:
        with pytest.raises(UsageError, match="is a file, not a folder"):
            await client.run(Job("a1d", "image-upscaler", [URL]), Path(files["good"]) / "sub")
        with pytest.raises(UsageError, match="is a file, not a folder"):  # a str path: the same
            await client.run(Job("a1d", "image-upscaler", [URL]), f"{files['good']}/sub")
        with pytest.raises(UsageError, match="concurrency must be at least 1"):
            await _drain(client, concurrency=0)
    assert transport.sent == []


async def test_client_run_many_checks_a_generators_jobs_as_it_takes_them() -> None:
    transport = ScriptedTransport([])
    wrong = pytest.RaisesExc(TypeError, match=r"^job must be a mediatask\.Job, got None: build")
    async with _client(transport) as client:
        with pytest.RaisesGroup(wrong, flatten_subgroups=True):
            async with client.run_many(job for job in [None]) as outcomes:  # type: ignore[misc]
                async for _ in outcomes:
                    pass
    assert transport.sent == []


async def _drain(client: Client, *, concurrency: int) -> None:
    async with client.run_many([], concurrency=concurrency) as outcomes:
        async for _ in outcomes:
            pass


def test_journal_takes_a_str_path(tmp_path: Path) -> None:
    with Journal(str(tmp_path / "a" / "journal.sqlite")) as journal:
        assert journal.path == tmp_path / "a" / "journal.sqlite"


# -- the synchronous facade: the same single errors with or without the sandbox --------------


@pytest.mark.parametrize("sandbox", [False, True])
def test_the_facade_raises_single_errors_with_or_without_the_sandbox(
    sandbox: bool, files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIATASK_A1D_KEY", "k")
    bad_scale = Job("a1d", "image-upscaler", [URL], {"scale": "3"})
    with pytest.raises(UsageError, match="scale must be one of"):
        mediatask.run(bad_scale, sandbox=sandbox)
    text = Job("claid", "edit", [files["text"]])
    with pytest.raises(UsageError, match="is not an image"):
        mediatask.run(text, sandbox=sandbox)


def test_a_failed_sandbox_task_is_a_plain_task_failed_error_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDIATASK_SANDBOX_SECONDS", "0")
    closed = Job("a1d", "remove-bg", ["http://127.0.0.1:9/closed.png"])
    with pytest.raises(MediataskError) as raised:  # an ExceptionGroup would escape this
        mediatask.run(closed, sandbox=True)
    assert isinstance(raised.value, TaskFailedError)
    assert "could not reach input URL http://127.0.0.1:9/closed.png" in str(raised.value)
    assert raised.value.update is not None
    assert raised.value.update.message


# -- misleading messages, each with the setup it needs ----------------------------------------


def test_a_sandbox_handle_used_later_says_its_emulator_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDIATASK_SANDBOX_SECONDS", "0")
    runner = CliRunner()
    submitted = runner.invoke(
        cli, ["submit", "a1d", "image-generator", "-p", "prompt=x", "--sandbox"]
    )
    assert submitted.exit_code == 0, submitted.output
    handle = submitted.stdout.strip()
    for command in ("status", "wait", "watch", "download"):
        later = runner.invoke(cli, [command, handle])  # no key, no --sandbox
        assert later.exit_code == 1, later.output
        assert ONE_LINE_ERROR.match(later.output), later.output
        assert f"{handle} came from a --sandbox run, whose emulator stopped" in later.output
        assert "KEY" not in later.output


def test_a_changed_manifest_line_reusing_an_id_says_why_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIATASK_SANDBOX_SECONDS", "0")
    manifest = tmp_path / "jobs.jsonl"
    line = '{{"id": "lamp", "provider": "a1d", "operation": "image-generator", "params": {}}}\n'
    manifest.write_text(line.format('{"prompt": "a lamp"}'))
    out = tmp_path / "out"
    runner = CliRunner()
    first = runner.invoke(cli, ["batch", str(manifest), "-o", str(out), "--sandbox"])
    assert first.exit_code == 0, first.output
    manifest.write_text(line.format('{"prompt": "a different lamp"}'))
    second = runner.invoke(cli, ["batch", str(manifest), "-o", str(out), "--sandbox"])
    assert second.exit_code == 1
    assert re.search(
        r"jobs\.jsonl: line 1: job lamp differs from the one the journal recorded for it; give "
        "the changed job a new id",
        second.stderr,
    ), second.stderr
    results = (out / "results.jsonl").read_text()
    assert '"job": "lamp"' in results


def test_keys_set_from_a_pipe_prints_no_warning(mediatask_home: Path) -> None:
    result = CliRunner().invoke(cli, ["keys", "set", "a1d"], input="sk-piped\n")
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.output
    assert "stored the a1d key" in result.output
    assert "sk-piped" not in result.output


def test_help_shows_list_and_credits_only_for_providers_that_have_them() -> None:
    for command in ("list", "credits"):
        shown = CliRunner().invoke(cli, [command, "--help"]).output
        assert f"mediatask {command} claid" not in shown
        assert f"mediatask {command} a2e" in shown


# -- the emulators fail a task with its reason, and the plugins surface it ---------------------

REASONS = {
    "empty.png": "the input is empty (0 bytes)",
    "text.png": "the input is not an image (its format is not one we can read)",
    "missing.png": "missing.png answered HTTP 404",
}
SANDBOX_JOBS = {
    "a1d": ("remove-bg", {}),
    "claid": ("edit", {}),
    "a2e": ("talking-photo", {"name": "x", "prompt": "t"}),
}


@pytest.fixture(scope="module")
def bad_inputs_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTP server with an empty file and a text file named .png (and no missing.png)."""
    folder = tmp_path_factory.mktemp("served")
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image\n")
    with serving_folder(folder) as url:
        yield url


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_task_failed_by_its_input_says_why(
    provider: str, bad_inputs_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    operation, params = SANDBOX_JOBS[provider]
    jobs = [Job(provider, operation, [f"{bad_inputs_url}/{name}"], params) for name in REASONS]
    jobs.append(Job(provider, operation, ["http://127.0.0.1:9/closed.png"], params))
    outcomes = mediatask.run_many(jobs, sandbox=True)
    reasons = [*REASONS.values(), "could not reach input URL http://127.0.0.1:9/closed.png"]
    for outcome, reason in zip(outcomes, reasons, strict=True):
        assert isinstance(outcome.error, TaskFailedError), outcome
        assert reason in str(outcome.error)
        assert not str(outcome.error).endswith("failed: FAILED")


# -- batch manifests: each bad line says why, in results.jsonl and on the display -------------

MANIFEST_CASES = [
    ("ftp-url", "a1d", "remove-bg", "ftp://host/a.png", r"ftp: URLs are not supported"),
    ("data-url", "claid", "edit", "data:image/png;base64,AA", r"data: URLs are not supported"),
    ("text-as-png", "claid", "edit", "{text}", r"is not an image \(it is text\)"),
    ("empty", "claid", "edit", "{empty}", r"is empty \(0 bytes\)"),
    ("directory", "claid", "edit", "{folder}", r"is a directory: pass a file"),
    ("missing", "claid", "edit", "{good}.gone", r"input file not found: .*: check the path"),
    ("unknown-operation", "a1d", "explode", URL, r"unknown operation 'explode' for a1d"),
    ("local-to-url-only", "a1d", "remove-bg", "{good}", r"a1d takes inputs by URL only"),
]


@pytest.mark.parametrize(
    ("provider", "operation", "source", "pattern"),
    [pytest.param(*rest, id=name) for name, *rest in MANIFEST_CASES],
)
def test_a_bad_manifest_line_says_why_and_costs_nothing(
    provider: str,
    operation: str,
    source: str,
    pattern: str,
    emulators: dict[str, Standalone],
    files: dict[str, str],
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "jobs.jsonl"
    line = {"id": "j1", "provider": provider, "operation": operation, "input": source}
    line["input"] = source.format(**files)
    manifest.write_text(json.dumps(line) + "\n")
    before = _stats(emulators)
    result = CliRunner().invoke(
        cli, ["batch", str(manifest), "-o", str(tmp_path / "out")], env=_env(emulators)
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert re.search(pattern, result.output), result.output
    written = json.loads((tmp_path / "out" / "results.jsonl").read_text())
    assert written["job"] == "j1"
    assert re.search(pattern, written["error"]), written
    assert _stats(emulators) == before
