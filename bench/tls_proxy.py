"""A TLS terminator in front of the sandbox: python-github-backup only speaks
`https://HOST/api/v3`, the sandbox speaks plain HTTP. Standard library only.

Usage: tls_proxy.py --cert CERT --key KEY --listen PORT --target HOST:PORT
Prints the listening port on its first line, then serves until killed.
"""

import argparse
import asyncio
import os
import ssl
import subprocess
import sys


def make_certificates(work):
    """A throwaway CA and a server certificate for 127.0.0.1 that it signs (rustls refuses
    a self-signed CA certificate used as the server's own). Returns (ca, cert, key) paths;
    clients trust `ca` (SSL_CERT_FILE, REQUESTS_CA_BUNDLE)."""
    ca, ca_key = os.path.join(work, "ca.pem"), os.path.join(work, "ca-key.pem")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    csr, ext = os.path.join(work, "cert.csr"), os.path.join(work, "cert.ext")
    with open(ext, "w") as fh:
        fh.write("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for cmd in (
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=backtrack throwaway CA", "-keyout", ca_key, "-out", ca],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", key, "-out", csr],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-days", "2", "-extfile", ext, "-out", cert],
    ):
        subprocess.run(cmd, check=True, capture_output=True)
    return ca, cert, key


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # the peer may be gone already
            pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--listen", type=int, default=0)
    ap.add_argument("--target", required=True)
    args = ap.parse_args()
    host, port = args.target.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", args.listen, ssl=ctx)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
