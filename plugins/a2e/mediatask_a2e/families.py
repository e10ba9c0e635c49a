"""What the A2E plugin declares: its operations, their parameters, and each task family's paths.

A2E has one set of endpoints per task family (``/api/v1/userImage2Video/...``,
``/api/v1/talkingPhoto/...``); an operation is one family. Parameter names are A2E's own field
names, so a job's parameters go into the request body as they are.
"""

from __future__ import annotations

import attrs

from mediatask.plugin import (
    Capabilities,
    LocalFiles,
    Operation,
    Param,
    ProviderInfo,
    TaskRef,
    UsageError,
)


@attrs.frozen
class Family:
    """One A2E task family: where its tasks are created, read, listed and deleted."""

    operation: str
    prefix: str
    """Path segment after ``/api/v1/``, e.g. ``userImage2Video``."""
    start: str
    """Path of the create call under the prefix (``start``, ``add``, ``startDubbing``...)."""
    input_fields: tuple[str, ...] = ()
    """The body field of each input, in the operation's input order."""
    list_path: str | None = "allRecords"
    """Path of the family's record list under the prefix; ``None`` if it has none."""

    @property
    def start_url(self) -> str:
        """The create call's path."""
        return f"/api/v1/{self.prefix}/{self.start}"


_NAME = Param("name", default="mediatask", description="a name for the task in A2E's records")
_WEBHOOK = (
    Param("webhook_url", "url", description="HTTPS URL A2E posts to when the task ends (sk_ keys)"),
    Param("webhook_token", description="echoed in the X-A2e-Webhook-Token header"),
)
_TALKING = (
    _NAME,
    Param("prompt", required=True, description="what the person does"),
    Param("negative_prompt", default="", description="what to avoid"),
    Param("audio_url", "url", description="speech to lip-sync to"),
    Param("duration", "int", default=3, minimum=1, maximum=20, description="seconds"),
    *_WEBHOOK,
)

OPERATIONS = (
    Operation(
        "image-to-video",
        "Animate an image into a short video (userImage2Video)",
        ("image",),
        (
            _NAME,
            Param("prompt", required=True, description="what happens in the video"),
            Param("negative_prompt", description="what to avoid"),
            Param("lora", description="a LoRA style name"),
            Param("model_type", choices=("GENERAL", "FLF2V"), description="FLF2V: first+last"),
            Param("model_version", choices=("a2e", "a2e-v2", "a2e-v2-flash")),
            Param("end_image_url", "url", description="last frame (required with FLF2V)"),
            Param("extend_prompt", "bool", description="let A2E extend the prompt"),
            Param("video_time", "int", choices=(5, 10, 15, 20), description="seconds"),
            Param("skip_face_enhance", "bool"),
            Param("minor_suspected_skip", "bool", description="skip the suspected-minor check"),
            *_WEBHOOK,
        ),
        output_kind="video",
        input_kinds="image",
    ),
    Operation(
        "talking-photo",
        "Make a photo talk",
        ("image",),
        _TALKING,
        output_kind="video",
        input_kinds="image",
    ),
    Operation(
        "talking-video",
        "Make a video talk",
        ("video",),
        _TALKING,
        output_kind="video",
        input_kinds="video",
    ),
    Operation(
        "face-swap",
        "Put a face onto a video (userFaceSwapTask)",
        ("face", "video"),
        (
            _NAME,
            Param("cover_url", "url"),
            Param("model_version", choices=("v1", "v2"), description="v2: images only"),
            *_WEBHOOK,
        ),
        output_kind="video",
        input_kinds=("image", "video"),
    ),
    Operation(
        "dubbing",
        "Dub a video into another language (userDubbing)",
        ("video",),
        (
            _NAME,
            Param("source_lang", default="auto", description="spoken language, or auto"),
            Param("target_lang", required=True, description="language to dub into, e.g. en"),
            Param("num_speakers", "int", minimum=1, maximum=10),
            Param("drop_background_audio", "bool"),
            *_WEBHOOK,
        ),
        output_kind="video",
        input_kinds="video",
    ),
    Operation(
        "caption-removal",
        "Remove burnt-in captions from a video (userCaptionRemoval)",
        ("video",),
        (_NAME, *_WEBHOOK),
        output_kind="video",
        input_kinds="video",
    ),
    Operation(
        "avatar-video",
        "A lip-synced avatar video from an audio track (video/generate)",
        ("audio",),
        (
            Param("anchor_id", required=True, description="the avatar's 24-hex id"),
            Param("anchor_type", "int", default=0, choices=(0, 1), description="0 system, 1 own"),
            Param("title", description="at most 40 characters"),
            Param("back_id", description="a system background"),
            Param("custom_back_id", description="one of your backgrounds (not with back_id)"),
            Param("color", description="background colour, e.g. #ffffff"),
            Param("resolution", "int", default=1080, choices=(720, 1080)),
            Param("web_bg_width", "int", default=1080, minimum=1),
            Param("web_bg_height", "int", default=1920, minimum=1),
            Param("web_people_width", "int", default=1080, minimum=1),
            Param("web_people_height", "int", default=1920, minimum=1),
            Param("web_people_x", "int", default=0),
            Param("web_people_y", "int", default=0),
            Param("isSkipRs", "bool"),
            Param("isCaptionEnabled", "bool"),
            *_WEBHOOK,
        ),
        output_kind="video",
        input_kinds="audio",
    ),
    Operation(
        "tts",
        "Text to speech (send_tts; answers at once)",
        (),
        (
            Param("msg", required=True, description="the text, at most 1000 characters"),
            Param("tts_id", description="a public voice (or user_voice_id)"),
            Param("user_voice_id", description="one of your cloned voices (24-hex id)"),
            Param("country", default="en"),
            Param("region", default="US"),
            Param("speechRate", "float", default=1.0, minimum=0.5, maximum=2.0),
        ),
        output_kind="audio",
    ),
    Operation(
        "text-to-image",
        "Images from a text prompt (userText2Image)",
        (),
        (
            _NAME,
            Param("prompt", required=True),
            Param("width", "int", default=1024, minimum=64, maximum=2048),
            Param("height", "int", default=1024, minimum=64, maximum=2048),
            Param("model_type", choices=("a2e", "seedream")),
            Param("max_images", "int", minimum=1, maximum=8, description="several tasks at once"),
            Param("aspect_ratio"),
            Param("skip_face_enhance", "bool"),
            *_WEBHOOK,
        ),
    ),
)

FAMILIES = {
    family.operation: family
    for family in (
        Family("image-to-video", "userImage2Video", "start", ("image_url",)),
        Family("talking-photo", "talkingPhoto", "start", ("image_url",)),
        Family("talking-video", "talkingVideo", "start", ("video_url",)),
        Family("face-swap", "userFaceSwapTask", "add", ("face_url", "video_url"), "records"),
        Family("dubbing", "userDubbing", "startDubbing", ("source_url",)),
        # The spec says source_url, third-party clients video_url: the plugin sends both.
        Family("caption-removal", "userCaptionRemoval", "start", ("source_url",)),
        Family("avatar-video", "video", "generate", ("audioSrc",), "awsList"),
        Family("tts", "video", "send_tts", (), None),
        Family("text-to-image", "userText2Image", "start"),
    )
}

INFO = ProviderInfo(
    name="a2e",
    title="A2E",
    base_url="https://video.a2e.ai",
    auth_scheme="Bearer",
    operations=OPERATIONS,
    capabilities=Capabilities(cancel=True, list=True, local_files=LocalFiles.UPLOAD),
    docs_url="https://api.a2e.ai/",
)


def family_of(task: TaskRef) -> Family:
    """The family of ``task``, from its operation; :class:`UsageError` when it is unknown."""
    operation = task.operation or task.extra.get("operation", "")
    family = FAMILIES.get(operation)
    if family is None:
        choices = ", ".join(FAMILIES)
        raise UsageError(
            f"{task.handle}: A2E keeps each kind of task at its own endpoints, so the task's "
            f"operation is needed to find it; give it ({choices})"
        )
    return family
