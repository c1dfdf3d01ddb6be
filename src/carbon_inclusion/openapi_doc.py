"""The OpenAPI document as committed in ``openapi/openapi.json``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path


def render_openapi() -> str:
    from carbon_inclusion.app import create_app
    from carbon_inclusion.settings import Settings

    with tempfile.TemporaryDirectory() as keys:
        app = create_app(Settings(environment="test", jwt_keys_dir=Path(keys)))
        schema = app.openapi_schema.to_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True, default=str) + "\n"
