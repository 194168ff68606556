"""The Hugging Face Hub as lossbarcode reaches it: whether it answers, asked once and without retries
(huggingface_hub retries an unreachable host for about half a minute, on every call), and every way to
give huggingface_hub a token, for the messages that need one.
"""

from __future__ import annotations

#: Seconds to wait for the Hub's first answer: enough for a slow link, short against a job's life.
TIMEOUT_S = 10.0


class HubUnreachable(ConnectionError):
    """The Hub did not answer; the message says what failed."""


def reach(repo: str, repo_type: str = "model") -> None:
    """Asks the Hub once, without retries, about ``repo``; ``HubUnreachable`` when it does not answer.
    Whatever it answers (a missing or gated repository, too) is for the caller's next request to report."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    # huggingface_hub's HTTP errors derive from its HTTP library's base error (httpx's HTTPError), as do
    # that library's transport errors: refused connections, unresolvable hosts, timeouts.
    transport_error = HfHubHTTPError.__mro__[1]
    try:
        HfApi().repo_info(repo, repo_type=repo_type, timeout=TIMEOUT_S)
    except HfHubHTTPError:
        return  # an answer
    except (transport_error, OSError) as error:
        reason = (str(error).strip().splitlines() or [""])[0]
        raise HubUnreachable(f"{constants.ENDPOINT} gave no answer within {TIMEOUT_S:g} s "
                             f"({type(error).__name__}: {reason})") from error


def how_to_authenticate() -> str:
    """Every way huggingface_hub finds a token, as one sentence to follow "give it a token with read access"."""
    from huggingface_hub import constants

    return ("(create one at https://huggingface.co/settings/tokens) in any of these ways: `export HF_TOKEN=<token>` "
            f"(it wins over the others); `hf auth login` (older huggingface_hub: `huggingface-cli login`), which "
            f"stores it in {constants.HF_TOKEN_PATH} (HF_TOKEN_PATH or HF_HOME move that file); or, in Google Colab, "
            "a secret named HF_TOKEN")
