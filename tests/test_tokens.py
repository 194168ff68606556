"""Token streams: text through Hugging Face datasets' loaders (local files, a folder laid out as a Hub
repository), tokenised once into a token file, cut into seeded, resumable windows."""

import json
from collections import Counter

import pytest
import torch

from lossbarcode.data import DATASETS, UNKNOWN, DataUnavailable, load, load_tokens, prepare, prepare_tokens
from lossbarcode.datasets import MimesisText, TokenDataset
from lossbarcode.landscape import NetworkLandscape
from lossbarcode.sampling import TokenWindows

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak. \u2603\n" * 3


def decode(tokens: torch.Tensor, vocab: list[str]) -> str:
    return "".join(vocab[i] for i in tokens.tolist())


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_a_local_text_file_round_trips_through_the_token_file(text_file, tmp_path):
    path = prepare_tokens(tmp_path / "tokens" / "mine.pt", "text", data_files=str(text_file))
    blob = torch.load(path, weights_only=True)
    assert blob["kind"] == "tokens" and blob["train"].dtype == torch.uint16
    assert blob["vocab"] == sorted(set(TEXT)) and blob["vocab_size"] == len(set(TEXT))
    assert blob["counts"] == {"documents": 1, "tokens": len(TEXT), "train": int(0.9 * len(TEXT)),
                              "validation": len(TEXT) - int(0.9 * len(TEXT)), "unknown": 0}
    assert "load_dataset('text'" in blob["source"] and "characters" in blob["source"]
    tokens = load_tokens(path, block_size=8)
    assert tokens.train_tokens.dtype == torch.int32
    assert decode(torch.cat([tokens.train_tokens, tokens.val_tokens]), tokens.vocab) == TEXT
    # once: a second call reads nothing
    mtime = path.stat().st_mtime_ns
    assert prepare_tokens(path, "text", data_files=str(text_file)) == path and path.stat().st_mtime_ns == mtime


def test_a_capped_character_vocabulary_keeps_the_most_frequent(text_file, tmp_path):
    tokens = load_tokens(prepare_tokens(tmp_path / "capped.pt", "text", data_files=[str(text_file)], vocab_size=5),
                         block_size=4)
    counts = Counter(TEXT)
    frequent = sorted(counts, key=lambda c: (-counts[c], c))[:4]
    assert tokens.vocab == [*sorted(frequent), UNKNOWN] and tokens.vocab_size == 5
    decoded = decode(torch.cat([tokens.train_tokens, tokens.val_tokens]), tokens.vocab)
    assert decoded == "".join(c if c in frequent else UNKNOWN for c in TEXT)
    assert torch.load(tmp_path / "capped.pt", weights_only=True)["counts"]["unknown"] == decoded.count(UNKNOWN)


def test_json_lines_through_the_json_loader_and_a_hub_laid_out_folder(tmp_path):
    records = [{"id": i, "content": f"document {i}: " + "abc" * i} for i in range(1, 6)]
    repo = tmp_path / "user--corpus" / "data"
    repo.mkdir(parents=True)
    (repo / "train-00000-of-00001.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    expected = "\n".join(r["content"] for r in records)

    by_loader = prepare_tokens(tmp_path / "a.pt", "json", data_files=str(repo / "train-00000-of-00001.jsonl"),
                               field="content")
    # the Hub route: load_dataset resolves a repository's files by its layout, here from a local copy
    by_layout = prepare_tokens(tmp_path / "b.pt", str(repo.parent), field="content")
    for path in (by_loader, by_layout):
        tokens = load_tokens(path, block_size=4)
        assert decode(torch.cat([tokens.train_tokens, tokens.val_tokens]), tokens.vocab) == expected
    with pytest.raises(ValueError, match="no column 'text'.*content"):
        prepare_tokens(tmp_path / "c.pt", "json", data_files=str(repo / "train-00000-of-00001.jsonl"))


def test_a_missing_source_is_unavailable_with_how_to_supply_it(tmp_path):
    with pytest.raises(DataUnavailable, match="without network access"):
        prepare_tokens(tmp_path / "missing.pt", "text", data_files=str(tmp_path / "nowhere.txt"))
    assert not (tmp_path / "missing.pt").exists()


def test_a_transformers_tokenizer_by_name(text_file, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"<eos>": 0, "[UNK]": 1, "speak": 2, "Speak": 3, ",": 4, ".": 5, ":": 6}
    backend = Tokenizer(models.WordLevel(words, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", unk_token="[UNK]").save_pretrained(
        tmp_path / "tokenizer")
    second = tmp_path / "second.txt"
    second.write_text("speak .")
    path = prepare_tokens(tmp_path / "words.pt", "text", data_files=[str(text_file), str(second)],
                          tokenizer=str(tmp_path / "tokenizer"))
    tokens = load_tokens(path, block_size=2)
    ids = torch.cat([tokens.train_tokens, tokens.val_tokens]).tolist()
    assert tokens.vocab is None and tokens.vocab_size == len(words)
    assert ids.count(0) == 1 and ids[-3:] == [0, 2, 5]  # the end-of-text token between the two files


def test_a_registry_entry_is_all_a_new_text_dataset_needs(text_file, tmp_path, monkeypatch):
    entry = TokenDataset("citizens", "Citizens (local text)", "text", data_files=(str(text_file),), vocab_size=10)
    monkeypatch.setitem(DATASETS, "citizens", entry)
    path = prepare(entry.name, tmp_path)
    assert path == tmp_path / "citizens.pt"
    blob = torch.load(path, weights_only=True)
    assert (blob["name"], blob["title"], blob["vocab_size"]) == ("citizens", entry.title, 10)
    with pytest.raises(ValueError, match="load_tokens"):
        load(path)


def test_a_token_file_is_made_anew_when_its_text_or_options_change(text_file, tmp_path, caplog):
    path = prepare_tokens(tmp_path / "mine.pt", "text", data_files=str(text_file))
    assert "Z" not in load_tokens(path, block_size=4).vocab
    text_file.write_text(TEXT + "Zebra!\n", encoding="utf-8")
    with caplog.at_level("INFO", logger="lossbarcode"):
        prepare_tokens(path, "text", data_files=str(text_file))
    assert "Z" in load_tokens(path, block_size=4).vocab
    assert f"{path} was made from another text or with other options (files changed): making it anew" in caplog.text
    prepare_tokens(path, "text", data_files=str(text_file), vocab_size=5)
    assert load_tokens(path, block_size=4).vocab_size == 5
    # the same text and options again: the file as it is
    mtime = path.stat().st_mtime_ns
    assert prepare_tokens(path, "text", data_files=str(text_file), vocab_size=5) == path
    assert path.stat().st_mtime_ns == mtime


def test_a_changed_registry_entry_makes_its_token_file_anew(text_file, tmp_path, monkeypatch):
    monkeypatch.setitem(DATASETS, "citizens", TokenDataset("citizens", "Citizens", "text", data_files=(str(text_file),)))
    assert load_tokens(prepare("citizens", tmp_path), block_size=4).vocab_size == len(set(TEXT))
    monkeypatch.setitem(DATASETS, "citizens", TokenDataset("citizens", "Citizens", "text", data_files=(str(text_file),),
                                                           vocab_size=6))
    assert load_tokens(prepare("citizens", tmp_path), block_size=4).vocab_size == 6


def test_languages_fetched_for_other_settings_are_fetched_anew_and_text_placed_by_hand_is_kept(tmp_path, monkeypatch):
    def languages(*names) -> set[str]:
        """The languages of the records that preparing an entry of ``names`` leaves."""
        monkeypatch.setitem(DATASETS, "prose", MimesisText("prose", "prose", names, 300))
        prepare("prose", tmp_path)
        return {json.loads(line)["language"] for line in (tmp_path / "prose.jsonl").read_text().splitlines()}

    assert languages("en") == {"en"}
    assert languages("en", "de") == {"en", "de"}
    (tmp_path / "prose.jsonl.origin").unlink()
    (tmp_path / "prose.jsonl").write_text(json.dumps({"language": "xx", "text": "placed by hand"}) + "\n")
    assert languages("en", "de") == {"xx"}
    tokens = load_tokens(tmp_path / "prose.pt", block_size=2)
    assert decode(torch.cat([tokens.train_tokens, tokens.val_tokens]), tokens.vocab) == "placed by hand"


# ----- windows -------------------------------------------------------------------------------------
def test_measurement_windows_tile_the_stream():
    tokens = torch.arange(35, dtype=torch.int32)
    windows = TokenWindows(tokens, 8)
    assert len(windows) == 4  # 34 // 8: each window needs its next token
    x, y = windows.rows(slice(None))
    assert x.dtype == torch.int64 and torch.equal(x.flatten(), torch.arange(32))
    assert torch.equal(y, x + 1)
    sub_x, _ = windows.subset(torch.tensor([2])).rows(slice(None))
    assert torch.equal(sub_x[0], torch.arange(16, 24))
    with pytest.raises(ValueError, match="at least 9"):
        TokenWindows(tokens[:8], 8)


def test_training_windows_are_seeded_and_resume_where_they_stopped():
    from torch import nn

    tokens = torch.randint(0, 50, (500,), generator=torch.Generator().manual_seed(0))

    def landscape(seed):
        return NetworkLandscape(nn.Embedding(50, 50), TokenWindows(tokens, 16), task="causal_lm", batch_size=4,
                                seed=seed)

    first, twin, other = landscape(3), landscape(3), landscape(4)
    drawn = [first.next_batch() for _ in range(3)]
    assert all(torch.equal(x, twin.next_batch()[0]) for x, _ in drawn)
    assert not torch.equal(drawn[0][0], other.next_batch()[0])
    # gpt.py's get_batch: uniform offsets in [0, len - block_size), the targets one token later
    starts = torch.randint(500 - 16, (4,), generator=torch.Generator().manual_seed(3))
    span = tokens[starts[:, None] + torch.arange(17)]
    assert torch.equal(drawn[0][0], span[:, :-1]) and torch.equal(drawn[0][1], span[:, 1:])

    state = first.data_state()
    ahead = [first.next_batch()[0] for _ in range(2)]
    resumed = landscape(99)
    resumed.load_data_state(state)
    assert all(torch.equal(x, resumed.next_batch()[0]) for x in ahead)
    assert first.steps_per_epoch == 8  # ceil(500 tokens / (4 windows of 16))
