"""The published JSON Schema of results, generated from the pydantic model."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from benchmark.results.models import Result

SCHEMA_ID = "https://clinmem.org/schema/result-1.0.json"


@cache
def result_json_schema() -> dict:
    """Return the JSON Schema (draft 2020-12) of a result document."""
    schema = Result.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def render_schema() -> str:
    """Return the schema as the text written to ``leaderboard/schema/result.schema.json``."""
    return json.dumps(result_json_schema(), indent=2, sort_keys=True) + "\n"


def schema_errors(document: object) -> list[str]:
    """Return every schema violation of a result document as 'path: message'."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(result_json_schema())
    errors = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        location = "/".join(str(part) for part in error.absolute_path) or "(document)"
        errors.append(f"{location}: {error.message}")
    return errors


def repository_schema_path() -> Path:
    """Return where the repository keeps the published schema."""
    return Path(__file__).resolve().parents[2] / "leaderboard" / "schema" / "result.schema.json"
