"""The control-socket client against scripted unix-socket servers: replies, errors, cut-offs, silence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from planewatch.collectors.bird.client import (
    BirdClient,
    BirdCommandError,
    BirdConnectionError,
    BirdProtocolError,
    BirdTimeout,
    parse_reply,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bird"


async def serve(path: Path, handler: Handler) -> asyncio.AbstractServer:
    return await asyncio.start_unix_server(handler, path=str(path))


def scripted(replies: dict[str, bytes], greeting: bytes = b"0001 BIRD 1.6.8 ready.\n") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await writer.drain()
        while line := await reader.readline():
            reply = replies.get(line.decode().strip(), b"9001 syntax error\n")
            if reply == b"<close>":
                break
            if reply == b"<silence>":
                await asyncio.sleep(3600)
            writer.write(reply)
            await writer.drain()
        writer.close()
    return handler


def test_real_reply_round_trip(tmp_path: Path) -> None:
    raw = (FIXTURES / "bird16_server_established.raw").read_bytes()
    greeting, body = raw.split(b"\n", 1)

    async def scenario() -> None:
        server = await serve(tmp_path / "b.ctl", scripted({"show protocols all": body}, greeting + b"\n"))
        async with server, BirdClient(tmp_path / "b.ctl") as bird:
            assert bird.greeting == "BIRD 1.6.8 ready." and bird.version == "1.6.8"
            reply = await bird.command("show protocols all")
            assert reply.ok and reply.code == 0
            assert reply.text == parse_reply(body).text
            assert reply.text.splitlines()[0].startswith("name     proto")
            assert (reply.lines[0].code, reply.lines[1].code, reply.lines[2].code) == (2002, 1002, 1006)
            assert "   Preference:     100" not in reply.text and "  Preference:     100" in reply.text  # marker space stripped
            # the connection stays usable for the next command
            assert (await bird.command("show protocols all")).text == reply.text
    asyncio.run(scenario())


def test_error_codes_raise_and_keep_the_connection(tmp_path: Path) -> None:
    async def scenario() -> None:
        replies = {"show protocols all nope": b"8003 No protocols match\n", "show status": b"1000-BIRD 2.0.12\n0013 Daemon is up and running\n"}
        server = await serve(tmp_path / "b.ctl", scripted(replies))
        async with server, BirdClient(tmp_path / "b.ctl") as bird:
            with pytest.raises(BirdCommandError) as error:
                await bird.command("show protocols all nope")
            assert (error.value.code, error.value.text) == (8003, "No protocols match")
            with pytest.raises(BirdCommandError, match="9001 syntax error"):
                await bird.command("show foo")
            assert (await bird.command("show foo", check=False)).code == 9001
            assert bird.connected
            assert (await bird.command("show status")).text.startswith("BIRD 2.0.12")
    asyncio.run(scenario())


def test_half_read_reply_is_an_error_not_a_short_table(tmp_path: Path) -> None:
    """BIRD killed mid-reply: the socket closes before the final line; we must not return what we got."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"0001 BIRD 1.6.8 ready.\n")
        await reader.readline()
        writer.write(b"2002-name     proto    table    state  since       info\n1002-Node_10_2_255_1 BGP      master   up     05:55:44    Established   \n1006-  Description:")
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        server = await serve(tmp_path / "b.ctl", handler)
        async with server:
            bird = BirdClient(tmp_path / "b.ctl", read_timeout=5)
            await bird.connect()
            started = time.monotonic()
            with pytest.raises(BirdProtocolError, match="after 2 line"):
                await bird.command("show protocols all")
            assert time.monotonic() - started < 1 and not bird.connected
    asyncio.run(scenario())


def test_closed_before_answer_and_garbage(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = await serve(tmp_path / "b.ctl", scripted({"show status": b"<close>", "show protocols": b"hello world\n"}))
        async with server:
            bird = BirdClient(tmp_path / "b.ctl")
            with pytest.raises(BirdProtocolError, match="before answering"):
                await bird.command("show status")  # connects on demand
            with pytest.raises(BirdProtocolError, match="not a BIRD reply line"):
                await bird.command("show protocols")
    asyncio.run(scenario())


def test_timeouts_never_hang(tmp_path: Path) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    async def scenario() -> None:
        mute = await serve(tmp_path / "mute.ctl", silent)
        slow = await serve(tmp_path / "slow.ctl", scripted({"show protocols all": b"<silence>"}))
        async with mute, slow:
            started = time.monotonic()
            with pytest.raises(BirdTimeout, match="no greeting"):
                await BirdClient(tmp_path / "mute.ctl", connect_timeout=0.2).connect()
            bird = BirdClient(tmp_path / "slow.ctl", read_timeout=0.2)
            with pytest.raises(BirdTimeout, match="no complete reply"):
                await bird.command("show protocols all")
            assert not bird.connected
            assert time.monotonic() - started < 2
    asyncio.run(scenario())


def test_missing_or_stale_socket(tmp_path: Path) -> None:
    async def scenario() -> None:
        with pytest.raises(BirdConnectionError, match="is BIRD running"):
            await BirdClient(tmp_path / "absent.ctl").connect()
        server = await serve(tmp_path / "stale.ctl", scripted({}))
        server.close()  # the file stays, nobody listens: what a crashed BIRD leaves behind
        await server.wait_closed()
        with pytest.raises(BirdConnectionError, match="refused"):
            await BirdClient(tmp_path / "stale.ctl").connect()
    asyncio.run(scenario())


def test_parse_reply_rejects_incomplete_capture() -> None:
    with pytest.raises(BirdProtocolError, match="without a final line"):
        parse_reply("1000-BIRD 1.6.8\n1011-Router ID is 10.2.0.11\n")
    with pytest.raises(ValueError):
        asyncio.run(BirdClient("/nonexistent").command("show status\nshow status"))
