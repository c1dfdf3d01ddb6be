from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.photos.models import CONTENT_TYPES
from carbon_inclusion.photos.schemas import PhotoOut
from carbon_inclusion.photos.service import PhotoService, check_content_type, too_large
from carbon_inclusion.web.auth import CITIZEN, VERIFIED
from carbon_inclusion.web.decoding import read_body
from carbon_inclusion.web.idempotency import REPLAY_HEADERS, IdempotencyKey, created, require_key
from carbon_inclusion.web.openapi import problems

OWNER_OR_REVIEWER = {"roles": ("citizen", "admin")}


class PhotoController(Controller):
    path = "/v1/photos"
    tags = ["behaviours"]  # noqa: RUF012

    @post("/", operation_id="uploadPhoto", status_code=201,
          opt={**CITIZEN, **VERIFIED, "raw_body": CONTENT_TYPES},
          request_max_body_size=None,  # read_body applies PHOTO_MAX_BYTES
          response_headers=REPLAY_HEADERS,
          responses=problems(401, 403, 409, 413, 415, 429),
          summary="Upload a photo as evidence for a self-report",
          description="The image itself is the body, `Content-Type` `image/jpeg`, "
          "`image/png` or `image/webp` (415 otherwise), at most `PHOTO_MAX_BYTES` (413); "
          "its first bytes must be the image its type says (422 naming `body`). Name the "
          "answer's `id` as `photo_id` in `POST /v1/behaviours`, where the methodology "
          "says whether a photo is required (`evidence.self_reported.photo`) and whether "
          "it sends the behaviour to review; a photo goes with one behaviour only. A replay "
          "with the same `Idempotency-Key` and image returns the first answer; the same "
          "key with another image is 422.")
    async def upload(self, request: Request, principal: NamedDependency[Principal],
                     photos: NamedDependency[PhotoService],
                     idempotency_key: IdempotencyKey = None) -> Response[PhotoOut]:
        require_key(idempotency_key, "photo")
        declared = check_content_type(request.headers.get("content-type"))
        limit = photos.settings.photo_max_bytes
        body = await read_body(request, limit, too_large(limit))
        out, first = await photos.upload(principal.id, idempotency_key, declared, body)
        return created(out, first)

    @get("/{photo_id:uuid}", operation_id="getPhoto", opt={**OWNER_OR_REVIEWER,
                                                             "binary_answer": CONTENT_TYPES},
         responses=problems(401, 403, 404),
         summary="A photo's image, to the citizen who uploaded it and to administrators",
         description="Anyone else is answered 404, as if there were no such photo.")
    async def get_one(self, photo_id: FromPath[uuid.UUID],
                      principal: NamedDependency[Principal],
                      photos: NamedDependency[PhotoService]) -> Response[bytes]:
        owner = None if principal.role == "admin" else principal.id
        photo, data = await photos.read(photo_id, owner)
        return Response(data, media_type=photo.content_type, headers={
            "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
            "ETag": f'"{photo.sha256}"',
            "Content-Disposition": f'inline; filename="{photo.id}"'})
