"""MJPEG over HTTP without decoding what no window uses: a multipart reader, and JPEG decoding at the size needed.

IP cameras serve MJPEG as one HTTP response of `multipart/x-mixed-replace` parts, a JPEG file each. OpenCV's FFmpeg
reader decodes every part at full size; `MjpegReader` hands out each part's bytes instead, so the camera's reader
thread decodes only the frames a window samples (darkedge.infer.window.WindowGrid), and `decode_jpeg` decodes
those at the smallest scale libjpeg offers (1/2, 1/4, 1/8, by dropping DCT coefficients: far cheaper than decoding
whole and resizing) whose height still covers the model's resize: the frame is then resized and cropped as before.

One HTTP path for both readers, the blocking `MjpegReader` (a thread per camera) and the selector of
darkedge.infer.mjpeg_hub (one thread for all): the same `request` bytes, and the same parsers without I/O of their
own fed with the bytes as they arrive: `ResponseHead` (status and headers), then `MjpegBody` (a chunked body's
framing taken off by `Dechunker`, then the parts cut by `PartParser`).
"""

from __future__ import annotations

import base64
import socket
import ssl
import urllib.parse
from collections import deque

import cv2
import numpy as np

from darkedge.names import MIB

REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
MAX_HEADER_LINES = 32  # a part's headers; more is not an MJPEG stream
MAX_PART_BYTES = 32 * MIB
# bytes before a boundary line (or in a part's headers) beyond which it is no MJPEG stream
MAX_PREAMBLE = 4096
MAX_HEAD_BYTES = 16 * 1024  # an HTTP response's status line and headers
JPEG_START = b"\xff\xd8"  # SOI: a part that does not start so is no JPEG, and the stream no camera's
# at most this much of a blocking camera's stream a read takes (what has arrived, not more)
READ_BYTES = 65536


class NotMjpeg(Exception):
    """The URL answered, but not with a multipart stream of JPEG parts (OpenCV's reader is tried instead)."""


def request(parts: urllib.parse.SplitResult) -> bytes:
    """The GET a camera's URL asks for: its path and query, its host, and Basic credentials when the URL carries a
    user name (http://user:pass@host/...). The one request both readers send."""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}", "Accept: */*"]
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        lines.append("Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class ResponseHead:
    """An HTTP response's status line and headers, from its bytes as they arrive (no I/O of its own: the blocking
    MjpegReader and the selector of darkedge.infer.mjpeg_hub feed it alike). `feed` returns the body's first bytes
    once the head is whole, None until then; raises ValueError for bytes that are no HTTP response."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.status, self.reason = 0, ""
        self.headers: dict[str, str] = {}

    def feed(self, data: bytes) -> bytes | None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise ValueError("no end to the HTTP response's headers")
            return None
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or not status[0].startswith("HTTP/") or not status[1].isdigit():
            raise ValueError("not an HTTP response")
        self.status, self.reason = int(status[1]), status[2] if len(status) > 2 else ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        return bytes(self.buffer[end + 4 :])

    def body(self) -> MjpegBody:
        """The parser of this response's body. OSError for a status other than 200 (a camera still booting, 503,
        or one that wants a login, 401: tried again later), NotMjpeg for a 200 that is not multipart."""
        if self.status != 200:
            raise OSError(f"HTTP {self.status} {self.reason}".rstrip())
        kind = self.headers.get("content-type", "")
        if not kind.lower().startswith("multipart/"):
            raise NotMjpeg(f"HTTP 200, {kind or 'no content type'}")
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        return MjpegBody(boundary_marker(kind), chunked)


class MjpegBody:
    """An MJPEG response's body from its bytes as they arrive: `feed` returns the JPEG parts completed so far
    (taking a chunked transfer's framing off first); `ended` once the stream said it is over."""

    def __init__(self, boundary: bytes, chunked: bool = False):
        self.parts = PartParser(boundary)
        self.chunks = Dechunker() if chunked else None

    @property
    def ended(self) -> bool:
        return self.parts.ended or (self.chunks is not None and self.chunks.ended)

    def feed(self, data: bytes) -> list[bytes]:
        return self.parts.feed(data if self.chunks is None else self.chunks.feed(data))


class Dechunker:
    """The data of a chunked HTTP body (a size line in hex, that many bytes, CRLF; again; a size of 0 ends it)
    from its bytes as they arrive. Raises ValueError where the framing breaks."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.due = 0  # bytes of the current chunk's data not yet seen
        self.crlf = False  # the CRLF after a chunk's data is next
        self.ended = False

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        out = bytearray()
        while not self.ended:
            if self.due:
                taken = self.buffer[: self.due]
                out += taken
                del self.buffer[: len(taken)]
                self.due -= len(taken)
                if self.due:
                    break
                self.crlf = True
            if self.crlf:
                if len(self.buffer) < 2:
                    break
                if self.buffer[:2] != b"\r\n":
                    raise ValueError("a chunk without its CRLF")
                del self.buffer[:2]
                self.crlf = False
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                if len(self.buffer) > MAX_PREAMBLE:
                    raise ValueError("a chunk size line without an end")
                break
            size = bytes(self.buffer[:line_end]).split(b";")[0].strip()
            del self.buffer[: line_end + 2]
            try:
                self.due = int(size, 16)
            except ValueError:
                raise ValueError(f"a chunk size {size[:16]!r}") from None
            self.ended = self.due == 0
        return bytes(out)


class MjpegReader:
    """One connection to an MJPEG-over-HTTP(S) URL; `read` gives the next part's JPEG bytes, None when the stream
    ends or breaks. Raises OSError when the server cannot be reached or refuses, NotMjpeg when it is not MJPEG."""

    def __init__(self, url: str, timeout: float):
        parts = urllib.parse.urlsplit(url)
        https = parts.scheme == "https"
        self.sock: socket.socket | None = None
        try:
            self.sock = socket.create_connection(
                (parts.hostname, parts.port or (443 if https else 80)), timeout
            )
            if https:
                self.sock = ssl.create_default_context().wrap_socket(
                    self.sock, server_hostname=parts.hostname
                )
            self.sock.sendall(request(parts))
            head, rest = ResponseHead(), None
            while rest is None:
                data = self.sock.recv(READ_BYTES)
                if not data:
                    raise OSError("the connection closed before the response's headers")
                rest = head.feed(data)
            self.body = head.body()
        except ValueError as e:
            self.release()
            raise OSError(str(e)) from None
        except BaseException:
            self.release()
            raise
        self.parts: deque[bytes] = deque()  # parts a chunk completed beyond the one handed out
        self._rest = rest  # the body's bytes that came with the head

    def read(self) -> bytes | None:
        try:
            while not self.parts:
                if self.body.ended:
                    return None
                chunk, self._rest = self._rest or self.sock.recv(READ_BYTES), b""
                if not chunk:
                    return None
                self.parts.extend(self.body.feed(chunk))
            return self.parts.popleft()
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self.sock is not None:
            self.sock.close()


def boundary_marker(content_type: str) -> bytes:
    """The line that starts every part (`--` + the boundary) of a multipart response with this Content-Type."""
    boundary = next((p.split("=", 1)[1].strip('"') for p in content_type.split(";") if "boundary=" in p), "")
    return b"--" + boundary.encode().removeprefix(b"--")


class PartParser:
    """The parts of a multipart stream from its bytes as they arrive, in chunks of any size: `feed` returns the
    JPEG parts completed so far (a boundary line, headers, then Content-Length bytes, or bytes up to the next
    boundary line). No I/O of its own: the blocking MjpegReader and the selector of darkedge.infer.mjpeg_hub feed it
    alike. Raises ValueError where a camera's stream cannot go on: a part that is no JPEG, no framing it can
    follow; `ended` once the closing boundary came."""

    def __init__(self, boundary: bytes):
        self.boundary = boundary
        self.buffer = bytearray()
        self.ended = False
        self._scanned = 0  # a part without a length: how far its bytes were searched for the next boundary

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        parts = []
        while not self.ended:
            part = self._part()
            if part is None:
                break
            parts.append(part)
        return parts

    def _part(self) -> bytes | None:
        """The next whole part, removed from the buffer; None until its last byte has arrived."""
        buffer, boundary = self.buffer, self.boundary
        at = buffer.find(boundary)
        if at < 0 or at > MAX_PREAMBLE:  # the CRLF ending the previous part, or preamble, then the boundary
            if at > MAX_PREAMBLE or len(buffer) > MAX_PREAMBLE + len(boundary):
                raise ValueError("no multipart boundary where one was due")
            return None
        line_end = buffer.find(b"\n", at)
        if line_end < 0:
            return None
        if buffer[at:line_end].rstrip().endswith(b"--"):  # the closing boundary: the stream is over
            self.ended = True
            return None
        length, start = None, line_end + 1
        for _ in range(MAX_HEADER_LINES + 1):
            end = buffer.find(b"\n", start)
            if end < 0:
                if len(buffer) - start > MAX_PREAMBLE:
                    raise ValueError("part headers without an end")
                return None
            header, start = buffer[start : end + 1], end + 1
            if header in (b"\r\n", b"\n"):
                break
            if header[:15].lower() == b"content-length:":
                length = int(header[15:])
        else:
            raise ValueError("more part headers than an MJPEG stream has")
        if length is None:  # no length given: the part runs to the next boundary line
            end = buffer.find(b"\r\n" + boundary, max(start, self._scanned))
            if end < 0:
                if len(buffer) - start > MAX_PART_BYTES:
                    raise ValueError("a part larger than any frame")
                self._scanned = max(start, len(buffer) - len(boundary) - 2)  # the next search starts there
                return None
            part, rest = bytes(buffer[start:end]), end + 2
        else:
            if length > MAX_PART_BYTES:
                raise ValueError(f"a part of {length} bytes")
            if len(buffer) - start < length:
                return None
            part, rest = bytes(buffer[start : start + length]), start + length
        del buffer[:rest]
        self._scanned = 0
        if not part.startswith(JPEG_START):
            raise ValueError("a part that is no JPEG")
        return part


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from a JPEG's frame header (SOF marker), without decoding; None if there is none."""
    i, end = 2, len(data) - 9
    while i < end:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return int.from_bytes(data[i + 5 : i + 7], "big"), int.from_bytes(data[i + 7 : i + 9], "big")
        if marker == 0xFF:
            i += 1
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def reduction(height: int, needed: int) -> int:
    """The largest of 1, 2, 4, 8 that decodes a frame `height` px high to at least `needed` px."""
    for factor in (8, 4, 2):
        if height // factor >= needed:
            return factor
    return 1


def decode_jpeg(data: bytes, needed: int | None = None) -> np.ndarray | None:
    """A JPEG as BGR uint8, at the smallest libjpeg scale at least `needed` px high (None: full size); None when
    the bytes are not a JPEG that decodes."""
    size = jpeg_size(data) if needed else None
    factor = reduction(size[0], needed) if size else 1
    buffer = np.frombuffer(data, np.uint8)
    image = cv2.imdecode(buffer, REDUCED[factor] if factor > 1 else cv2.IMREAD_COLOR)
    if (
        image is not None and needed and image.shape[0] < needed and factor > 1
    ):  # the header lied: decode whole
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    return image
