"""Pipeline definitions: strict TOML files validated with pydantic.

A definition names the pipeline and lists its steps in order::

    [pipeline]
    name = "resting_eeg"
    modality = "eeg"

    [[steps]]
    step = "bandpass"
    l_freq = 1.0
    h_freq = 45.0

Every error names the file, the line and the key, and suggests the
closest valid key or step name ("did you mean"). Nothing runs until the
whole file is valid.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._validation import did_you_mean
from ..errors import ConfigError, MissingFileError
from .steps import STEPS
from .steps._base import StrictParams

__all__ = ["PipelineConfig", "load_config", "resolve_pipeline"]

AnyStep = Annotated[Union[tuple(STEPS.values())], Field(discriminator="step")]  # noqa: UP007


#: modality -> (BIDS datatype, suffixes) of the recordings a pipeline takes
MODALITY_INPUTS = {
    "eeg": ("eeg", ("eeg",)),
    "meg": ("meg", ("meg",)),
    "mri": ("anat", ("dseg",)),
    "bold": ("func", ("bold",)),
}
BUILTIN_DIR = Path(__file__).resolve().parents[1] / "pipelines"


class PipelineMeta(BaseModel):
    """The ``[pipeline]`` table.

    ``modality`` chooses the recordings the pipeline takes (EEG, MEG,
    ``anat`` label volumes ``*_dseg``, ``func`` ``*_bold``); ``suffix``
    overrides the suffixes (e.g. ``["T1w"]`` to reorient T1 images).
    ``desc`` is the ``desc-`` entity of the outputs. ``tasks`` are the
    BIDS task labels the pipeline is made for (shell patterns such as
    ``"rest*"``; default: any): recordings of other tasks are skipped, each
    named with the reason, unless ``--task`` chooses otherwise. Recordings
    without a task label (plain folders) are always taken.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    modality: Literal["eeg", "meg", "mri", "bold"] = "eeg"
    description: str = ""
    suffix: list[str] | None = None
    tasks: list[Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9*?\[\]!]+$")]] | None = None
    desc: str = Field("preproc", pattern=r"^[A-Za-z0-9]+$")

    @property
    def datatype(self) -> str:
        """The BIDS datatype of the inputs."""
        return MODALITY_INPUTS[self.modality][0]

    @property
    def suffixes(self) -> tuple[str, ...]:
        """The BIDS suffixes of the inputs."""
        return tuple(self.suffix) if self.suffix else MODALITY_INPUTS[self.modality][1]

    @property
    def input_kind(self) -> str:
        """The kind of data the first step gets."""
        return "raw" if self.modality in ("eeg", "meg") else "image"


class TwinSettings(StrictParams):
    """The optional ``[twin]`` table: fit each subject's twin to its sessions' features.

    ``connectome``: ``"auto"`` takes the subject's own
    (``<study>/derivatives/connectomes/sub-<label>/`` — a TVB zip, MATLAB or
    matrix file) and falls back to TVB's 76-region template (the ``tvb``
    extra); ``"tvb76"``/``"tvb68"`` force a template; ``"subject"`` requires
    the subject's own. ``task``/``run`` choose the recording when a session
    has several (default: the resting task and each session's first run;
    :func:`neurotwin.pipeline._twins.choose_recordings` states the rule).
    ``modalities``: the pipelines whose features the twin reads from the
    same output folder (built-in names or files; this pipeline is always
    one of them): with ``["resting_eeg", "rest_fmri"]``, the participant
    run runs both, and a subject whose first session has EEG and BOLD gets
    one EEG + BOLD twin (:mod:`neurotwin.twin.objectives.joint`), the others
    a twin of this pipeline's modality (:mod:`neurotwin.pipeline._sources`).
    ``likelihood``: ``"csd"`` fits EEG twins to the whole sensor
    cross-spectrum (``Twin(likelihood="csd")``; the features step must
    compute ``"csd"``); joint twins keep their own likelihood.
    ``population``: ``"study"`` fits each new BOLD twin (or a joint twin's
    BOLD part) with a population prior on FC estimated from the study's
    other subjects (:func:`neurotwin.pipeline._twins.study_populations`);
    ``"none"`` (default) with the session's FC alone.
    ``anatomy``: the head of an EEG or MEG twin. ``"auto"`` (default) takes
    the subject's own when the study has its FreeSurfer folder
    (``<study>/derivatives/freesurfer/sub-<label>/``, or ``.../freesurfer/subjects/``
    as MNE-BIDS-Pipeline keeps it, with ``bem/``) and one
    head-to-MRI transform (``*trans.fif`` there or in the subject's raw
    folders), else the template head; ``"subject"`` requires it;
    ``"template"`` never takes it (:class:`neurotwin.model.Anatomy`).
    """

    modality: Literal["eeg", "meg", "bold"] = "eeg"
    modalities: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    task: str | None = None
    run: str | None = None
    connectome: Literal["auto", "subject", "tvb76", "tvb68"] = "auto"
    process_noise: float = Field(2.5e-4, ge=0.0)
    restarts: int = Field(0, ge=0, le=10)
    effective_connectivity: bool = True
    likelihood: Literal["csd"] | None = None
    population: Literal["none", "study"] = "none"
    anatomy: Literal["auto", "subject", "template"] = "auto"


class PipelineConfig(BaseModel):
    """A validated pipeline definition.

    Examples
    --------
    >>> from neurotwin.pipeline import PipelineConfig
    >>> cfg = PipelineConfig.model_validate(
    ...     {"pipeline": {"name": "demo"}, "steps": [{"step": "bandpass", "h_freq": 40}]})
    >>> cfg.steps[0].h_freq, cfg.steps[0].l_freq
    (40.0, 1.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    pipeline: PipelineMeta
    steps: list[AnyStep] = Field(..., min_length=1)
    twin: TwinSettings | None = None
    source: str = ""

    def kinds(self) -> list[str]:
        """The kind of data after each step (``[input, after step 1, ...]``)."""
        kinds = [self.pipeline.input_kind]
        for step in self.steps:
            kinds.append(step.output_kind(kinds[-1]))
        return kinds

    def chain_errors(self) -> list[tuple[int, str]]:
        """``(step index, message)`` for steps given data they do not accept."""
        errors = []
        kinds = self.kinds()
        for i, step in enumerate(self.steps):
            if kinds[i] not in step.accepts:
                source = "the input" if i == 0 else "from " + self.steps[i - 1].step
                errors.append(
                    (
                        i,
                        f"step {step.step!r} takes {' or '.join(step.accepts)} data but gets "
                        f"{kinds[i]} ({source})",
                    )
                )
        if self.twin is not None and self.twin.likelihood is not None:
            from ..twin.objectives import get_objective

            needs = get_objective(self.twin.modality, self.twin.likelihood).needs
            feats = [i for i, step in enumerate(self.steps) if step.step == "features"]
            missing = [n for n in needs if not any(n in self.steps[i].features for i in feats)]
            if missing:
                errors.append(
                    (
                        feats[-1] if feats else len(self.steps) - 1,
                        f"[twin] likelihood = {self.twin.likelihood!r} needs the features {missing}; "
                        f"add them to the features step's features",
                    )
                )
        seen: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.save or i == len(self.steps) - 1:
                suffix = step.out_suffix or kinds[i + 1]
                if suffix in seen:
                    errors.append(
                        (
                            i,
                            f"its output and that of step {seen[suffix] + 1} "
                            f"({self.steps[seen[suffix]].step}) would have the same file name; "
                            f"save only one of them",
                        )
                    )
                seen[suffix] = i
        return errors


def _step_lines(lines: list[str]) -> list[int]:
    """1-based line numbers of each ``[[steps]]`` header."""
    return [i + 1 for i, line in enumerate(lines) if re.match(r"^\s*\[\[\s*steps\s*\]\]", line)]


def _key_line(lines: list[str], key: str, start: int = 1, stop: int | None = None) -> int:
    """1-based line of ``key = ...`` between ``start`` and ``stop`` (else ``start``)."""
    stop = len(lines) if stop is None else min(stop, len(lines))
    for i in range(start - 1, stop):
        if re.match(rf"^\s*{re.escape(str(key))}\s*=", lines[i]):
            return i + 1
    return start


def _describe(err: dict, data: dict, lines: list[str], path: str) -> str:
    loc = list(err["loc"])
    options: list[str] = []
    if loc and loc[0] == "steps" and len(loc) >= 2 and isinstance(loc[1], int):
        idx = loc[1]
        heads = _step_lines(lines)
        start = heads[idx] if idx < len(heads) else 1
        stop = heads[idx + 1] - 1 if idx + 1 < len(heads) else None
        steps = data.get("steps") or []
        raw_step = steps[idx] if idx < len(steps) and isinstance(steps[idx], dict) else {}
        name = raw_step.get("step")
        where = f"step {idx + 1} ({name or '?'})"
        key = loc[3] if len(loc) > 3 else (loc[2] if len(loc) > 2 and loc[2] not in STEPS else "step")
        if err["type"] == "value_error" and key == "step":  # a check across the step's keys: say it plainly
            return f"{path}:{start}: {where}: {str(err['msg']).removeprefix('Value error, ')}"
        line = _key_line(lines, key, start, stop)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            return (
                f"{path}:{line}: {where}: unknown step {name!r}; steps are "
                f"{sorted(STEPS)}.{did_you_mean(str(name), STEPS)}"
            )
        if name in STEPS:
            options = [f for f in STEPS[name].model_fields if f != "step"]
    else:
        key = loc[-1] if loc else ""
        section = loc[0] if loc else ""
        line = _key_line(lines, key)
        where = f"[{section}]" if section else "top level"
        if section == "pipeline":
            options = list(PipelineMeta.model_fields)
        elif section == "twin":
            options = list(TwinSettings.model_fields)
        elif len(loc) == 1:
            options = ["pipeline", "steps", "twin"]
    if err["type"] == "extra_forbidden":
        return (
            f"{path}:{line}: {where}: unknown key {key!r}; valid keys: {options}."
            f"{did_you_mean(str(key), options)}"
        )
    return f"{path}:{line}: {where}: {key!r}: {err['msg']} (got {err.get('input')!r})."


def load_config(fname: str | os.PathLike) -> PipelineConfig:
    """Read and validate a pipeline definition (TOML).

    Parameters
    ----------
    fname : str | os.PathLike
        The ``.toml`` file, or the name of a built-in pipeline
        (``resting_eeg``, ``resting_meg``, ``mri_structural``, ``rest_fmri``).

    Returns
    -------
    config : PipelineConfig
        The validated definition.

    Raises
    ------
    neurotwin.errors.ConfigError
        Listing every problem as ``file:line: where: what`` with a
        did-you-mean hint for misspelt keys and step names.

    Examples
    --------
    >>> from neurotwin.pipeline import load_config
    >>> cfg = load_config("resting_eeg")
    >>> [s.step for s in cfg.steps][:2]
    ['crop', 'resample']
    """
    path = resolve_pipeline(fname)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {err.start}); TOML files are UTF-8. Save it again as UTF-8."
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err}).") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}.") from None
    lines = text.splitlines()
    try:
        cfg = PipelineConfig.model_validate({**data, "source": str(path)})
    except ValidationError as err:
        problems = [_describe(e, data, lines, str(path)) for e in err.errors()]
        raise ConfigError("\n".join(problems)) from None
    chain = cfg.chain_errors()
    if chain:
        heads = _step_lines(lines)
        raise ConfigError(
            "\n".join(f"{path}:{heads[i] if i < len(heads) else 1}: step {i + 1}: {msg}." for i, msg in chain)
        )
    return cfg


def resolve_pipeline(name_or_path: str | os.PathLike) -> Path:
    """Path of a pipeline file, or of a built-in one given by name.

    Examples
    --------
    >>> from neurotwin.pipeline.config import resolve_pipeline
    >>> resolve_pipeline("resting_eeg").name
    'resting_eeg.toml'
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))
    if path.suffix == "" and str(name_or_path) in builtin:
        return BUILTIN_DIR / f"{name_or_path}.toml"
    raise MissingFileError(
        f"{path}: no such pipeline file; built-in pipelines are {builtin}."
        f"{did_you_mean(str(name_or_path), builtin)}"
    )
