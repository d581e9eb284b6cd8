"""Text from the guest, made safe for the host's terminal.

What the app prints, logs or raises reaches the developer's terminal through
fab; a control character in it (an escape sequence in an exception's message,
say) could retitle, recolour or rewrite that terminal. Tab and newline pass;
every other C0 and C1 control is shown as ``\\xNN``.
"""

from __future__ import annotations

CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if code not in (0x09, 0x0A)}


def printable(text: str) -> str:
    return text.replace("\r\n", "\n").translate(CONTROLS)


class Printable:
    """A stream for Fabric's ``out_stream``: what it is given goes on to ``stream``,
    printable. (A terminal's line ends, \\r\\n, may arrive split across writes.)"""

    def __init__(self, stream):
        self.stream, self.held = stream, ""

    def write(self, text: str) -> None:
        text, self.held = self.held + text, ""
        if text.endswith("\r"):
            text, self.held = text[:-1], "\r"
        self.stream.write(printable(text))

    def flush(self) -> None:
        self.stream.flush()
