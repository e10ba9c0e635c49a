"""An emulator of A2E's HTTP API (PROVIDERS.md section 4), quirks included, doing real work.

Every family of :mod:`mediatask_a2e.emulated` at A2E's paths, the ``{code, data, trace_id}``
envelope, 24-hex ObjectId ids, coins charged at submission, presigned uploads, and results that
expire 3 days after completion (emulator clock). Choices where the vendor is silent:

- Errors (UNCONFIRMED shape): ``error_mode="http4xx_spec"`` (default) answers HTTP 400/401/403/
  404 with ``{success: false, error, code: "<string>", timestamp}``; ``"http200_code"``
  answers HTTP 200 with ``{code: <int>, msg, data: null, trace_id}``. Codes are the HTTP status,
  or 1003/1004 (minor) and 30005 (``back_id`` with ``custom_back_id``). ASSUMPTION.
- Too few coins: 400, ``"Insufficient coins: ..."`` (ASSUMPTION: message and code).
- Lifecycle: ``initialized`` (queued) then ``sent``, ``pending``, ``processing`` as the
  toolkit's progress advances; avatar videos ``init, start, pending, process, copy``. Image-to-
  video starts ``sent`` (its check-status page: "The initial status will be sent"), the other
  families ``initialized`` (the talking-video example); how long each stays there is UNKNOWN.
- DELETE follows the spec's rule: "Only final status tasks can be deleted (initialized/completed/
  failed). initialized tasks will be refunded." Any other status is a 400 "Task in processing or
  invalid parameters" (so a queued image-to-video task, ``sent``, cannot be deleted).
- DELETE answers ``{_id, deleted, refunded_coins}`` (ASSUMPTION); TTS costs nothing
  (UNKNOWN); ``batchDetail`` answers an array, newest first; the avatar delete path
  ``DELETE /api/v1/video/{_id}`` is a third-party claim.
- Failed tasks are not refunded (UNKNOWN); ``failed_code`` is ``"500"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Literal

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mediatask.emulator import (
    EmulatedTask,
    InputFetchError,
    MediaFile,
    Phase,
    Produced,
    TaskState,
    WorkError,
    WorkResult,
    fetch_input,
)
from mediatask.emulator import media as core_media
from mediatask_a2e import media
from mediatask_a2e.account import RETENTION_SECONDS, A2EAccount
from mediatask_a2e.emulated import SPECS, BadRequestError, Spec, caption_reader, iso, record_view

USER_ID = "665da3d7bcf6ab778bad0f6a"
"""The emulated account's id, in result paths as in the vendor example."""
_WORDS = ("initialized", "sent", "pending", "processing", "completed", "failed")
_AVATAR_WORDS = ("init", "start", "pending", "process", "copy", "success", "fail")
_DELETABLE = frozenset({"initialized", "completed", "failed", "init", "success", "fail"})
"""Statuses in which a task may be deleted ("only final status tasks … initialized tasks
will be refunded"); the avatar family's words by analogy (UNCONFIRMED)."""
_MINOR_MESSAGES = {1003: "Minor detected in the input", 1004: "Suspected minor in the input"}


@attrs.define
class Record:
    """One emulated A2E task record."""

    spec: Spec
    task: EmulatedTask
    fields: Mapping[str, Any]
    coins: int
    created_at: float
    index: int = 0
    """Position among the tasks of one start call (text-to-image ``max_images``)."""
    deleted: bool = False


@attrs.define
class A2EEmulator(A2EAccount):
    """A2E's API on loopback: ``Authorization: Bearer <k>``, enveloped JSON, polling only.

    Knobs beyond :class:`~mediatask.emulator.Faults` cover the contract's uncertainties and
    let tests hold tasks in one state.
    """

    caption_field: Literal["source_url", "video_url", "either"] = "either"
    """Which field caption removal reads the video from (spec and clients disagree)."""
    minor_detected: int | None = None
    """1003 or 1004: answer every start call with a person in it with that 403."""
    max_video_seconds: float = 2.0
    """Produced videos are at most this long, whatever the requested duration."""
    _records: dict[str, Record] = attrs.field(init=False, factory=dict)

    def api_routes(self) -> list[BaseRoute]:
        """The account, upload, TTS and avatar endpoints, then each family's five."""
        routes = self.account_routes()
        routes += [
            Route("/api/v1/video/awsResult", self._aws_result, methods=["POST"]),
            Route("/api/v1/video/detail", self._avatar_detail, methods=["GET"]),
        ]
        for spec in SPECS.values():
            prefixes = [spec.prefix]
            if spec.operation == "text-to-image":
                prefixes.append("userText2image")  # a third-party client's casing
            for prefix in prefixes:
                base = f"/api/v1/{prefix}"
                routes += [
                    Route(f"{base}/{spec.start}", partial(self._start, spec), methods=["POST"]),
                    Route(f"{base}/{spec.list_path}", partial(self._list, spec), methods=["GET"]),
                    Route(f"{base}/batchDetail", partial(self._batch, spec), methods=["POST"]),
                    Route(f"{base}/{{_id}}", partial(self._delete, spec), methods=["DELETE"]),
                ]
                if spec.layout != "avatar":
                    routes += [
                        Route(f"{base}/allProcessing", partial(self._busy, spec), methods=["GET"]),
                        Route(f"{base}/{{_id}}", partial(self._detail, spec), methods=["GET"]),
                    ]
        return routes

    # -- knobs for tests -----------------------------------------------------------------------

    def records(self) -> Mapping[str, Record]:
        """Every task record, by id (deleted ones included)."""
        return dict(self._records)

    # -- records -------------------------------------------------------------------------------

    def _word(self, record: Record, state: TaskState) -> str:
        words = _AVATAR_WORDS if record.spec.layout == "avatar" else _WORDS
        if state.phase is Phase.QUEUED:
            return words[0] if record.spec.layout == "avatar" else record.spec.first_word
        if state.phase is Phase.RUNNING:
            step = min(int((state.progress or 0) // 25), len(words) - 4)
            return words[1 + step]
        return words[-2] if state.phase is Phase.SUCCEEDED else words[-1]

    def view(self, record_id: str) -> dict[str, Any]:
        """The record as A2E shows it now."""
        record = self._records[record_id]
        state = record.task.state
        succeeded = state.phase is Phase.SUCCEEDED
        now = record.task.finished_at or self.clock.now()
        return record_view(
            record.spec,
            record_id,
            record.fields,
            {
                "word": self._word(record, state),
                "coins": record.coins,
                "created": iso(record.created_at),
                "updated": iso(now),
                "result": state.fields.get("result") if succeeded else None,
                "error": state.error if state.phase is Phase.FAILED else None,
                "progress": 100 if succeeded else state.progress or 0,
            },
        )

    def _find(self, spec: Spec, record_id: str) -> Record | Response:
        if len(record_id) != 24 or any(c not in "0123456789abcdef" for c in record_id.lower()):
            return self.fail(400, "Invalid task ID format")
        record = self._records.get(record_id)
        if record is None or record.deleted or record.spec is not spec:
            return self.fail(404, spec.not_found)
        return record

    def _visible(self, spec: Spec) -> list[str]:
        """Ids of the family's live records, newest first (older than 3 days are hidden)."""
        oldest = self.clock.now() - RETENTION_SECONDS
        return [
            record_id
            for record_id, record in reversed(self._records.items())
            if record.spec is spec and not record.deleted and record.created_at >= oldest
        ]

    # -- endpoints -----------------------------------------------------------------------------

    async def _start(self, spec: Spec, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        try:
            body = await self.json_body(request)
            read = (
                caption_reader(self.caption_field) if spec.prefix == "userCaptionRemoval" else None
            )
            fields = (read or spec.read)(body)
        except BadRequestError as exc:
            self.stats["bad_requests"] += 1
            return self.fail(400, str(exc), exc.code)
        minor = self.minor_detected
        if (
            minor
            and spec.layout != "image"
            and not (minor == 1004 and body.get("minor_suspected_skip"))
        ):
            return self.fail(403, _MINOR_MESSAGES.get(minor, "Minor detected"), minor)
        count = fields.get("max_images", 1) if spec.layout == "image" else 1
        price = spec.price(fields)
        if price * count > self.coins:
            message = f"Insufficient coins: this task costs {price * count}, {self.coins} left"
            return self.fail(400, message)
        if (busy := self.busy(request)) is not None:
            return busy
        self.coins -= price * count
        self.stats["submissions"] += count
        self.stats["coins_charged"] += price * count
        ids = [
            self._create(spec, fields, price, index, self.base_url(request))
            for index in range(count)
        ]
        if spec.layout == "image":
            return self.ok([self.view(record_id) for record_id in ids])
        if spec.layout == "avatar":  # ASSUMPTION: only _id is documented; coins as elsewhere
            return self.ok({**self.view(ids[0]), "coins": price})
        return self.ok(self.view(ids[0]))

    def _create(
        self, spec: Spec, fields: Mapping[str, Any], price: int, index: int, base: str
    ) -> str:
        record_id = self.object_id()
        task = self.create_task(spec.operation)
        self._records[record_id] = Record(spec, task, fields, price, self.clock.now(), index)
        self.start(task, partial(self._work, record_id, base))
        return record_id

    async def _detail(self, spec: Spec, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        found = self._find(spec, request.path_params["_id"])
        if isinstance(found, Response):
            return found
        self.stats["polls"] += 1
        return self.ok(self.view(request.path_params["_id"]))

    async def _aws_result(self, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        try:
            record_id = str((await self.json_body(request)).get("_id", ""))
        except BadRequestError as exc:
            return self.fail(400, str(exc))
        found = self._find(SPECS["avatar-video"], record_id)
        if isinstance(found, Response):
            return found
        self.stats["polls"] += 1
        return self.ok([self.view(record_id)])  # an array, for one id

    async def _avatar_detail(self, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        record_id = request.query_params.get("video_id", "")
        found = self._find(SPECS["avatar-video"], record_id)
        return found if isinstance(found, Response) else self.ok(self.view(record_id))

    async def _delete(self, spec: Spec, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        record_id = request.path_params["_id"]
        found = self._find(spec, record_id)
        if isinstance(found, Response):
            return found
        word = self._word(found, found.task.state)
        if word not in _DELETABLE:
            self.stats["deletes_refused"] += 1
            return self.fail(400, "Task in processing or invalid parameters")
        refund = found.coins if word in ("initialized", "init") else 0
        self.coins += refund
        self.stats["coins_refunded"] += refund
        self.stats["deletes"] += 1
        found.deleted = True
        return self.ok({"_id": record_id, "deleted": True, "refunded_coins": refund})

    def _page(self, request: Request, spec: Spec) -> tuple[int, int]:
        number_name = "current" if spec.layout == "avatar" else "pageNum"
        try:
            number = int(request.query_params.get(number_name, "1"))
            size = int(request.query_params.get("pageSize", "10"))
        except ValueError:
            raise BadRequestError("Invalid request parameters: paging must be numbers") from None
        if number < 1 or not 1 <= size <= 100:
            raise BadRequestError(
                f"Invalid request parameters: {number_name} >= 1, pageSize 1..100"
            )
        return number, size

    async def _list(self, spec: Spec, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        try:
            number, size = self._page(request, spec)
        except BadRequestError as exc:
            return self.fail(400, str(exc))
        ids = self._visible(spec)
        rows = [self.view(record_id) for record_id in ids[(number - 1) * size : number * size]]
        if spec.layout == "avatar":
            return self.ok({"data": rows, "total": len(ids)})
        return self.ok({"rows": rows, "count": len(ids)})

    async def _busy(self, spec: Spec, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        running = [i for i in self._visible(spec) if not self._records[i].task.state.is_final]
        return self.ok([self.view(record_id) for record_id in running])

    async def _batch(self, spec: Spec, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        try:
            ids = (await self.json_body(request)).get("ids")
            if not isinstance(ids, list) or not 1 <= len(ids) <= 200:
                raise BadRequestError("Invalid request parameters: ids must be 1..200 ids")
        except BadRequestError as exc:
            return self.fail(400, str(exc))
        self.stats["polls"] += 1
        wanted = {str(i) for i in ids}
        return self.ok([self.view(i) for i in self._visible(spec) if i in wanted])

    # -- the work ------------------------------------------------------------------------------

    async def _input(self, url: str) -> bytes:
        try:
            return await fetch_input(url)
        except InputFetchError as exc:
            raise WorkError(str(exc)) from exc

    async def _work(self, record_id: str, base_url: str) -> WorkResult:
        record = self._records[record_id]
        fields, operation = record.fields, record.spec.operation
        if operation == "text-to-image":
            prompt = fields["prompt"] + (
                f" ({record.index + 1})" if fields["max_images"] > 1 else ""
            )
            size = (min(fields["width"], 512), min(fields["height"], 512))
            made = await self.run_media(core_media.generate_image, prompt, *size)
            key = f"adam2eve/beta/users/{USER_ID}/{self.file_name('.png')}"
            url = self.storage_url(base_url, key)
            return WorkResult((Produced(key, made.data, made.mime_type),), {"result": [url]})
        made = await self._video(operation, fields)
        key = f"adam2eve/beta/users/{USER_ID}/{self.file_name('.mp4')}"
        url = self.storage_url(base_url, key)
        return WorkResult((Produced(key, made.data, made.mime_type),), {"result": url})

    async def _video(self, operation: str, fields: Mapping[str, Any]) -> MediaFile:
        seconds = min(self.max_video_seconds, fields.get("video_time", fields.get("duration", 2)))
        effects = media_effects(operation)
        if operation in ("image-to-video", "talking-photo"):
            data = await self._input(fields["image_url"])
            return await self.run_media(media.image_video, data, seconds, effects)
        if operation == "avatar-video":
            if fields["audioSrc"]:
                await self._input(fields["audioSrc"])  # A2E reads the audio: it must be there
            anchor = await self.run_media(core_media.generate_image, fields["anchor_id"], 240, 320)
            text = fields["title"] or fields["anchor_id"]
            return await self.run_media(media.image_video, anchor.data, seconds, effects, text)
        if operation == "face-swap":
            face = await self._input(fields["face_url"])
            return await self.run_media(
                media.face_swap, await self._input(fields["video_url"]), face
            )
        video = await self._input(fields.get("video_url") or fields["source_url"])
        audio = fields["target_lang"] if operation == "dubbing" else None
        return await self.run_media(partial(media.video_video, audio_text=audio), video, effects)


def media_effects(operation: str) -> tuple[media.Effect, ...]:
    """What each video family draws on the frames."""
    return {
        "image-to-video": (media.zooming,),
        "talking-photo": (media.talking,),
        "talking-video": (media.talking,),
        "caption-removal": (media.blur_captions,),
        "avatar-video": (media.talking,),
    }.get(operation, ())
