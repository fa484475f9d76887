"""The ``SPACE:ENCODING`` MODEL form of ``fitnas estimate`` (``fitnas.modelspec``).

``nb201:'|nor_conv_3x3~0|+|...|'`` reads a NAS-Bench-201 ``cellstr``; every space reads its
JSON encoding, e.g. ``cells:'{"blocks": [[0, 0, "conv3x3", "sep3x3", "add"]]}'``. ``--input``
and ``--classes`` build the space for that input shape and number of classes; without them
each space uses its defaults (1x3x32x32 and 10 classes).
"""

from __future__ import annotations

from ..modelspec import LoadedModel, register_model_source
from ._base import create_space

__all__ = ["load_space_model", "register_model_form"]

_EXAMPLES = {
    "nb201": "nb201:CELLSTR (e.g. nb201:'|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|')",
}


def load_space_model(name: str, text: str, input_shape: tuple[int, ...] | None,
                     classes: int | None) -> LoadedModel:
    """The network of encoding ``text`` of space ``name``."""
    space = create_space(name, input_shape=input_shape, classes=classes)
    enc = space.parse(text)
    return LoadedModel(space.decode(enc), f"{name}:{space.format(enc)}")


def register_model_form(name: str) -> None:
    """Accept ``NAME:ENCODING`` as a MODEL (called by ``register_space``)."""
    example = _EXAMPLES.get(name, f"{name}:JSON (an encoding of the {name!r} search space)")

    def loader(text: str, shape: tuple[int, ...] | None, classes: int | None) -> LoadedModel:
        return load_space_model(name, text, shape, classes)

    register_model_source(name, loader, example)
