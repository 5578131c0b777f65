"""What both reports share: the template environment, provenance, deterministic writing."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import re
from pathlib import Path

import jinja2

from .. import __version__
from .._files import atomic_files, file_sha256
from ..io.derivatives import Derivatives
from ._methods import methods, versions


def env() -> jinja2.Environment:
    """The templates (autoescaped HTML)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("neurotwin.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )


_INPUTS_META = re.compile(rb'<meta name="neurotwin-inputs" content="([0-9a-f]{64})">')


@functools.cache
@functools.cache
def code_digest() -> str:
    """A hash of the report code and templates (a page is rebuilt when they change); read once a process
    (every session's figure-cache key and every page's digest use it)."""
    h = hashlib.sha256(__version__.encode())
    here = Path(__file__).parent
    for f in sorted([*here.glob("*.py"), *(here / "templates").glob("*.j2")]):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def inputs_digest(*parts) -> str:
    """A hash of what a page shows (JSON-able parts), of the report code and of ``SOURCE_DATE_EPOCH``."""
    blob = json.dumps(
        [code_digest(), os.environ.get("SOURCE_DATE_EPOCH", ""), *parts], sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def up_to_date(page: Path, digest: str) -> bool:
    """Whether ``page`` was built from inputs with this digest (its ``neurotwin-inputs`` meta tag)."""
    try:
        with open(page, "rb") as fid:
            head = fid.read(4096)
    except OSError:
        return False
    match = _INPUTS_META.search(head)
    return match is not None and match.group(1).decode() == digest


def built_note() -> str:
    """No timestamp unless ``SOURCE_DATE_EPOCH`` asks for one (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        when = dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"Built {when} (SOURCE_DATE_EPOCH)."
    return "No build time is recorded, so that rebuilding from the same inputs gives the same file."


def provenance(
    config,
    out: Path,
    inputs: list[str],
    command: str | None,
    twin: dict | None,
    *,
    records: list[list[dict]] = (),
    n_failed: int = 0,
) -> dict:
    """The provenance section's content; the methods paragraph is made from the recordings' step logs
    (``records``: each recording's sidecar ``Steps``) and what the twins record (``twin``)."""
    steps = [{"step": s.step, **s.params()} for s in config.steps]
    root = Derivatives(out).raw_root()
    bids = root is not None and (root / "dataset_description.json").is_file()
    text, refs = methods(list(records), steps=steps, twin=twin, n_failed=n_failed, bids=bids)
    source = Path(config.source) if config.source else None
    pipeline_text = (
        source.read_text()
        if source is not None and source.is_file()
        else json.dumps(config.model_dump(mode="json", exclude={"source"}), indent=1, sort_keys=True)
    )
    seeds = [(s.step, str(s.params()["random_state"])) for s in config.steps if "random_state" in s.params()]
    if twin:
        seeds.append(("twin fits", str(twin.get("random_state", "-"))))
    hashed = []
    for rel in sorted(set(inputs)):
        path = root / rel if root is not None else None
        hashed.append((rel, file_sha256(path) if path is not None and path.is_file() else "missing"))
    return {
        "methods": text,
        "references": refs,
        "command": command or "(not recorded: built from Python)",
        "pipeline_name": config.pipeline.name,
        "pipeline_text": pipeline_text.strip(),
        "versions": versions(),
        "seeds": seeds,
        "inputs": hashed,
        "built": built_note(),
    }


def write(out_file: Path, html: str) -> Path:
    """Write atomically (a half-written report never replaces a good one); a page that would come
    out byte-identical is left as it is (its time stamp too, for tools that rebuild on changes)."""
    if out_file.is_file() and out_file.read_bytes() == html.encode("utf-8"):
        return out_file
    with atomic_files(out_file.parent) as tmp:
        (tmp / out_file.name).write_text(html, encoding="utf-8")
    return out_file


def fmt(value, digits: int = 3) -> str:
    """A number for a table (``-`` for missing)."""
    if value is None:
        return "-"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if v != v:
        return "-"
    return f"{v:.{digits}g}"
