"""What the lab page tells a student to upload, and the notebook snippet that uploads it,
from the lab's own rules: the entry kinds its spec accepts, whether the lab needs a
write-up (the same `Lab.needs_writeup` the intake checks), and songs.abc only for
next-character labs. The snippet must work as printed: tests run it against the upload API.
"""

from dataclasses import dataclass

from courses.models import Lab
from grader.errors import SpecError
from grader.specs import ENTRY_KINDS, LabSpec, load_spec

# kind -> (how it is described, the file name the snippet uses for it)
KINDS = {
    "keras": ("a Keras model (.keras or .h5)", "model.keras"),
    "torch": ("a TorchScript model (.pt2 or .pt)", "model.pt"),
    "code": ("a submission.py", "submission.py"),
}


# What a next-character lab's grader sends and expects (grader/stepwise.py, the harness's
# stepwise.py): the words and one example per entry kind, for the lab page.
NEXT_CHAR_SENDS = (
    "The grader never sends the text: it steps your model through it. For each batch of rows "
    "it sends every row's next character (its index in the course's vocabulary, the 83 "
    "characters of sorted(set(songs_joined))) and waits for your model's scores of the "
    "character after it before it sends the next one: one row of 83 logits or "
    "log-probabilities per text row (not probabilities: a softmax is applied).",
    "A score that gives the character that came next a probability of 0 or NaN (NaN, "
    "infinities, numbers too large for a softmax) makes the entry invalid.",
)
# Per entry kind: (title, what that kind gets, an example).
NEXT_CHAR_KINDS = {
    "keras": (
        "Keras",
        "A stateful model (the notebook's LSTM with stateful=True, saved at whatever batch "
        "size) gets [rows, 1] characters and is reset for each batch of rows; any other model "
        "gets the characters so far, [rows, t], and its last position counts.",
    ),
    "torch": (
        "PyTorch (TorchScript)",
        "forward(x, state) returning (logits, state) gets x int64 [rows, 1], starting from "
        "your init_hidden(batch_size) if you export one, else from zeros shaped for your one "
        "nn.LSTM; a model with forward(x) gets the characters so far.",
    ),
    "code": (
        "Code",
        "submission.py: step(chars) gets int64 [rows], answers [rows, 83]; start(batch_size), "
        "if you define it, is called before each batch of rows.",
    ),
}
NEXT_CHAR_EXAMPLES = {
    "keras": """# The notebook's model: Embedding, LSTM(..., stateful=True), Dense(vocab_size),
# saved as it is, at the batch size you built it with (the grader rebuilds it).
model.save("model.keras")""",
    "torch": """import torch


class Stepped(torch.nn.Module):
    \"\"\"The notebook's LSTMModel, stepped: forward(x, state) -> (logits, state).\"\"\"

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, state: tuple[torch.Tensor, torch.Tensor]):
        return self.model(x, state, return_state=True)


model = model.cpu().eval()
x = torch.zeros(1, 1, dtype=torch.long)
torch.jit.trace(Stepped(model), (x, model.init_hidden(1, "cpu"))).save("model.pt")""",
    "code": """# submission.py
import numpy as np

V = 83  # the course's vocabulary: sorted(set(songs_joined))


def start(batch_size):
    \"\"\"A new batch of rows begins: reset your model's state for batch_size rows.\"\"\"


def step(chars):
    \"\"\"chars: int64 [batch], each row's next character. Return [batch, V] logits or
    log-probabilities of the character after it (here: all equally likely).\"\"\"
    return np.full((len(chars), V), -np.log(V))""",
}


@dataclass(frozen=True)
class KindHelp:
    """One entry kind's row of the lab page: what it receives and returns, and how the
    course's notebooks save such an entry."""

    name: str  # "Keras", "PyTorch", "Code"
    call: str
    receives: str
    returns: str
    example: str
    cam: str = ""  # where its class activation maps come from ([cam] labs)


# How to save each kind, as a short notebook example ({shape}: one example's shape as that
# kind receives it, batch of one first).
SAVE_EXAMPLES = {
    "keras": 'model.save("model.keras")  # the whole model, not save_weights',
    "torch": (
        "model.eval()\n"
        'torch.jit.trace(model, torch.zeros({shape})).save("model.pt")  # not torch.save'
    ),
}
KIND_NAMES = {"keras": "Keras", "torch": "PyTorch", "code": "Code (submission.py)"}


def _kind_help(spec: LabSpec, kind: str) -> KindHelp:
    io = spec.entry_io(kind)
    if kind == "code":
        function = "act(observation)" if spec.task == "interactive" else "predict(x)"
        example = (
            f"# submission.py\ndef {function}:  # {io.receives}\n    return ...  # {io.returns}"
        )
        if spec.cam is not None:
            height, width = spec.input.shape[0], spec.input.shape[1]
            example += (
                f"\n\ndef cams(x):  # optional: where the model looked\n"
                f"    return ...  # [N, {height}, {width}] class activation maps"
            )
    else:
        dims = ", ".join(str(d) for d in spec.input.shape_for(kind))
        example = SAVE_EXAMPLES[kind].format(shape=f"1, {dims}")
    return KindHelp(KIND_NAMES[kind], io.call, io.receives, io.returns, example, io.cam)


@dataclass(frozen=True)
class UploadHelp:
    kinds: tuple[str, ...]  # descriptions, in the spec's order
    example: str  # the entry file the snippet uploads
    needs_writeup: bool
    songs: bool  # a next-character lab: songs.abc goes in the .zip
    ranking: str = ""  # how the lab ranks entries, in words (the spec's [ranking])
    per_kind: tuple[KindHelp, ...] = ()  # what each kind receives and returns
    extras: str = ""  # the grader package's extras this lab needs ("rl", "music")
    # Where the grader steps the entry: what it sends and expects back (paragraphs), and per
    # accepted entry kind (title, what that kind gets, an example).
    sends: tuple[str, ...] = ()
    examples: tuple[tuple[str, str, str], ...] = ()

    @property
    def cams(self) -> tuple[KindHelp, ...]:
        """The kinds whose class activation maps the lab page explains ([cam] labs)."""
        return tuple(k for k in self.per_kind if k.cam)

    @property
    def zipped(self) -> bool:
        return self.needs_writeup or self.songs

    @property
    def text(self) -> str:
        kinds = ", ".join(self.kinds[:-1]) + (" or " if len(self.kinds) > 1 else "")
        text = f"Upload {kinds}{self.kinds[-1]}"
        if self.needs_writeup:
            text += ", in a .zip with writeup.md or writeup.pdf (required) and any figures/"
        elif self.songs:
            text += ", or a .zip of it"
        text += "."
        if self.songs:
            text += " Add songs.abc (songs your model wrote) to the .zip for the judges."
        return text

    def python(self, url: str) -> str:
        lines = ["import requests"]
        if self.zipped:
            lines = ["import zipfile", "", *lines]
        lines += [
            "",
            'TOKEN = "paste your token here"  # create one under "API tokens"',
            f'URL = "{url}"',
        ]
        upload = self.example
        if self.zipped:
            upload = "entry.zip"
            lines += ['with zipfile.ZipFile("entry.zip", "w") as z:']
            lines += [f'    z.write("{self.example}")  # your entry: {" or ".join(self.kinds)}']
            if self.needs_writeup:
                lines += ['    z.write("writeup.md")  # required: writeup.md or writeup.pdf']
            if self.songs:
                lines += ['    # z.write("songs.abc")  # optional: songs your model wrote']
        lines += [
            f'with open("{upload}", "rb") as f:',
            '    r = requests.post(URL, headers={"Authorization": f"Token {TOKEN}"}, '
            'files={"file": f})',
            "print(r.status_code, r.json())",
        ]
        return "\n".join(lines)

    def curl(self, url: str) -> str:
        post = f'curl -H "Authorization: Token $TOKEN" -F file=@{{}} {url}'
        if not self.zipped:
            return post.format(self.example)
        members = " ".join([self.example, *(["writeup.md"] if self.needs_writeup else [])])
        return f"zip entry.zip {members} && " + post.format("entry.zip")


def upload_help(lab: Lab) -> UploadHelp:
    try:
        spec = load_spec(lab.spec_id)
        kinds, songs, ranking = spec.entry_kinds, spec.task == "next_char", spec.ranking_text
        per_kind = tuple(_kind_help(spec, k) for k in kinds)
        extras = {"interactive": "rl", "next_char": "music"}.get(spec.task, "")
    except SpecError:
        # A lab whose spec is missing still gets its page (uploads then say why they fail).
        kinds, songs, ranking, per_kind, extras = ENTRY_KINDS, False, "", (), ""
    stepped = songs  # next-character labs are stepped by the grader
    return UploadHelp(
        kinds=tuple(KINDS[k][0] for k in kinds),
        example=KINDS[kinds[0]][1],
        needs_writeup=lab.needs_writeup,
        songs=songs,
        ranking=ranking,
        per_kind=() if stepped else per_kind,
        extras=extras,
        sends=NEXT_CHAR_SENDS if stepped else (),
        examples=tuple((*NEXT_CHAR_KINDS[k], NEXT_CHAR_EXAMPLES[k]) for k in kinds)
        if stepped
        else (),
    )
