"""What a twin reads: its pipeline's features and those of the pipelines its ``[twin]`` names.

A twin of several modalities reads each one's features from the same
output folder, where each pipeline wrote them (its ``desc-`` entity tells
them apart). The participant run runs the other pipelines first, over the
same subjects, so one command makes every input; each subject's twin then
joins the modalities its first session has
(:func:`twin_modality`). One recording a session and modality is chosen
by the rule of :func:`choose_recordings`. An MRI pipeline among them
(``mri_structural``) is not a modality the twin fits: its regional
volumes are kept with the state of the same session (and shown next to
the twin's parameters over sessions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._logging import logger
from ..errors import ConfigError, DataError, NeurotwinError
from ..features.featureset import read_featureset
from ..io.bids import Study, name_entities, natural_key
from ..io.derivatives import is_output_desc
from ..io.sessions import order_sessions, session_days
from .config import PipelineConfig, load_config

__all__ = ["Source", "twin_sources", "twin_modality", "choose_recordings"]


@dataclass(frozen=True)
class Source:
    """One pipeline a twin reads: its name, the twin modality of its features, their ``desc-``."""

    name: str
    modality: str
    desc: str
    config: PipelineConfig


def _resolve(name: str, config: PipelineConfig) -> PipelineConfig:
    """A named pipeline: a built-in, or a file (relative to the naming pipeline's own file)."""
    if config.source and not Path(name).is_absolute() and name.endswith(".toml"):
        beside = Path(config.source).parent / name
        if beside.is_file():
            name = str(beside)
    try:
        return load_config(name)
    except NeurotwinError as err:
        raise ConfigError(
            f"{config.source or config.pipeline.name}: [twin] modalities names {name!r}, which cannot "
            f"be loaded: {err}"
        ) from None


def twin_sources(config: PipelineConfig) -> list[Source]:
    """This pipeline's source, then those of the pipelines its ``[twin]`` names (each once).

    Raises
    ------
    ConfigError
        If a named pipeline cannot be loaded, is of a modality a twin does
        not read, repeats a modality, or no joint twin joins the modalities.

    Examples
    --------
    >>> from neurotwin.pipeline import load_config
    >>> from neurotwin.pipeline._sources import twin_sources
    >>> sources = twin_sources(load_config("resting_eeg"))
    >>> [(s.name, s.modality) for s in sources]
    [('resting_eeg', 'eeg'), ('resting_meg', 'meg'), ('rest_fmri', 'bold'), ('mri_structural', 'mri')]
    >>> [s.desc for s in sources]
    ['preproc', 'preproc', 'clean', 'volumes']
    """
    settings = config.twin
    if settings is None:
        return []
    own = Source(config.pipeline.name, settings.modality, config.pipeline.desc, config)
    sources = [own]
    where = config.source or config.pipeline.name
    for name in settings.modalities:
        if name in (config.pipeline.name, config.source):
            continue
        other = _resolve(name, config)
        if other.pipeline.name in [s.name for s in sources]:
            continue
        modality = other.pipeline.modality
        if modality not in ("eeg", "meg", "bold", "mri"):
            raise ConfigError(
                f"{where}: [twin] modalities names {name!r}, a {modality} pipeline; a twin reads "
                f"EEG, MEG or BOLD features, and regional volumes (an MRI pipeline)."
            )
        if modality in [s.modality for s in sources]:
            raise ConfigError(
                f"{where}: [twin] modalities names two {modality} pipelines; a twin reads one of each."
            )
        sources.append(Source(other.pipeline.name, modality, other.pipeline.desc, other))
    fitted = [s.modality for s in sources if s.modality != "mri"]
    if len(fitted) > 1:
        twin_modality(fitted, where=where)
    return sources


def twin_modality(modalities: list[str], *, where: str = "") -> str:
    """The twin of these modalities: one alone, or the joint one (``eeg+bold``, ``eeg+meg+bold``, ...).

    Examples
    --------
    >>> from neurotwin.pipeline._sources import twin_modality
    >>> twin_modality(["bold", "eeg"]), twin_modality(["meg", "eeg"]), twin_modality(["bold", "meg", "eeg"])
    ('eeg+bold', 'eeg+meg', 'eeg+meg+bold')
    """
    from ..twin.objectives import OBJECTIVES

    if len(modalities) == 1:
        return modalities[0]
    order = {"eeg": 0, "meg": 1, "bold": 2}
    key = "+".join(sorted(modalities, key=order.get))
    if key not in OBJECTIVES:
        joint = sorted(k for k in OBJECTIVES if "+" in k)
        raise ConfigError(
            f"{where + ': ' if where else ''}no twin joins {' and '.join(modalities)}; the joint twins "
            f"are {joint}."
        )
    return key


def _own_connectome(study: Study, subject: str) -> Path | None:
    own = study.root / "derivatives" / "connectomes" / f"sub-{subject}"
    files = sorted(p for p in own.glob("*") if p.is_file()) if own.is_dir() else []
    return files[0] if files else None


class _Skip(NeurotwinError):
    """The twin cannot be made as configured (no connectome in "auto" mode, an ambiguous session):
    skipped with the reason, not failed."""


def _is_rest(task: str | None) -> bool:
    return task is not None and "rest" in task.lower()


def choose_recordings(
    paths: list[Path], task: str | None = None, run: str | None = None
) -> tuple[dict[str, Path], list[str]]:
    """One recording a session for a twin, by a stated rule; and why the others were left out.

    The rule: the recordings of ``task`` (default: the resting task, any
    task whose label contains ``rest``, preferring ``rest`` itself; when no
    recording has a resting task and all have one task, that one); then
    ``run`` (default: each session's first run in natural order, so ``2``
    before ``10``); then, if a session still has several (other entities
    such as ``acq-``), the first by name.

    Parameters
    ----------
    paths : list of Path
        The subject's feature files (BIDS names).
    task, run : str | None
        The ``[twin]`` table's choices.

    Returns
    -------
    chosen : dict
        ``{session label: path}``.
    skipped : list of str
        One sentence a recording left out, naming it and why.

    Raises
    ------
    ConfigError
        If no ``task`` is set and the recordings have several tasks of
        which none is a resting one (the twin cannot guess).

    Examples
    --------
    >>> from pathlib import Path
    >>> files = [Path("sub-01_ses-01_task-rest_run-2_desc-x_features.tsv"),
    ...          Path("sub-01_ses-01_task-rest_run-1_desc-x_features.tsv"),
    ...          Path("sub-01_ses-01_task-arithmetic_desc-x_features.tsv")]
    >>> chosen, skipped = choose_recordings(files)
    >>> chosen["01"].name
    'sub-01_ses-01_task-rest_run-1_desc-x_features.tsv'
    >>> len(skipped)
    2
    """
    info = [(p, name_entities(p.name)) for p in paths]
    skipped = []
    tasks = sorted({e.get("task") for _, e in info if e.get("task")})
    if task is None and tasks:
        rest = [t for t in tasks if _is_rest(t)]
        if rest:
            task = "rest" if "rest" in rest else rest[0]
        elif len(tasks) == 1:
            task = tasks[0]
        else:
            raise ConfigError(
                f"the recordings have tasks {tasks}, none of them a resting one; "
                "choose the twin's with task = ... in the pipeline's [twin]"
            )
    if task is not None:
        for p, e in info:
            if e.get("task") != task:
                skipped.append(f"{p.name}: task {e.get('task') or '(none)'!r}, the twin uses task {task!r}")
        info = [(p, e) for p, e in info if e.get("task") == task]
    by_session: dict[str, list] = {}
    for p, e in info:
        by_session.setdefault(e.get("ses", ""), []).append((p, e))
    chosen = {}
    for ses, items in by_session.items():
        if run is not None:
            for p, e in items:
                if e.get("run") != run:
                    skipped.append(f"{p.name}: run {e.get('run') or '(none)'!r}, the twin uses run {run!r}")
            items = [(p, e) for p, e in items if e.get("run") == run]
            if not items:
                continue
        items = sorted(items, key=lambda pe: (natural_key(pe[1].get("run", "")), pe[0].name))
        chosen[ses] = items[0][0]
        for p, _ in items[1:]:
            skipped.append(
                f"{p.name}: session {ses or '-'} has several recordings; the twin takes the "
                f"first ({items[0][0].name}; set run = ... in [twin] to choose)"
            )
    return chosen, skipped


def _outputs(out: Path, subject: str, src: Source) -> list[Path]:
    """A pipeline's feature files of a subject (:func:`~neurotwin.io.derivatives.is_output_desc`).

    (The outputs keep the input's own description: a ``desc-aseg`` label
    volume gives ``desc-asegVolumes``.)
    """
    return [
        p
        for p in sorted((out / f"sub-{subject}").rglob(f"sub-{subject}*_features.tsv"))
        if p.parent.name == src.config.pipeline.datatype
        and is_output_desc(name_entities(p.name).get("desc", ""), src.desc)
    ]


def _features(out: Path, subject: str, config) -> tuple[dict[str, dict[str, Path]], list[str]]:
    """``{modality: {session: features file}}`` of each pipeline the twin reads, and what was left out.

    The ``[twin]`` table's ``task``/``run`` choose among this pipeline's
    recordings; the other pipelines' are chosen by the default rule.
    """
    settings = config.twin
    found, notes = {}, []
    for k, src in enumerate(twin_sources(config)):
        paths = _outputs(out, subject, src)
        try:
            chosen, skipped = choose_recordings(
                paths, *((settings.task, settings.run) if k == 0 else (None, None))
            )
        except ConfigError as err:
            if k == 0:
                raise _Skip(str(err)) from None
            notes.append(f"{src.name}: {err}")
            continue
        notes += skipped
        if chosen:
            found[src.modality] = chosen
    for note in notes:
        logger.info("sub-%s: twin leaves out %s", subject, note)
    return found, notes


def _plan(study: Study, subject: str, found: dict, settings) -> tuple[str, dict, dict, list[str]]:
    """The subject's twin: its modality, ``{session: {modality: features file}}``, days, what it leaves out.

    One twin of every modality found when its first session has them all
    and the subject's own connectome is there (a joint twin's BOLD needs
    it); else a twin of the pipeline's own modality, saying why. Regional
    volumes (``"mri"``) join the twin's sessions of the same label.
    """
    found = dict(found)
    volumes = found.pop("mri", {})
    modality, sessions, days, notes = _plan_fitted(study, subject, found, settings)
    for ses, path in sorted(volumes.items()):
        if ses in sessions:
            sessions[ses]["mri"] = path
        else:
            notes.append(
                f"{path.name}: ses-{ses or '-'} has no twin session; its volumes are not in the twin"
            )
    return modality, sessions, days, notes


def _plan_fitted(study: Study, subject: str, found: dict, settings) -> tuple[str, dict, dict, list[str]]:
    """:func:`_plan` of the modalities the twin fits."""
    main = settings.modality
    own = found.get(main, {})
    if not own:
        return main, {}, {}, []
    others = [m for m in found if m != main]
    notes = []
    if others:
        union = sorted(set().union(*(found[m] for m in found)))
        days = session_days(study, subject, union)
        first = order_sessions(days)[0]
        lacking = [m for m in found if first not in found[m]]
        why = ""
        if lacking:
            why = f"its first session (ses-{first or '-'}) has no {' or '.join(lacking)} features"
        elif settings.connectome in ("tvb76", "tvb68") or _own_connectome(study, subject) is None:
            why = "BOLD needs the subject's own connectome (derivatives/connectomes/sub-<label>/)"
        if not why:
            modality = twin_modality(list(found))
            sessions = {ses: {m: found[m][ses] for m in found if ses in found[m]} for ses in union}
            return modality, sessions, days, notes
        notes.append(f"{', '.join(others)} features: not in the twin, because {why}")
        logger.info("sub-%s: the twin is of %s only: %s", subject, main, notes[-1])
    days = session_days(study, subject, sorted(own))
    return main, {ses: {main: path} for ses, path in own.items()}, days, notes


def _read(files: dict[str, Path]):
    """One session's features (``{modality: features file}``): its modalities' FeatureSets joined (an
    MEG recording's tagged ``meg:`` next to an EEG recording's: both have a PSD)."""
    from ..features import concat

    sets = {m: read_featureset(p) for m, p in files.items()}
    if "eeg" in sets and "meg" in sets:  # two recordings with a PSD each: the MEG's kept apart
        sets["meg"] = sets["meg"].tagged("meg")
    return next(iter(sets.values())) if len(sets) == 1 else concat(list(sets.values()))


def run_sources(sources: list[Source], study: Study, out, **kwargs) -> list:
    """Run the other pipelines a twin reads over the study (before the twin's own); their results.

    A pipeline with no recordings of its kind in the study (no BOLD) is
    passed over (logged): the twins are then of the first modality.
    """
    from .runner import Pipeline

    done = []
    for source in sources:
        try:
            pipe = Pipeline(source.config.model_copy(update={"twin": None}))
            done.append(pipe.run(study, out, reports=False, **kwargs))
        except DataError as err:
            logger.info("%s (for the twins): %s", source.name, err)
    return done
