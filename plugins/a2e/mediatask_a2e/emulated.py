"""The A2E emulator's task families: what each start call requires, costs, shows and produces.

Field lists follow the vendor examples (PROVIDERS.md 4.4); prices are ASSUMPTIONS (A2E's price
list is not public): chosen so the vendor examples come out right (100 coins for a 5 s
image-to-video, 13 for a 5 s talking video).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs


class BadRequestError(Exception):
    """A start body the emulator refuses: HTTP 400 (or code 400) with this message."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


def iso(epoch: float) -> str:
    """A2E's timestamp form: ISO-8601 UTC with milliseconds, e.g. 2025-03-13T07:58:27.863Z."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _url(body: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise BadRequestError(f"Invalid request parameters: {name} must be an http(s) URL")
    return value


def _text(body: Mapping[str, Any], name: str, *, required: bool = False, default: str = "") -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequestError(f"Invalid request parameters: {name} is required (a string)")
    return value


def _int(body: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequestError(f"Invalid request parameters: {name} must be {low}..{high}")
    return value


@attrs.frozen
class Spec:
    """One emulated family: its paths, body check, price and record layout."""

    operation: str
    prefix: str
    start: str
    read: Callable[[Mapping[str, Any]], dict[str, Any]]
    """Checks a start body; returns the record's own fields (raises BadRequestError)."""
    price: Callable[[Mapping[str, Any]], int]
    layout: str = "generic"
    """``generic`` (current_status, failed_message), ``faceswap`` (faild_message, error_code),
    ``image`` (image_urls) or ``avatar`` (status, process, result)."""
    list_path: str = "allRecords"
    not_found: str = "Not Found - Task not found"
    first_word: str = "initialized"
    """The status a task starts in: ``sent`` for image-to-video ("The initial status will be
    sent", its check-status page and start example), ``initialized`` for the others."""


def _i2v(body: Mapping[str, Any]) -> dict[str, Any]:
    negative = body.get("negative_prompt", body.get("negative_prmpt", ""))
    if body.get("model_type") == "FLF2V":
        _url(body, "end_image_url")
    return {
        "name": _text(body, "name"),
        "image_url": _url(body, "image_url"),
        "prompt": _text(body, "prompt", required=True),
        "negative_prompt": negative if isinstance(negative, str) else "",
        "video_time": _int(body, "video_time", 5, 5, 20),
    }


def _talking(source: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    def read(body: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": _text(body, "name", required=True),
            source: _url(body, source),
            "audio_url": _url(body, "audio_url", required=False),
            "duration": _int(body, "duration", 3, 1, 20),
            "prompt": _text(body, "prompt", required=True),
            "negative_prompt": _text(body, "negative_prompt"),
        }

    return read


def _face_swap(body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": _text(body, "name", required=True),
        "video_url": _url(body, "video_url"),
        "face_url": _url(body, "face_url"),
    }


def _dubbing(body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": _text(body, "name"),
        "source_url": _url(body, "source_url"),
        "source_lang": _text(body, "source_lang", default="auto"),
        "target_lang": _text(body, "target_lang", required=True),
        "num_speakers": _int(body, "num_speakers", 1, 1, 10),
        "drop_background_audio": bool(body.get("drop_background_audio", False)),
    }


def caption_reader(field: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Caption removal's body check, reading the video from ``field``.

    ``source_url`` (the spec), ``video_url`` (third-party clients) or ``either`` (source_url
    when given, else video_url).
    """

    def read(body: Mapping[str, Any]) -> dict[str, Any]:
        name = field
        if field == "either":
            name = "source_url" if body.get("source_url") else "video_url"
        return {"name": _text(body, "name", required=True), "source_url": _url(body, name)}

    return read


def _text2image(body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": _text(body, "name"),
        "prompt": _text(body, "prompt", required=True),
        "width": _int(body, "width", 1024, 64, 2048),
        "height": _int(body, "height", 1024, 64, 2048),
        "max_images": _int(body, "max_images", 1, 1, 8),
    }


def avatar_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The avatar-video body check (``video/generate``)."""
    if body.get("back_id") and body.get("custom_back_id"):
        raise BadRequestError("back_id and custom_back_id cannot both be set", code=30005)
    anchor = _text(body, "anchor_id", required=True)
    if len(anchor) != 24 or any(c not in "0123456789abcdefABCDEF" for c in anchor):
        raise BadRequestError("Invalid request parameters: anchor_id must be a 24-hex id")
    if not body.get("audioSrc") and not body.get("custom_voice"):
        raise BadRequestError("Invalid parameters or missing required audio source")
    for name in ("resolution", "web_bg_width", "web_bg_height", "web_people_width"):
        _int(body, name, 1080, 1, 4096)
    return {
        "title": _text(body, "title")[:40],
        "anchor_id": anchor,
        "anchor_type": _int(body, "anchor_type", 0, 0, 1),
        "audioSrc": _url(body, "audioSrc", required=False),
        "web_bg_width": body.get("web_bg_width", 0),
        "web_bg_height": body.get("web_bg_height", 0),
        "color": _text(body, "color"),
        "replace_bg_id": _text(body, "back_id"),
        "custom_backs_id": _text(body, "custom_back_id"),
    }


SPECS = {
    spec.operation: spec
    for spec in (
        Spec(
            "image-to-video",
            "userImage2Video",
            "start",
            _i2v,
            lambda f: 20 * f["video_time"],
            first_word="sent",
        ),
        Spec(
            "talking-photo",
            "talkingPhoto",
            "start",
            _talking("image_url"),
            lambda f: 2 * f["duration"] + 3,
        ),
        Spec(
            "talking-video",
            "talkingVideo",
            "start",
            _talking("video_url"),
            lambda f: 2 * f["duration"] + 3,
        ),
        Spec(
            "face-swap",
            "userFaceSwapTask",
            "add",
            _face_swap,
            lambda f: 30,
            "faceswap",
            "records",
            "Invalid task ID format",
        ),
        Spec("dubbing", "userDubbing", "startDubbing", _dubbing, lambda f: 40),
        Spec(
            "caption-removal",
            "userCaptionRemoval",
            "start",
            caption_reader("source_url"),
            lambda f: 20,
        ),
        Spec(
            "text-to-image",
            "userText2Image",
            "start",
            _text2image,
            lambda f: 5,
            "image",
            not_found="Record not found",
        ),
        Spec("avatar-video", "video", "generate", avatar_fields, lambda f: 15, "avatar", "awsList"),
    )
}
"""Every family with tasks (TTS answers at once and has no records)."""


def record_view(
    spec: Spec, task_id: str, fields: Mapping[str, Any], state: Mapping[str, Any]
) -> dict[str, Any]:
    """A task record as A2E shows it, in the vendor examples' field order.

    ``state``: ``word``, ``coins``, ``created``, ``updated`` (ISO), ``result`` (URL or list),
    ``error`` (message or None), ``progress`` (0-100).
    """
    failed = state["error"] is not None
    if spec.layout == "avatar":
        return {
            "_id": task_id,
            "msg": state["error"] or "",
            "result": state["result"] or "",
            "process": state["progress"],
            "status": state["word"],
            "anchor_type": fields["anchor_type"],
            "web_bg_width": fields["web_bg_width"],
            "web_bg_height": fields["web_bg_height"],
            "color": fields["color"],
            "result_people_url": "",
            "result_bg_url": "",
            "anchor_id": fields["anchor_id"],
            "replace_bg_id": fields["replace_bg_id"],
            "custom_backs_id": fields["custom_backs_id"],
            "createdAt": state["created"],
            "diff_s": 0,
            "current_date": state["updated"],
        }
    if spec.layout == "faceswap":
        done = state["word"] == "completed"
        return {
            "name": fields["name"],
            "video_url": fields["video_url"],
            "duration": 0,
            "face_url": fields["face_url"],
            "current_status": state["word"],
            "result_url": state["result"] or "",
            "error_code": "0" if done else "500" if failed else None,
            "faild_message": state["error"],
            "_id": task_id,
            "coins": state["coins"],
            "createdAt": state["created"],
            "updatedAt": state["updated"],
            "initialized_time": state["created"],
            "processing_time": state["updated"],
            "completed_time": state["updated"] if done or failed else None,
        }
    view: dict[str, Any] = {"_id": task_id}
    view.update((k, v) for k, v in fields.items() if k not in ("video_time", "max_images"))
    view["current_status"] = state["word"]
    if spec.layout == "image":
        view["image_urls"] = state["result"] or []
        view["width"], view["height"] = view.pop("width"), view.pop("height")
    view["coins"] = state["coins"]
    view["createdAt"] = state["created"]
    view["failed_message"] = state["error"] or ""
    view["failed_code"] = "500" if failed else ""
    if spec.layout != "image":
        view["result_url"] = state["result"] or ""
    if spec.operation.startswith("talking"):
        view.update(prompt=view.pop("prompt"), negative_prompt=view.pop("negative_prompt"))
        view["cover_url"] = ""
    return view
