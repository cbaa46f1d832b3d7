"""A TCP relay: the one door from the stack's address to SeaweedFS's S3 gateway.

Why it exists: ``weed mini`` has a single ``-ip.bind`` for everything it runs, and on any
address other hosts reach, the master, volume and filer HTTP ports and every gRPC port
answer with no credential (the filer alone lets anyone read, write and delete every
object; the S3 gateway's gRPC port accepts ``PutIdentity``, i.e. new S3 keys). ``weed
server -s3.ip.bind`` moves S3 but takes its gRPC port along. So ``palette stack up
--bind ADDR`` keeps the whole of SeaweedFS on 127.0.0.1 and runs this relay on
``ADDR:<s3 port>``: byte for byte to the gateway, which checks every request's SigV4
signature itself (the ``Host`` header the client signed arrives unchanged).

Run as ``python -m infra.relay LISTEN_HOST:PORT TARGET_HOST:PORT``; prints ``ready``
once listening (what ``palette stack up`` waits for), stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

CHUNK = 1 << 16


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until EOF, then half-close: the other direction may go on."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def _serve_one(
    target: tuple[str, int], client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
) -> None:
    """One client connection: open its twin to the target and copy both ways."""
    try:
        upstream_r, upstream_w = await asyncio.open_connection(*target)
    except OSError:
        client_w.close()
        return
    try:
        await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))
    finally:
        for writer in (client_w, upstream_w):
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def relay(listen: tuple[str, int], target: tuple[str, int]) -> None:
    """Serve until cancelled (SIGTERM/SIGINT end it cleanly)."""
    server = await asyncio.start_server(
        lambda r, w: _serve_one(target, r, w), listen[0], listen[1], reuse_address=True
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"relay {listen[0]}:{listen[1]} -> {target[0]}:{target[1]} ready", flush=True)
    async with server:
        await stop.wait()


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` as (host, port); a clear error names what was wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"want HOST:PORT, got {text!r}")
    return host, int(port)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m infra.relay LISTEN_HOST:PORT TARGET_HOST:PORT", file=sys.stderr)
        return 2
    try:
        listen, target = parse_address(argv[0]), parse_address(argv[1])
    except ValueError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    asyncio.run(relay(listen, target))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
