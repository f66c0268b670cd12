"""JSON in and out: orjson (a dependency on CPython) and the standard library fallback agree.

The same scenario runs in this process (orjson) and in a fresh interpreter where orjson cannot
be imported (the standard library path, as on PyPy): the bodies sent, the values refused before
sending, and the answers read must be the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCENARIO = textwrap.dedent(
    """
    import asyncio, datetime, json, sys
    import amas_async as amas
    from amas_async.testing import MockTransport

    EXECUTION = {"session_id": "s", "status": "completed",
                 "messages": [{"id": "m", "role": "assistant", "content": "h\\u00e9"}]}

    def answer(request):
        return amas.Response(200, json=EXECUTION)

    async def main():
        transport = MockTransport(answer)
        out = {}
        async with amas.AsyncAmas(api_key="k", base_url="http://127.0.0.1:9/api/v1",
                                  transport=transport) as client:
            when = datetime.datetime(2025, 1, 15, 10, 30, tzinfo=datetime.timezone.utc)
            inputs = {"big": 2**70, "nested": {"1": [1.5, None, True]},
                      "text": "caf\\u00e9 \\u2603",
                      "day": datetime.date(2025, 1, 15), "when": when}
            execution = await client.runtime.execute("s", "Hi", inputs=inputs)
            out["text"] = execution.text
            out["sent"] = json.loads(transport.requests[-1].content)
            out["ascii_free"] = "\\u00e9".encode() in transport.requests[-1].content
            refused = []
            for bad in (float("nan"), float("inf"), object(), "\\ud800"):
                try:
                    await client.runtime.execute("s", "Hi", inputs={"v": [bad]})
                except amas.InvalidRequestError as exc:
                    refused.append(type(exc).__name__)
            out["refused"] = refused
            out["sent_count"] = len(transport.requests)
        out["orjson"] = "orjson" in sys.modules and sys.modules["orjson"] is not None
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def _run(block_orjson: bool) -> dict[str, object]:
    prelude = "import sys; sys.modules['orjson'] = None\n" if block_orjson else ""
    done = subprocess.run(
        [sys.executable, "-c", prelude + SCENARIO],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_orjson_and_the_standard_library_send_and_refuse_the_same() -> None:
    fast, plain = _run(block_orjson=False), _run(block_orjson=True)
    assert fast["orjson"] is True
    assert plain["orjson"] is False
    for result in (fast, plain):
        assert result["text"] == "h\u00e9"
        assert result["sent"] == {
            "content": "Hi",
            "inputs": {
                "big": 2**70,
                "nested": {"1": [1.5, None, True]},
                "text": "caf\u00e9 \u2603",
                "day": "2025-01-15",  # dates as ISO text (YAML configs hold them)
                "when": "2025-01-15T10:30:00+00:00",
            },
        }
        assert result["ascii_free"] is True  # UTF-8 on the wire, not \\u escapes
        assert result["refused"] == ["InvalidRequestError"] * 4  # NaN, Infinity, object, surrogate
        assert result["sent_count"] == 1  # nothing refused was sent
