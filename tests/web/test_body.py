"""Reading JSON bodies (bot/web/body.py): fast for GitHub, exact for everyone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.web.body import load_github_json, load_json

BIG = 2**70  # beyond 64 bits: orjson would read it as a float


def test_other_senders_numbers_are_read_exactly() -> None:
    assert load_json(b'{"build": %d}' % BIG) == {"build": BIG}


def test_what_orjson_refuses_is_read_as_the_standard_library_reads_it() -> None:
    assert load_github_json(b'{"body": "/help\\n\\ud800"}') == {"body": "/help\n\ud800"}
    assert load_github_json(b'{"n": NaN}')["n"] != 0


@pytest.mark.parametrize("load", [load_json, load_github_json])
@pytest.mark.parametrize("body", [b"{not json", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe"])
def test_what_is_not_json_is_a_value_error(load: Callable[[bytes], Any], body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the message varies by parser)
        load(body)
