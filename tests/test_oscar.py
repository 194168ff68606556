"""Text by language: OSCAR's layout served by a loopback Hugging Face Hub (the API routes huggingface_hub
uses: a repository's file tree, and files by revision, gated as the Hub gates them), each way it can
fail, and mimesis' sentences as the offline stand-in."""

import hashlib
import json
import socket
import threading
import time
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest
import torch
import zstandard

from lossbarcode.data import DATASETS, UNKNOWN, DataUnavailable, load_tokens, prepare
from lossbarcode.datasets import MimesisText, OscarDataset

REPO = "oscar-corpus/OSCAR-test"
TOKEN = "hf_accepted"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def shard(*texts: str) -> bytes:
    """A JSON-lines shard as OSCAR 23.01 writes them, zstd-compressed."""
    lines = "".join(json.dumps({"content": t, "warc_headers": {}, "metadata": {"identification": None}}) + "\n"
                    for t in texts)
    return zstandard.ZstdCompressor().compress(lines.encode())


ENGLISH = ["The first English document.", "A second one, longer than the first."]
MORE_ENGLISH = ["English from the second part."]
RUSSIAN = ["Первый русский документ.", "Второй документ."]
FILES = {
    "README.md": b"# OSCAR test\n",
    "de_meta/de_meta.jsonl.zst": shard("Ein deutsches Dokument."),
    "en_meta/en_meta_part_1.jsonl.zst": shard(*ENGLISH),
    "en_meta/en_meta_part_2.jsonl.zst": shard(*MORE_ENGLISH, "Past the budget."),
    "ru_meta/ru_meta.jsonl.zst": shard(*RUSSIAN),
}


class Hub(BaseHTTPRequestHandler):
    """The Hub's answers for datasets in ``server.repos`` ({id: {"files": {path: bytes}, "gated": bool}});
    a gated one answers 401 without a token and 403 for a token that has not accepted its terms."""

    def do_GET(self):
        self.answer(body=True)

    def do_HEAD(self):
        self.answer(body=False)

    def answer(self, body: bool):
        path = unquote(urlsplit(self.path).path)
        self.server.requests.append((self.command, path))
        route, _, rest = path.partition("/datasets/")
        if rest.count("/") < 3:
            return self.error(404, "", f"no route {path}")
        owner, name, verb, _revision, *file = rest.split("/")
        repo = self.server.repos.get(f"{owner}/{name}")
        if repo is None:
            return self.error(401, "RepoNotFound", "Repository Not Found")
        if repo["gated"]:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if not token:
                return self.error(401, "GatedRepo", "Access to this dataset is restricted. Please log in.")
            if token != TOKEN:
                return self.error(403, "GatedRepo", "You are not in the authorized list.")
        if route == "/api" and verb == "tree":
            tree = [{"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                    for p, b in repo["files"].items()]
            return self.send(json.dumps(tree).encode(), body, {"Content-Type": "application/json"})
        content = repo["files"].get("/".join(file))
        if route != "" or verb != "resolve" or content is None:
            return self.error(404, "EntryNotFound", "Entry not found")
        self.send(content, body, {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha1(content).hexdigest()}"'})

    def send(self, content: bytes, body: bool, headers: dict):
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if body:
            self.wfile.write(content)

    def error(self, status: int, code: str, message: str):
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def use_endpoint(monkeypatch, url: str):
    """What ``HF_ENDPOINT=url`` does when huggingface_hub is imported."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A loopback Hub holding REPO, gated, with no login cached and HF_TOKEN the accepted token."""
    from huggingface_hub import constants

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    server.repos, server.requests = {REPO: {"files": dict(FILES), "gated": True}}, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    use_endpoint(monkeypatch, f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    yield server
    server.shutdown()
    server.server_close()


def entry(monkeypatch, **fields) -> OscarDataset:
    meta = OscarDataset(**{"name": "oscar_test", "title": "OSCAR test", "repo": REPO, "languages": ("en", "ru"),
                           "characters_per_language": 70} | fields)
    monkeypatch.setitem(DATASETS, meta.name, meta)
    return meta


def decode(tokens, vocab) -> str:
    return "".join(vocab[i] for i in tokens.tolist())


def test_chosen_languages_come_from_the_hub_up_to_their_budget(hub, monkeypatch, tmp_path):
    meta = entry(monkeypatch)
    path = prepare(meta.name, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "oscar_test.jsonl").read_text().splitlines()]
    english = [r["text"] for r in records if r["language"] == "en"]
    russian = [r["text"] for r in records if r["language"] == "ru"]
    # English fills its 70 characters from both parts, the last document cut there; Russian has less
    assert sorted(english) == sorted([*ENGLISH, MORE_ENGLISH[0][:70 - len("".join(ENGLISH))]])
    assert sum(map(len, english)) == 70 and sorted(russian) == sorted(RUSSIAN)
    tokens = load_tokens(path, block_size=4)
    assert decode(torch.cat([tokens.train_tokens, tokens.val_tokens]), tokens.vocab) == "\n".join(
        r["text"] for r in records)
    blob = torch.load(path, weights_only=True)
    assert blob["title"] == "OSCAR test" and blob["source"].startswith(f"{REPO} field 'content', languages en, ru")
    downloaded = {p.rsplit("/", 1)[-1] for method, p in hub.requests if method == "GET" and "/resolve/" in p}
    assert downloaded == {"en_meta_part_1.jsonl.zst", "en_meta_part_2.jsonl.zst", "ru_meta.jsonl.zst"}


def test_community_oscar_snapshots_by_data_dir_and_a_local_copy_of_the_repository(hub, monkeypatch, tmp_path):
    files = {"data/2023-06/fr_meta/fr_meta_part_1.jsonl.zst": shard("Ancien."),
             "data/2023-14/fr_meta/fr_meta_part_1.jsonl.zst": shard("Un document français.")}
    hub.repos["oscar-corpus/community-test"] = {"files": files, "gated": False}
    copy = tmp_path / "copy"
    for file, content in files.items():
        (copy / file).parent.mkdir(parents=True, exist_ok=True)
        (copy / file).write_bytes(content)
    for name, repo in (("community", "oscar-corpus/community-test"), ("copied", str(copy))):
        meta = entry(monkeypatch, name=name, repo=repo, languages=("fr",), data_dir="data/2023-14")
        tokens = load_tokens(prepare(meta.name, tmp_path), block_size=4)
        assert decode(torch.cat([tokens.train_tokens, tokens.val_tokens]), tokens.vocab) == "Un document français."


def test_a_gated_repository_without_a_token_names_every_way_to_give_one(hub, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN")
    page = r"http://127\.0\.0\.1:\d+/datasets/oscar-corpus/OSCAR-test"
    with pytest.raises(DataUnavailable, match=rf"gated and no Hugging Face token.*settings/tokens.*export HF_TOKEN="
                                              rf".*`hf auth login`.*stores it in {tmp_path}/no-login/token.*"
                                              rf"HF_TOKEN_PATH.*Accept the dataset's terms at {page}"):
        prepare(entry(monkeypatch).name, tmp_path)
    assert not (tmp_path / "oscar_test.pt").exists() and not (tmp_path / "oscar_test.jsonl").exists()


def test_terms_not_accepted_name_the_page_to_accept_them(hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "hf_not_accepted")
    with pytest.raises(DataUnavailable, match=r"no access to the gated oscar-corpus/OSCAR-test: accept the dataset's "
                                              r"terms at http://127\.0\.0\.1:\d+/datasets/oscar-corpus/OSCAR-test"):
        prepare(entry(monkeypatch).name, tmp_path)


def test_offline_fails_at_once_saying_how_to_download_elsewhere_and_how_to_authenticate(hub, monkeypatch, tmp_path):
    with socket.socket() as closed:  # a port nothing listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    use_endpoint(monkeypatch, f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_TOKEN")
    start = time.perf_counter()
    # huggingface_hub would retry a refused connection 5 times over 23 s; one question tells the Hub is unreachable
    with pytest.raises(DataUnavailable, match=r"(?s)could not reach the Hugging Face Hub.*no answer within.*"
                                              r"OSCAR-test is gated: .*export HF_TOKEN=.*hf auth login.*"
                                              r"hf download oscar-corpus/OSCAR-test --repo-type dataset --include "
                                              r"'en_meta/\*' --include 'ru_meta/\*' --local-dir DIR.*oscar_test\.jsonl"):
        prepare(entry(monkeypatch, gated=True).name, tmp_path)
    assert time.perf_counter() - start < 5


def test_an_unknown_repository_and_a_missing_language(hub, monkeypatch, tmp_path):
    with pytest.raises(DataUnavailable, match="no dataset oscar-corpus/nothing-here at http://127.0.0.1"):
        prepare(entry(monkeypatch, repo="oscar-corpus/nothing-here").name, tmp_path)
    with pytest.raises(DataUnavailable, match=r"no shards for the language\(s\) xx.*the languages it has: de, en, ru$"):
        prepare(entry(monkeypatch, languages=("en", "xx")).name, tmp_path)


def test_an_empty_or_cut_off_shard_is_named(hub, monkeypatch, tmp_path):
    hub.repos[REPO]["files"]["ru_meta/ru_meta.jsonl.zst"] = shard()
    with pytest.raises(DataUnavailable, match="ru_meta/ru_meta.jsonl.zst of oscar-corpus/OSCAR-test holds no text"):
        prepare(entry(monkeypatch).name, tmp_path)
    hub.repos[REPO]["files"]["ru_meta/ru_meta.jsonl.zst"] = FILES["ru_meta/ru_meta.jsonl.zst"]
    hub.repos[REPO]["files"]["en_meta/en_meta_part_2.jsonl.zst"] = FILES["en_meta/en_meta_part_2.jsonl.zst"][:-9]
    with pytest.raises(DataUnavailable, match="en_meta/en_meta_part_2.jsonl.zst of .* holds no text.*remove its copy"):
        prepare(entry(monkeypatch).name, tmp_path / "again")


def test_the_oscar_entry_is_gated_oscar_2301():
    meta = DATASETS["oscar"]
    assert isinstance(meta, OscarDataset) and meta.repo == "oscar-corpus/OSCAR-2301" and meta.field == "content"


# ----- the offline stand-in ----------------------------------------------------------------------------
def test_mimesis_prose_is_multilingual_offline_and_round_trips(tmp_path):
    meta = DATASETS["mimesis_text"]
    assert isinstance(meta, MimesisText) and "stand-in for OSCAR" in meta.title
    path = prepare(meta.name, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "mimesis_text.jsonl").read_text().splitlines()]
    assert {r["language"] for r in records} == set(meta.languages)
    text = "\n".join(r["text"] for r in records)
    scripts = {unicodedata.name(c, "?").split()[0] for c in text if c.isalpha()}
    assert {"LATIN", "CYRILLIC", "GREEK", "ARABIC", "CJK", "HANGUL"} <= scripts
    assert {r["language"] for r in records[-len(records) // 10:]} == set(meta.languages)  # in validation too
    tokens = load_tokens(path, block_size=8)
    assert tokens.vocab_size == meta.vocab_size
    assert decode(torch.cat([tokens.train_tokens, tokens.val_tokens]), tokens.vocab) == "".join(
        c if c in tokens.vocab else UNKNOWN for c in text)
