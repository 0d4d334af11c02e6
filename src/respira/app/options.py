"""The pages' options, light to import (the commands' parsers read them): where a page is served
(``respira app``'s and ``respira label``'s) and ``respira label``'s own."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import SWITCH, flag, option


@dataclass(kw_only=True)
class ServeOptions:
    """Where a page is served: ``respira app``'s and ``respira label``'s options."""

    host: str = flag(
        "127.0.0.1",
        "address to listen on (default 127.0.0.1, this machine only; any other address serves the page to "
        "the network and needs the token printed in the URL)",
    )
    port: int = flag(7860, "port to listen on (default 7860; 0: a free one)")
    allowed_host: str | None = flag(
        None,
        "more host names the page may be reached by, comma-separated (default: localhost, 127.0.0.1, ::1 "
        "and --host; for 0.0.0.0 or ::, this machine's addresses); e.g. the machine's name when --host is "
        "0.0.0.0",
    )


@dataclass(kw_only=True)
class LabelOptions(ServeOptions):
    """``respira label``'s options (``MODEL`` and ``ARCHIVE`` are positional)."""

    labels: str | None = flag(
        None,
        "the labels file to fill (default: ARCHIVE/labels.csv); its file cells are relative to its folder",
    )
    port: int = flag(7861, "port to listen on (default 7861; 0: a free one)")
    onnx: bool = flag(False, "run the model's model.onnx with onnxruntime instead of torch", **SWITCH)
    device: str | None = option("device")
