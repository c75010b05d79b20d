"""The recipe: one typed, validated, frozen description of a data-set build.

Why: a build is reproducible only if everything that changes the output is written down in one
place and checked before any work starts. Pydantic validates the YAML; every error names the
field (``image.size``) and says how to fix it. The captioner and QC sections are the shared
``CaptionerConfig`` / ``CaptionQCConfig`` dataclasses so workers receive exactly what backends use.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from data_pipeline.captioners.base import CaptionerConfig
from data_pipeline.errors import RecipeError
from data_pipeline.qc.config import CaptionQCConfig

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class TableSource(BaseModel):
    """Parquet / CSV / JSONL file(s) with one URL-or-path column per image."""

    model_config = _FROZEN
    type: Literal["parquet", "csv", "jsonl"]
    path: str  # file, glob or http(s) URL list file; relative to the recipe file
    url_column: str = "url"
    caption_column: str | None = None
    extra_columns: tuple[str, ...] = ()
    name: str | None = None


class FolderSource(BaseModel):
    """A directory tree of image files (sorted walk, so ids are stable)."""

    model_config = _FROZEN
    type: Literal["folder"]
    path: str
    caption_suffix: str | None = ".txt"  # sidecar caption file next to the image, if present
    name: str | None = None


class WebDatasetSource(BaseModel):
    """Existing WebDataset tar shards (a file, a glob or a brace pattern)."""

    model_config = _FROZEN
    type: Literal["webdataset"]
    path: str
    caption_extension: str | None = "txt"
    name: str | None = None


class HFSource(BaseModel):
    """A Hugging Face dataset: a hub id (needs the hub cache) or a ``save_to_disk`` directory."""

    model_config = _FROZEN
    type: Literal["hf"]
    path: str
    split: str = "train"
    image_column: str = "image"
    caption_column: str | None = None
    extra_columns: tuple[str, ...] = ()
    name: str | None = None


SourceSpec = Annotated[TableSource | FolderSource | WebDatasetSource | HFSource, Field(discriminator="type")]


class ShardingConfig(BaseModel):
    model_config = _FROZEN
    samples_per_shard: int = Field(1000, gt=0)
    shuffle_seed: int | None = None  # None keeps source order


class ImageConfig(BaseModel):
    """How every accepted image is resized and re-encoded (part of the output's identity)."""

    model_config = _FROZEN
    size: int = Field(512, gt=0)
    resize_mode: Literal["center_crop", "keep_ratio", "pad", "none"] = "keep_ratio"
    format: Literal["jpg", "png", "webp"] = "jpg"
    quality: int = Field(95, ge=1, le=100)
    max_pixels: int = Field(89_478_485, gt=0)  # above this the decode is refused (decompression bomb)
    use_draft: bool = True  # JPEG reduced-scale decoding when it stays within tolerance
    # Resize filter (Pillow's, widened with the reduction so both antialias). bilinear: the filter
    # torchvision's Resize uses by default, the one training code applies anyway. lanczos: sharper,
    # ~2x the resize cost, which is the largest per-image cost after the JPEG decode.
    resample: Literal["bilinear", "lanczos"] = "bilinear"


class FetchConfig(BaseModel):
    model_config = _FROZEN
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(20.0, gt=0)  # longest wait for the next bytes
    total_timeout_s: float = Field(60.0, gt=0)  # deadline for the whole request (a slow-drip host)
    retries: int = Field(3, ge=0)
    backoff_s: float = Field(0.5, ge=0)
    max_redirects: int = Field(5, ge=0)
    max_bytes: int = Field(25_000_000, gt=0)
    threads: int = Field(16, gt=0)  # concurrent fetches per worker
    user_agent: str = "unified-data/0.1 (+https://github.com/unified-bench)"
    check_content_type: bool = True


class FilterConfig(BaseModel):
    model_config = _FROZEN
    min_width: int = Field(0, ge=0)
    min_height: int = Field(0, ge=0)
    max_aspect_ratio: float | None = Field(None, ge=1.0)  # long side / short side
    exact_dedup: bool = True
    near_dup_distance: int | None = Field(None, ge=0, le=32)  # phash Hamming distance; None = off


class Recipe(BaseModel):
    """A full build description. Load with :func:`load_recipe`."""

    model_config = _FROZEN
    name: str = "dataset"
    description: str = ""
    sources: tuple[SourceSpec, ...]
    sharding: ShardingConfig = ShardingConfig()
    image: ImageConfig = ImageConfig()
    fetch: FetchConfig = FetchConfig()
    filters: FilterConfig = FilterConfig()
    captioner: CaptionerConfig | None = None
    qc: CaptionQCConfig = CaptionQCConfig()
    target_accepted: int | None = Field(None, gt=0)
    base_dir: str = "."  # directory relative source paths resolve against (set by load_recipe)

    @field_validator("sources")
    @classmethod
    def _non_empty(cls, value: tuple) -> tuple:
        if not value:
            raise ValueError("at least one source is required")
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_dataclass_keys(cls, data: Any) -> Any:
        """Pydantic ignores unknown keys of stdlib dataclasses; a typo must not pass silently."""
        if isinstance(data, dict):
            for key, dc in (("captioner", CaptionerConfig), ("qc", CaptionQCConfig)):
                section = data.get(key)
                if isinstance(section, dict):
                    known = [f.name for f in dataclasses.fields(dc)]
                    for name in section:
                        if name not in known:
                            close = difflib.get_close_matches(name, known, n=1)
                            hint = f" Did you mean '{close[0]}'?" if close else ""
                            raise ValueError(f"{key}.{name}: unknown field.{hint} Known: {', '.join(known)}")
        return data

    @model_validator(mode="after")
    def _alignment_needs_a_model(self) -> Recipe:
        """Checked at load time: discovering it on a worker after ingest would waste the whole ingest."""
        if self.qc.min_alignment is not None and not self.qc.alignment_model:
            raise ValueError("qc.min_alignment is set but qc.alignment_model is empty: set a CLIP checkpoint")
        return self

    # -- helpers -----------------------------------------------------------------------------
    def resolve_path(self, path: str) -> str:
        """Local paths in a recipe are relative to the recipe file; URLs pass through."""
        if "://" in path or Path(path).is_absolute():
            return path
        return str((Path(self.base_dir) / path).resolve())

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"base_dir"})

    def transport(self) -> dict[str, Any]:
        """How inputs and captions are *reached* (``TRANSPORT_FIELDS``): recorded in the manifest, left
        out of the fingerprint, so an overloaded server can be eased between resumes."""
        data = self.to_dict()
        out: dict[str, Any] = {"fetch": {k: data["fetch"][k] for k in TRANSPORT_FIELDS["fetch"]}}
        if data.get("captioner"):
            cap = data["captioner"]
            out["captioner"] = {k: cap[k] for k in TRANSPORT_FIELDS["captioner"]}
            out["captioner"]["extra"] = {k: v for k, v in cap["extra"].items() if k in TRANSPORT_EXTRA}
        return out

    def fingerprint(self) -> str:
        """Hash of everything that changes the output: not the target count, not transport settings."""
        data = self.to_dict()
        data.pop("target_accepted", None)
        for section, fields in TRANSPORT_FIELDS.items():
            if data.get(section):
                for k in fields:
                    data[section].pop(k, None)
        if data.get("captioner"):
            data["captioner"]["extra"] = {k: v for k, v in data["captioner"]["extra"].items()
                                          if k not in TRANSPORT_EXTRA}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


#: Settings that change how fast or how patiently things are reached, never what is accepted or written.
TRANSPORT_FIELDS: dict[str, tuple[str, ...]] = {
    "fetch": ("connect_timeout_s", "read_timeout_s", "total_timeout_s", "retries", "backoff_s", "threads",
              "user_agent"),
    "captioner": ("endpoint", "api_key_env", "concurrency", "timeout_s", "max_retries", "breaker_failures",
                  "outage_wait_s"),
}
#: Transport keys of ``captioner.extra`` (openai backend).
TRANSPORT_EXTRA = frozenset({"backoff_base_s", "backoff_max_s", "max_retry_after_s"})


_FIXES = {
    "missing": "add the field to the recipe",
    "extra_forbidden": "remove the field or check its spelling against recipes/local-demo.yaml",
    "literal_error": "use one of the allowed values",
    "union_tag_invalid": "set 'type' to one of: parquet, csv, jsonl, folder, webdataset, hf",
}


def _format_validation_error(exc: ValidationError, origin: str) -> RecipeError:
    lines = []
    fixes = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p[0].isupper())) or "(root)"
        got = err.get("input")
        got_txt = f" (got {got!r})" if not isinstance(got, dict | list | tuple) and got is not None else ""
        lines.append(f"  recipe field '{loc}': {err['msg']}{got_txt}")
        fixes.append(_FIXES.get(err["type"], f"correct '{loc}' as described"))
    problem = f"Invalid recipe {origin}:\n" + "\n".join(lines)
    return RecipeError(problem, "; ".join(dict.fromkeys(fixes)))


def recipe_from_dict(data: dict[str, Any], base_dir: str | Path = ".", origin: str = "<dict>") -> Recipe:
    """Validate a mapping into a Recipe, raising RecipeError that names each bad field."""
    if not isinstance(data, dict):
        raise RecipeError(f"Recipe {origin} must be a mapping at top level, got {type(data).__name__}.",
                          "start the file with keys such as 'name:', 'sources:'")
    data = {**data, "base_dir": str(base_dir)}
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise _format_validation_error(exc, origin) from None


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a YAML recipe; relative source paths resolve against its folder."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"Recipe file '{path}' does not exist.", "pass the path of a YAML recipe, e.g. recipes/local-demo.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RecipeError(f"Recipe '{path}' is not valid YAML: {exc}", "fix the YAML syntax at the line shown") from None
    return recipe_from_dict(data, base_dir=path.resolve().parent, origin=f"'{path}'")
