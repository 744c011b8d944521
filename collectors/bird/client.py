"""BIRD's control-socket protocol, spoken directly (no ``birdc`` subprocess per poll).

BIRD (1.6 and 2.x alike) answers on a unix stream socket: a greeting ``0001 BIRD 1.6.8
ready.``, then, per command line we send, a reply made of lines:

* ``DDDD-text``  a line with code ``DDDD`` and more to come,
* `` text``      a continuation line carrying the previous line's code,
* ``DDDD text``  the final line of the reply.

Codes ``0xxx`` end a successful reply, ``1xxx``/``2xxx`` carry data and table headers,
``8xxx`` (runtime) and ``9xxx`` (parse) are errors. A reply is only complete when its
final line has arrived: if BIRD dies mid-reply the socket closes early and we raise
:class:`BirdProtocolError` rather than hand back half a protocol table as if it were the
whole one (a collector would read the missing sessions as gone). Every wait is bounded,
so a wedged BIRD costs one timeout, never a hung collector.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections.abc import Iterable
from types import TracebackType

__all__ = [
    "BirdClient",
    "BirdCommandError",
    "BirdConnectionError",
    "BirdError",
    "BirdProtocolError",
    "BirdTimeout",
    "Reply",
    "ReplyLine",
    "ReplyParser",
    "parse_reply",
]

_LINE = re.compile(r"^(\d{4})([ -])(.*)$", re.DOTALL)
MAX_LINE_BYTES = 1 << 20
"""Longest reply line accepted (BIRD's own lines are short; this guards against garbage)."""


class BirdError(Exception):
    """Anything that went wrong talking to one BIRD (the socket path is in the message)."""


class BirdConnectionError(BirdError):
    """Could not connect, or the connection closed: BIRD not running, node down, wrong path."""


class BirdTimeout(BirdError):
    """BIRD did not answer (connect, greeting or a reply) within the timeout."""


class BirdProtocolError(BirdError):
    """BIRD sent something that is not its line protocol, or a reply was cut off before its final line."""


class BirdCommandError(BirdError):
    """BIRD answered the command with an error code (``8xxx`` runtime, ``9xxx`` syntax)."""

    def __init__(self, command: str, code: int, text: str):
        self.command = command
        self.code = code
        self.text = text
        super().__init__(f"BIRD rejected {command!r}: {code:04d} {text}")


@dataclasses.dataclass(frozen=True)
class ReplyLine:
    code: int
    text: str


@dataclasses.dataclass(frozen=True)
class Reply:
    """A complete reply: every line with its code; ``code`` is the final line's."""

    lines: tuple[ReplyLine, ...]

    @property
    def code(self) -> int:
        return self.lines[-1].code

    @property
    def ok(self) -> bool:
        return self.code < 8000

    @property
    def text(self) -> str:
        """What ``birdc`` would print: the lines' texts, final line included only if it says something."""
        texts = [line.text for line in self.lines[:-1]]
        if self.lines[-1].text.strip():
            texts.append(self.lines[-1].text)
        return "\n".join(texts)


class ReplyParser:
    """Incremental: feed decoded lines (without newline) until :attr:`reply` is set."""

    def __init__(self) -> None:
        self._lines: list[ReplyLine] = []
        self.reply: Reply | None = None

    def feed(self, line: str) -> Reply | None:
        if self.reply is not None:
            raise BirdProtocolError(f"line after the end of the reply: {line!r}")
        match = _LINE.match(line)
        if match:
            code, sep, text = int(match.group(1)), match.group(2), match.group(3)
            self._lines.append(ReplyLine(code, text))
            if sep == " ":
                self.reply = Reply(tuple(self._lines))
            return self.reply
        if line.startswith(" ") and self._lines:
            self._lines.append(ReplyLine(self._lines[-1].code, line[1:]))
            return None
        raise BirdProtocolError(f"not a BIRD reply line: {line!r}")

    @property
    def lines_read(self) -> int:
        return len(self._lines)


def parse_reply(data: str | bytes | Iterable[str]) -> Reply:
    """A whole reply from captured text (e.g. a fixture), greeting excluded; raises if it is incomplete."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    lines = data.splitlines() if isinstance(data, str) else list(data)
    parser = ReplyParser()
    for line in lines:
        if parser.feed(line) is not None:
            return parser.reply  # type: ignore[return-value]
    raise BirdProtocolError(f"reply ended after {parser.lines_read} line(s) without a final line")


class BirdClient:
    """One connection to one BIRD control socket; commands run one at a time (BIRD's CLI is sequential).

    Use as ``async with BirdClient(path) as bird: reply = await bird.command("show protocols all")``.
    After any error the connection is closed (its position in the stream is unknown);
    call :meth:`connect` again to retry.
    """

    def __init__(self, path: str | os.PathLike[str], *, connect_timeout: float = 2.0, read_timeout: float = 5.0):
        self.path = os.fspath(path)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.greeting: str | None = None
        """e.g. ``BIRD 1.6.8 ready.``"""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    @property
    def version(self) -> str | None:
        """``1.6.8`` / ``2.0.12`` from the greeting."""
        if not self.greeting:
            return None
        match = re.match(r"BIRD (\S+)", self.greeting)
        return match.group(1) if match else None

    async def connect(self) -> str:
        """Open the socket and read the greeting; returns it."""
        await self.close()
        try:
            async with asyncio.timeout(self.connect_timeout):
                self._reader, self._writer = await asyncio.open_unix_connection(self.path, limit=MAX_LINE_BYTES)
                reply = await self._read_reply("(greeting)")
        except TimeoutError:
            await self.close()
            raise BirdTimeout(f"{self.path}: no greeting within {self.connect_timeout:g} s") from None
        except (FileNotFoundError, ConnectionRefusedError) as error:
            await self.close()
            raise BirdConnectionError(
                f"{self.path}: cannot connect ({error.strerror}); is BIRD running and is this its control socket (-s)?"
            ) from None
        except OSError as error:
            await self.close()
            raise BirdConnectionError(f"{self.path}: cannot connect ({error.strerror or error})") from None
        except BirdError:
            await self.close()
            raise
        if reply.code >= 1000:
            await self.close()
            raise BirdProtocolError(f"{self.path}: unexpected greeting {reply.code:04d} {reply.lines[-1].text!r}")
        self.greeting = reply.lines[-1].text
        return self.greeting

    async def command(self, command: str, *, check: bool = True) -> Reply:
        """Send one command and return its complete reply.

        Raises :class:`BirdCommandError` for an ``8xxx``/``9xxx`` answer when ``check``
        (the connection stays usable then), and closes the connection on any other error.
        """
        if "\n" in command or "\r" in command:
            raise ValueError("a BIRD command is one line")
        async with self._lock:
            if not self.connected:
                await self.connect()
            assert self._writer is not None
            try:
                async with asyncio.timeout(self.read_timeout):
                    self._writer.write(command.encode() + b"\n")
                    await self._writer.drain()
                    reply = await self._read_reply(command)
            except TimeoutError:
                await self.close()
                raise BirdTimeout(f"{self.path}: no complete reply to {command!r} within {self.read_timeout:g} s") from None
            except OSError as error:
                await self.close()
                raise BirdConnectionError(f"{self.path}: connection lost during {command!r} ({error.strerror or error})") from None
            except BirdError:
                await self.close()
                raise
        if check and not reply.ok:
            raise BirdCommandError(command, reply.code, reply.lines[-1].text)
        return reply

    async def _read_reply(self, command: str) -> Reply:
        assert self._reader is not None
        parser = ReplyParser()
        while True:
            try:
                raw = await self._reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as error:
                what = "before answering" if parser.lines_read == 0 and not error.partial else (
                    f"after {parser.lines_read} line(s), before the final line")
                raise BirdProtocolError(
                    f"{self.path}: BIRD closed the connection {what} of the reply to {command!r}; "
                    "partial reply discarded (did BIRD exit or restart?)"
                ) from None
            except asyncio.LimitOverrunError:
                raise BirdProtocolError(f"{self.path}: reply line longer than {MAX_LINE_BYTES} bytes") from None
            try:
                reply = parser.feed(raw.rstrip(b"\r\n").decode("utf-8", "replace"))
            except BirdProtocolError as error:
                raise BirdProtocolError(f"{self.path}: {error}") from None
            if reply is not None:
                return reply

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:  # pragma: no cover - peer already gone
                pass

    async def __aenter__(self) -> "BirdClient":
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
