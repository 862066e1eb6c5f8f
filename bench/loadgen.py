"""A lean HTTP/1.1 keep-alive client for load generation on the machine under test.

The benchmarks run the crowd in the same 2 cores as the servers they measure, so the client's
own CPU is taken from the servers: httpx spends ~0.5 ms of CPU per request, about what a
whole request costs our web app. This client writes each request as one buffer on a persistent
connection and reads the reply by Content-Length (or chunks), nothing more: JSON in, JSON out,
the same for every system measured. Loopback only.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class HTTPError(Exception):
    """The connection failed or the reply was not HTTP."""


class Client:
    """One simulated user's connection: `await client.request("GET", "/path")` -> (status, body)."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float = 60.0) -> None:
        url = urlsplit(base_url)
        if url.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"{base_url}: load is generated on loopback only")
        self.host, self.port, self.timeout = url.hostname, url.port or 80, timeout
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._head = f"Host: {self.host}:{self.port}\r\n{extra}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send one request (`body` as JSON), return the status and the decoded JSON reply (None if
        empty, the text if not JSON)."""
        payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self._head}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        message = (head + "\r\n").encode() + payload
        for attempt in (0, 1):  # a kept-alive connection the server closed meanwhile: reconnect once
            try:
                if self._writer is None:
                    self._reader, self._writer = await asyncio.wait_for(
                        asyncio.open_connection(self.host, self.port), self.timeout)
                self._writer.write(message)
                return await asyncio.wait_for(self._read_reply(), self.timeout)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, HTTPError) as err:
                await self.close()
                if attempt or isinstance(err, asyncio.TimeoutError):
                    raise HTTPError(f"{method} {path}: {err!r}") from err
        raise AssertionError("unreachable")

    async def _read_reply(self) -> tuple[int, Any]:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise HTTPError(f"not an HTTP reply: {lines[0]!r}")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            data = bytearray()
            while size := int((await self._reader.readuntil(b"\r\n")).strip().split(b";")[0], 16):
                data += await self._reader.readexactly(size + 2)
                del data[-2:]
            await self._reader.readuntil(b"\r\n")
        else:
            data = await self._reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        try:
            return int(parts[1]), json.loads(data) if data else None
        except ValueError:  # an error page, say: the caller judges by the status
            return int(parts[1]), data.decode("utf-8", "replace")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = self._reader = None
