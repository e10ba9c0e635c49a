"""A2E against the provider contract suite (``mediatask.testing.ProviderContract``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from mediatask.http.messages import Request, Response
from mediatask.model.values import Status, TaskRef
from mediatask.testing import ProviderContract
from mediatask_a2e import PAGE_SIZE

ANCHOR = "65f1c0de0a2e000000000001"


class TestA2EContract(ProviderContract):
    provider = "a2e"
    jobs: ClassVar[Mapping[str, tuple[list[str], dict[str, Any]]]] = {
        "image-to-video": (["photo.jpg"], {"prompt": "smiles"}),
        "talking-photo": (["photo.jpg"], {"prompt": "talks"}),
        "talking-video": (["clip.mp4"], {"prompt": "talks"}),
        "face-swap": (["photo.jpg", "clip.mp4"], {}),
        "dubbing": (["clip.mp4"], {"target_lang": "en"}),
        "caption-removal": (["clip.mp4"], {}),
        "avatar-video": (["speech.mp3"], {"anchor_id": ANCHOR, "title": "hello"}),
        "tts": ([], {"msg": "Hello from the contract", "tts_id": "en-US-1"}),
        "text-to-image": ([], {"prompt": "a lighthouse", "width": 128, "height": 96}),
    }
    status_words: ClassVar[Mapping[str, Status]] = {  # current_status ("pendding" sic)
        "initialized": Status.QUEUED,
        "sent": Status.QUEUED,
        "pending": Status.QUEUED,
        "pendding": Status.QUEUED,
        "processing": Status.RUNNING,
        "completed": Status.SUCCEEDED,
        "failed": Status.FAILED,
    }
    unreadable = ({"code": 0, "data": {"_id": "t"}}, {"code": 0}, {"code": 0, "data": 7})

    def status_payload(self, task: TaskRef, word: str) -> Mapping[str, Any]:
        field = "status" if task.operation == "avatar-video" else "current_status"
        return {"code": 0, "data": {"_id": task.task_id, field: word}}

    def list_answer(self, request: Request, *, last: bool) -> Response:
        number = int(request.params.get("pageNum", request.params.get("current", "1")))
        rows = [{"_id": f"{n:024x}", "current_status": "completed"} for n in range(PAGE_SIZE)]
        total = number * PAGE_SIZE + (0 if last else 1)
        paged = {"data": rows, "total": total} if "current" in request.params else None
        data = paged or {"rows": rows, "count": total}
        body = json.dumps({"code": 0, "data": data}).encode()
        return Response(200, {"content-type": "application/json"}, body)
