"""Text from the guest reaches the host's terminal without its control characters."""

import io

from devbox.host.terminal import Printable, printable


def test_controls_are_shown_and_text_is_kept():
    assert printable("RuntimeError: \x1b]0;owned\x07 é\ttab\nnext \x9b2J \x7f") == \
        "RuntimeError: \\x1b]0;owned\\x07 é\ttab\nnext \\x9b2J \\x7f"


def test_a_terminals_line_ends_split_across_writes_stay_line_ends():
    out = io.StringIO()
    stream = Printable(out)
    for chunk in ("one\r", "\ntwo\r\nthree \r", "over"):
        stream.write(chunk)
    assert out.getvalue() == "one\ntwo\nthree \\x0dover"
