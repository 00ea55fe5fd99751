"""Declarative lab specs: one TOML file per lab in `lab_specs/`, validated on load.

Adding a lab is a new spec and its data; new code is needed only for a new task kind or
metric. The specs directory is `GRADER_SPECS_DIR` or the repository's `lab_specs/`.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import json
import os
import re
import tomllib
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from grader.errors import SpecError

REPO_DIR = Path(__file__).resolve().parent.parent
TBD_CHECKSUM = "sha256:TBD"
# The set is built per installation from a secret (the demo sets): its checksum cannot be in
# the repository, so the build records it in the hidden directory (grader.hidden).
LOCAL_CHECKSUM = "local"
TASK_KINDS = ("classification", "next_char", "interactive")
ENTRY_KINDS = ("keras", "torch", "code")
# Observation preprocessors of interactive labs, and the shape each one gives (None: the
# environment's own). "pong40" is the course's `mitdeeplearning.lab3.preprocess_pong` from
# version 0.2.0 on (dilated, 40x40); "pong80" the older, undilated 80x80 one.
PREPROCESSORS: dict[str, tuple[int, ...] | None] = {
    "none": None,
    "pong40": (40, 40, 1),
    "pong80": (80, 80, 1),
}
# How an entry receives image inputs ([H, W, C] per example in the hidden set): as stored
# ("channels_last", NHWC) or with the channels first ("channels_first", NCHW). Each
# framework's own convention by default; a lab spec may say otherwise ([input.layout]).
LAYOUTS = ("channels_last", "channels_first")
DEFAULT_LAYOUTS = {"keras": "channels_last", "torch": "channels_first", "code": "channels_last"}
DEBIAS_GROUPS = ("LF", "LM", "DF", "DM")
# Where a class activation map points, against the region masks of the positive cases
# (grader/cams.py); only labs with a [cam] table can list them.
LOCALIZATION_METRICS = ("pointing_game", "cam_mass_inside")

# Metrics each task kind knows how to compute; a spec picks the ones its lab shows.
KNOWN_METRICS: dict[str, frozenset[str]] = {
    "classification": frozenset(
        {
            "accuracy",
            "roc_auc",
            "debias_accuracy",
            "mean_group_auc",
            "worst_group_auc",
            "group_accuracy_variance",
            "worst_group_accuracy",
            "non_face_specificity",
            *(f"accuracy_{g}" for g in DEBIAS_GROUPS),
            *LOCALIZATION_METRICS,
        }
    ),
    "next_char": frozenset({"bits_per_char", "abc_validity"}),
    "interactive": frozenset({"mean_return", "std_return", "episodes"}),
}
_LAB_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    direction: str  # "higher" or "lower" is better
    unit: str
    description: str
    integer: bool = False  # a whole count (e.g. episodes): shown without decimals

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"


@dataclass(frozen=True)
class Ranking:
    primary: str
    tie_breaks: tuple[str, ...]
    note: str = ""  # why this order, in a sentence for the lab page (optional)


@dataclass(frozen=True)
class Limits:
    wall_time_s: float
    memory_mb: int
    cpus: int
    gpu: bool
    output_mb: int
    entry_mb: int


@dataclass(frozen=True)
class DataRef:
    name: str
    checksum: str

    @property
    def verified(self) -> bool:
        """False while the spec still says `sha256:TBD`: the data is then used unverified."""
        return self.checksum != TBD_CHECKSUM


@dataclass(frozen=True)
class Rubric:
    """Maps the automatic metric to a 1-5 score: one point per threshold reached."""

    metric: str
    thresholds: tuple[float, ...]
    higher_is_better: bool

    def score(self, value: float | None) -> int | None:
        if value is None:
            return None
        if self.higher_is_better:
            return 1 + sum(1 for t in self.thresholds if value >= t)
        return 1 + sum(1 for t in self.thresholds if value <= t)


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]  # per example, as the hidden set holds it; -1 is a free dimension
    dtype: str
    value_range: tuple[float, float] | None
    # (entry kind, layout) for image inputs ([H, W, C]); empty when the input is no image.
    layouts: tuple[tuple[str, str], ...] = ()

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3 and all(d > 0 for d in self.shape)

    def layout(self, kind: str) -> str:
        """How entries of `kind` receive the input: "channels_last" or "channels_first"."""
        return dict(self.layouts).get(kind, "channels_last")

    def shape_for(self, kind: str) -> tuple[int, ...]:
        """One example's shape as an entry of `kind` receives it."""
        if self.layout(kind) == "channels_first":
            height, width, channels = self.shape
            return (channels, height, width)
        return self.shape


@dataclass(frozen=True)
class CamSpec:
    """Class activation maps of a binary image classifier (the [cam] table): computed by
    the grader for model files whose structure allows it, returned by code entries, and
    shown over `samples` correct and as many misclassified sample images per split."""

    samples: int
    labels: tuple[str, str] = ("negative", "positive")  # the two classes, in words

    @property
    def positive(self) -> str:
        return self.labels[1]


@dataclass(frozen=True)
class EnvironmentSpec:
    id: str
    kwargs: tuple[tuple[str, Any], ...]
    preprocess: str
    observation_shape: tuple[int, ...]
    n_actions: int
    max_episode_steps: int
    step_timeout_s: float
    episode_timeout_s: float
    startup_timeout_s: float


@dataclass(frozen=True)
class EntryIO:
    """What an entry of one kind receives and must return, in words for the lab page."""

    kind: str
    call: str  # how the grader calls it, e.g. "model(x)" or "predict(images)"
    receives: str  # e.g. "float32 [N, 3, 64, 64] (NCHW) in [0, 1]"
    returns: str
    cam: str = ""  # where its class activation maps come from ([cam] labs only)


# Where each entry kind's class activation maps come from, for the lab page.
CAM_SOURCES = {
    "keras": (
        "the grader computes them when the model ends in GlobalAveragePooling2D and a Dense "
        "layer (Dropout between them is fine): the last convolutional maps weighted by the "
        "dense weights of the positive class"
    ),
    "torch": (
        "the grader computes them for a TorchScript model holding an nn.Sequential that takes "
        "the input and ends in AdaptiveAvgPool2d(1), Flatten and Linear (then optionally "
        "Sigmoid or Softmax), when those layers reproduce the model's own output"
    ),
    "code": (
        "optional: define cams(x) in submission.py returning one map per image, [N, {h}, {w}] "
        "(the image's height and width), values within ±{limit:,.0f}"
    ),
}
# The largest value a map may hold: maps are compared by their shape (each is scaled to its
# own maximum), and a bound keeps every sum over a map finite.
CAM_MAX_ABS = 1e6
MAX_CAM_SAMPLES = 8  # correct (and as many misclassified) images shown per split


def _dims(shape: tuple[int, ...], lead: str) -> str:
    inner = ", ".join("T" if d == -1 else str(d) for d in shape)
    return f"[{lead}, {inner}]" if lead else f"[{inner}]"


@dataclass(frozen=True)
class LabSpec:
    id: str
    title: str
    description: str
    task: str
    entry_kinds: tuple[str, ...]
    input: InputSpec
    classes: int | None
    metrics: tuple[MetricSpec, ...]
    ranking: Ranking
    limits: Limits
    data: DataRef
    rubric: Rubric
    environment: EnvironmentSpec | None
    spec_hash: str
    cam: CamSpec | None = None

    def metric(self, name: str) -> MetricSpec:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    def sort_key(self, metrics: dict[str, float]) -> tuple[float, ...]:
        """Key that sorts better entries first; a missing metric sorts last."""
        key = []
        for name in (self.ranking.primary, *self.ranking.tie_breaks):
            value = metrics.get(name)
            if value is None:
                key.append(float("inf"))
            else:
                key.append(-value if self.metric(name).higher_is_better else value)
        return tuple(key)

    def entry_io(self, kind: str) -> EntryIO:
        """What an entry of `kind` receives and returns: the one home of that rule's words
        (the harness applies the layout: sandboxes/harness/loaders.py)."""
        inp = self.input
        layout = inp.layout(kind)
        names = {"channels_last": " (NHWC)", "channels_first": " (NCHW)"}
        where = names[layout] if inp.is_image else ""
        span = ""
        if inp.value_range is not None:
            span = f" in [{inp.value_range[0]:g}, {inp.value_range[1]:g}]"
        shape = inp.shape_for(kind)
        model = kind != "code"
        if self.task == "interactive":
            n = self.environment.n_actions if self.environment else 0
            if model:
                receives = f"{inp.dtype} {_dims(shape, '1')}{where}{span}, one observation"
                returns = f"[1, {n}] action scores: the highest is played"
                return EntryIO(kind, "model(observation)", receives, returns)
            receives = f"{inp.dtype} {_dims(shape, '')}{span}" + (
                f", channels {'first' if layout == 'channels_first' else 'last'}"
                if inp.is_image
                else ""
            )
            returns = f"an action 0 to {n - 1} (or {n} scores: the highest is played)"
            return EntryIO(kind, "act(observation), optional reset()", receives, returns)
        lead = "N"
        receives = f"{inp.dtype} {_dims(shape, lead)}{where}{span}"
        if self.task == "classification":
            if self.classes == 2:
                returns = "[N] probability of the positive class (or [N, 1], or [N, 2] scores)"
            else:
                returns = f"[N, {self.classes}] class probabilities"
            returns += "; logits are accepted"
        else:
            returns = "[N, T, V] log-probabilities of the next character (logits accepted)"
        call = "model(x)" if model else "predict(x)"
        cam = ""
        if self.cam is not None:
            height, width = inp.shape[0], inp.shape[1]
            cam = CAM_SOURCES[kind].format(h=height, w=width, limit=CAM_MAX_ABS)
        return EntryIO(kind, call, receives, returns, cam)

    @property
    def ranking_text(self) -> str:
        """The ranking rule in words, e.g. for the lab page."""
        text = f"Ranked by {self.metric(self.ranking.primary).label}"
        if self.ranking.tie_breaks:
            ties = ", then ".join(self.metric(n).label for n in self.ranking.tie_breaks)
            text += f"; ties broken by {ties}"
        return f"{text}. {self.ranking.note}".strip()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.environment is not None:
            d["environment"]["kwargs"] = dict(self.environment.kwargs)
        return d


def specs_dir() -> Path:
    """$GRADER_SPECS_DIR, the checkout's lab_specs/, or the copy a pip install ships."""
    if os.environ.get("GRADER_SPECS_DIR"):
        return Path(os.environ["GRADER_SPECS_DIR"])
    in_repo = REPO_DIR / "lab_specs"
    return in_repo if in_repo.is_dir() else Path(__file__).resolve().parent / "lab_specs"


def load_spec(lab_id: str) -> LabSpec:
    if not _LAB_ID.match(lab_id):
        raise SpecError(f"{lab_id!r} is not a lab id (lowercase letters, digits and dashes)")
    path = specs_dir() / f"{lab_id}.toml"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(specs_dir().glob("*.toml"))) or "none"
        raise SpecError(f"no lab {lab_id!r} (no {path}); known labs: {known}")
    stat = path.stat()
    spec = _parse_cached(path, stat.st_mtime_ns, stat.st_size)
    if not spec.data.verified:
        warnings.warn(
            f"lab {lab_id}: [data] checksum is {TBD_CHECKSUM}; its hidden set is used UNVERIFIED",
            stacklevel=2,
        )
    return spec


@functools.lru_cache(maxsize=64)
def _parse_cached(path: Path, mtime_ns: int, size: int) -> LabSpec:
    # Specs are read on hot paths (every leaderboard request, every reaper pass); an edited
    # file has a new mtime or size, so it is parsed again.
    return parse_spec_file(path)


def load_all_specs() -> list[LabSpec]:
    return [load_spec(p.stem) for p in sorted(specs_dir().glob("*.toml"))]


def parse_spec_file(path: Path) -> LabSpec:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the spec: {exc}") from exc
    spec = parse_spec(raw, where=str(path))
    if spec.id != path.stem:
        raise SpecError(f"{path}: id {spec.id!r} must match the file name {path.stem!r}")
    return spec


class _Table:
    """A TOML table with typed getters that name the file and key in every error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise SpecError(f"{where}: expected a table")
        self.data = data
        self.where = where

    def _get(self, key: str, types: tuple[type, ...], default: Any, tname: str) -> Any:
        if key not in self.data:
            if default is _REQUIRED:
                raise SpecError(f"{self.where}: missing required key {key!r}")
            return default
        value = self.data[key]
        # bool is an int in Python; a TOML `true` is never a valid number here.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise SpecError(f"{self.where}: {key!r} must be {tname}, got {value!r}")
        return value

    # The methods below are named after builtins, so their annotations say `builtins.`.
    def str(self, key: builtins.str, default: Any = None) -> builtins.str:
        default = _REQUIRED if default is None else default
        value: builtins.str = self._get(key, (builtins.str,), default, "a string")
        if not value:
            raise SpecError(f"{self.where}: {key!r} must not be empty")
        return value

    def num(self, key: builtins.str, default: Any = None, minimum: float = 0.0) -> float:
        default = _REQUIRED if default is None else default
        value = float(self._get(key, (builtins.int, float), default, "a number"))
        if value <= minimum:
            raise SpecError(f"{self.where}: {key!r} must be greater than {minimum}")
        return value

    def int(self, key: builtins.str, default: Any = None) -> builtins.int:
        default = _REQUIRED if default is None else default
        value: builtins.int = self._get(key, (builtins.int,), default, "an integer")
        if value < 1:
            raise SpecError(f"{self.where}: {key!r} must be at least 1")
        return value

    def bool(self, key: builtins.str, default: Any = None) -> builtins.bool:
        default = _REQUIRED if default is None else default
        value: builtins.bool = self._get(key, (builtins.bool,), default, "true or false")
        return value

    def list(self, key: builtins.str, default: Any = None) -> builtins.list[Any]:
        default = _REQUIRED if default is None else default
        value: builtins.list[Any] = self._get(key, (builtins.list,), default, "a list")
        return value

    def table(self, key: builtins.str, required: builtins.bool = True) -> _Table | None:
        if key not in self.data:
            if required:
                raise SpecError(f"{self.where}: missing required table [{key}]")
            return None
        return _Table(self.data[key], f"{self.where} [{key}]")

    def choice(
        self, key: builtins.str, choices: tuple[builtins.str, ...], default: Any = None
    ) -> builtins.str:
        value = self.str(key, default)
        if value not in choices:
            raise SpecError(f"{self.where}: {key!r} must be one of {', '.join(choices)}")
        return value


_REQUIRED = object()


def _shape(t: _Table, key: str) -> tuple[int, ...]:
    dims = t.list(key)
    if not all(isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1) for d in dims):
        raise SpecError(f"{t.where}: {key!r} must list positive integers (or -1 for free)")
    return tuple(dims)


def _layouts(inp: _Table, input_spec: InputSpec, kinds: list[str]) -> tuple[tuple[str, str], ...]:
    """Each accepted entry kind's layout of an image input: the spec's [input.layout], else
    the framework's convention (DEFAULT_LAYOUTS)."""
    table = inp.table("layout", required=False)
    given: dict[str, str] = {}
    if table is not None:
        for kind in table.data:
            if kind not in ENTRY_KINDS:
                raise SpecError(f"{table.where}: {kind!r} is not an entry kind")
            given[kind] = table.choice(kind, LAYOUTS)
        if not input_spec.is_image:
            raise SpecError(
                f"{table.where}: a layout applies only to an image input ([height, width, "
                f"channels]), not to shape {list(input_spec.shape)}"
            )
    if not input_spec.is_image:
        return ()
    return tuple((k, given.get(k, DEFAULT_LAYOUTS[k])) for k in kinds)


def parse_spec(raw: dict[str, Any], where: str = "<spec>") -> LabSpec:
    top = _Table(raw, where)
    lab_id = top.str("id")
    if not _LAB_ID.match(lab_id):
        raise SpecError(f"{where}: id {lab_id!r} must be lowercase letters, digits and dashes")
    task = top.choice("task", TASK_KINDS)
    kinds = top.list("entry_kinds")
    if not kinds or any(k not in ENTRY_KINDS for k in kinds):
        raise SpecError(f"{where}: entry_kinds must list some of {', '.join(ENTRY_KINDS)}")

    inp = top.table("input")
    assert inp is not None
    value_range = inp.list("range", default=[])
    if value_range and (
        len(value_range) != 2 or not all(isinstance(v, int | float) for v in value_range)
    ):
        raise SpecError(f"{inp.where}: 'range' must be [low, high]")
    input_spec = InputSpec(
        shape=_shape(inp, "shape"),
        dtype=inp.choice("dtype", ("float32", "int32", "uint8")),
        value_range=(float(value_range[0]), float(value_range[1])) if value_range else None,
    )
    input_spec = replace(input_spec, layouts=_layouts(inp, input_spec, kinds))
    classes = None
    if task == "classification":
        classes = top.int("classes")
        if classes < 2:
            raise SpecError(f"{where}: 'classes' must be at least 2")

    metrics: list[MetricSpec] = []
    raw_metrics = top.list("metrics")
    for i, m in enumerate(raw_metrics):
        mt = _Table(m, f"{where} [[metrics]] #{i + 1}")
        name = mt.str("name")
        if name not in KNOWN_METRICS[task]:
            known = ", ".join(sorted(KNOWN_METRICS[task]))
            raise SpecError(f"{mt.where}: unknown metric {name!r} for task {task}; known: {known}")
        metrics.append(
            MetricSpec(
                name=name,
                label=mt.str("label"),
                direction=mt.choice("direction", ("higher", "lower")),
                unit=mt._get("unit", (str,), "", "a string"),
                description=mt.str("description"),
                integer=mt.bool("integer", False),
            )
        )
    names = [m.name for m in metrics]
    if not names or len(set(names)) != len(names):
        raise SpecError(f"{where}: [[metrics]] must list at least one metric, each once")

    rk = top.table("ranking")
    assert rk is not None
    ranking = Ranking(
        primary=rk.str("primary"),
        tie_breaks=tuple(rk.list("tie_breaks", [])),
        note=rk._get("note", (str,), "", "a string").strip(),
    )
    for name in (ranking.primary, *ranking.tie_breaks):
        if name not in names:
            raise SpecError(f"{rk.where}: {name!r} is not one of the lab's metrics {names}")

    lt = top.table("limits")
    assert lt is not None
    limits = Limits(
        wall_time_s=lt.num("wall_time_s"),
        memory_mb=lt.int("memory_mb"),
        cpus=lt.int("cpus"),
        gpu=lt.bool("gpu"),
        output_mb=lt.int("output_mb", 64),
        entry_mb=lt.int("entry_mb", 200),
    )

    dt = top.table("data")
    assert dt is not None
    checksum = dt.str("checksum")
    if checksum not in (TBD_CHECKSUM, LOCAL_CHECKSUM) and not re.fullmatch(
        r"sha256:[0-9a-f]{64}", checksum
    ):
        raise SpecError(
            f"{dt.where}: checksum must be 'sha256:<64 hex>', '{TBD_CHECKSUM}' or "
            f"'{LOCAL_CHECKSUM}'"
        )
    data = DataRef(name=dt.str("name"), checksum=checksum)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", data.name):
        raise SpecError(f"{dt.where}: name {data.name!r} must be a plain directory name")

    rb = top.table("rubric")
    assert rb is not None
    rubric_metric = rb.str("metric")
    if rubric_metric not in names:
        raise SpecError(f"{rb.where}: metric {rubric_metric!r} is not one of {names}")
    thresholds = rb.list("thresholds")
    higher = next(m for m in metrics if m.name == rubric_metric).higher_is_better
    if len(thresholds) != 4 or not all(isinstance(t, int | float) for t in thresholds):
        raise SpecError(f"{rb.where}: thresholds must be 4 numbers (scores 2, 3, 4 and 5)")
    if list(thresholds) != sorted(thresholds, reverse=not higher):
        order = "increasing" if higher else "decreasing (lower is better)"
        raise SpecError(f"{rb.where}: thresholds must be {order}")
    rubric = Rubric(rubric_metric, tuple(float(t) for t in thresholds), higher)

    cam = None
    ct = top.table("cam", required=False)
    if ct is not None:
        if task != "classification" or classes != 2 or not input_spec.is_image:
            raise SpecError(
                f"{ct.where}: class activation maps need a binary classification of images"
            )
        words = ct.list("labels", ["negative", "positive"])
        if len(words) != 2 or not all(isinstance(w, str) and 0 < len(w) <= 40 for w in words):
            raise SpecError(f"{ct.where}: 'labels' must name the two classes, [negative, positive]")
        cam = CamSpec(samples=ct.int("samples", 3), labels=(words[0], words[1]))
        if cam.samples > MAX_CAM_SAMPLES:
            raise SpecError(f"{ct.where}: 'samples' must be at most {MAX_CAM_SAMPLES}")
    if cam is None and set(names) & set(LOCALIZATION_METRICS):
        raise SpecError(
            f"{where}: {', '.join(LOCALIZATION_METRICS)} need a [cam] table (class activation maps)"
        )

    environment = None
    if task == "interactive":
        et = top.table("environment")
        assert et is not None
        kwargs = et._get("kwargs", (dict,), {}, "a table")
        preprocess = et.choice("preprocess", tuple(PREPROCESSORS), "none")
        environment = EnvironmentSpec(
            id=et.str("id"),
            kwargs=tuple(sorted(kwargs.items())),
            preprocess=preprocess,
            observation_shape=_shape(et, "observation_shape"),
            n_actions=et.int("n_actions"),
            max_episode_steps=et.int("max_episode_steps"),
            step_timeout_s=et.num("step_timeout_s"),
            episode_timeout_s=et.num("episode_timeout_s"),
            startup_timeout_s=et.num("startup_timeout_s", 120.0),
        )
        made = PREPROCESSORS[preprocess]
        if made is not None and environment.observation_shape != made:
            raise SpecError(
                f"{et.where}: preprocess {preprocess!r} gives observations of shape "
                f"{list(made)}, not {list(environment.observation_shape)}"
            )
        if environment.observation_shape != input_spec.shape:
            raise SpecError(
                f"{et.where}: observation_shape {list(environment.observation_shape)} must "
                f"be the [input] shape {list(input_spec.shape)}"
            )
    elif "environment" in raw:
        raise SpecError(f"{where}: [environment] only applies to task = 'interactive'")

    fields: dict[str, Any] = dict(
        id=lab_id,
        title=top.str("title"),
        description=top.str("description"),
        task=task,
        entry_kinds=tuple(kinds),
        input=input_spec,
        classes=classes,
        metrics=tuple(metrics),
        ranking=ranking,
        limits=limits,
        data=data,
        rubric=rubric,
        environment=environment,
        spec_hash="",
        cam=cam,
    )
    unhashed = LabSpec(**fields).to_dict()
    if cam is None:
        # Labs without class activation maps keep the hash their receipts recorded.
        del unhashed["cam"]
    if not ranking.note:
        # A spec without the (later) optional note keeps the hash its receipts recorded.
        del unhashed["ranking"]["note"]
    if not input_spec.layouts:
        # Likewise a lab whose input is no image (nothing to lay out).
        del unhashed["input"]["layouts"]
    canonical = json.dumps(unhashed, sort_keys=True, separators=(",", ":"))
    fields["spec_hash"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    return LabSpec(**fields)
