"""A tiny PDF reader for the print-file tests: objects through the xref table, streams inflated."""

from __future__ import annotations

import re
import zlib


class PdfFile:
    def __init__(self, data: bytes):
        assert data.startswith(b"%PDF-1.6\n") and data.endswith(b"%%EOF\n")
        self.data = data
        xref_at = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))
        head = re.match(rb"xref\n0 (\d+)\n", data[xref_at:])
        count = int(head.group(1))
        table = data[xref_at + head.end() : xref_at + head.end() + 20 * count]
        self.objects: dict[int, bytes] = {}
        self.streams: dict[int, bytes] = {}
        for number in range(1, count):
            offset = int(table[20 * number : 20 * number + 10])
            match = re.match(rb"(\d+) 0 obj\n", data[offset:])
            assert match and int(match.group(1)) == number, f"xref entry {number} points at the wrong place"
            body = data[offset + match.end() :]
            stream = re.match(rb"(<<(?:(?!endobj).)*?>>)\nstream\n", body, re.S)
            if stream:
                length = int(re.search(rb"/Length (\d+)", stream.group(1)).group(1))
                raw = body[stream.end() : stream.end() + length]
                assert body[stream.end() + length :].startswith(b"\nendstream\nendobj")
                self.objects[number] = stream.group(1)
                self.streams[number] = zlib.decompress(raw) if b"/FlateDecode" in stream.group(1) else raw
            else:
                self.objects[number] = body[: body.index(b"\nendobj")]
        self.trailer = data[data.rindex(b"trailer") :]

    def find(self, pattern: bytes) -> list[int]:
        return [n for n, body in self.objects.items() if re.search(pattern, body)]

    def page_contents(self) -> list[bytes]:
        pages = self.find(rb"/Type /Page ")
        return [self.streams[int(re.search(rb"/Contents (\d+) 0 R", self.objects[p]).group(1))] for p in pages]


def literal_strings(content: bytes) -> list[bytes]:
    return split_strings(content)[0]


def split_strings(content: bytes) -> tuple[list[bytes], bytes]:
    """Literal string operands of a content stream, unescaped (PDF 32000 7.3.4.2), and the rest."""
    out, rest, i = [], bytearray(), 0
    while i < len(content):
        if content[i : i + 1] != b"(":
            rest += content[i : i + 1]
            i += 1
            continue
        rest += b"<string>"
        depth, i, buf = 1, i + 1, bytearray()
        while depth:
            ch = content[i : i + 1]
            if ch == b"\\":
                nxt = content[i + 1 : i + 2]
                octal = re.match(rb"[0-7]{1,3}", content[i + 1 : i + 4])
                if octal:
                    buf.append(int(octal.group(0), 8))
                    i += 1 + len(octal.group(0))
                    continue
                buf += {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(nxt, nxt)
                i += 2
                continue
            depth += {b"(": 1, b")": -1}.get(ch, 0)
            if depth:
                buf += ch
            i += 1
        out.append(bytes(buf))
    return out, bytes(rest)
