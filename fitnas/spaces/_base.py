"""The search-space interface and its registry (DESIGN.md, "One way to extend").

A :class:`SearchSpace` knows, for one input shape and number of classes, a set of encodings:

* ``sample(seed)`` draws one from a seeded generator;
* ``decode(enc)`` turns it into an :class:`~fitnas.arch.ArchGraph` of catalogue ops only;
* ``mutations(enc)``, ``grow(enc)``, ``trim(enc)`` list *all* neighbours of a move kind;
* ``to_tokens(enc)`` / ``from_tokens(tokens)`` give the integer sequence an RNN controller reads
  (paper 000 section 3.2, paper 003's REINFORCE policy), over ``vocab_size`` symbols;
* ``next_tokens(prefix)`` is the space's grammar over those sequences: the tokens allowed after
  a prefix and whether the sequence may end there, so that a policy emitting one allowed token
  at a time (and stopping only where it may) always writes the tokens of a valid encoding
  (``sample_tokens`` walks it at random). The grammar covers the sampled encodings: every
  ``to_tokens(sample(...))`` is a sentence of it;
* ``to_data(enc)`` / ``from_data(data)`` and ``to_json`` / ``from_json`` round-trip through JSON.

Encodings are nested tuples of ints and strings: plain data, hashable and comparable, and
``json.dumps`` writes them as lists. ``from_data`` accepts the lists back, checks every field
and returns the canonical tuple form, so ``from_json(to_json(e)) == e``. A bad encoding raises
:class:`InvalidEncoding` (or :class:`FailValidArch`, paper 002 Algorithm I, when the
architecture it describes cannot run, e.g. a feature map below 1x1), naming what is wrong.
"""

from __future__ import annotations

import inspect
import json
import random
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

from ..arch import ArchGraph
from ..errors import FitnasError
from ..jsonio import loads

__all__ = [
    "Encoding",
    "FailValidArch",
    "InvalidEncoding",
    "NextTokens",
    "SearchSpace",
    "SpaceError",
    "create_space",
    "list_spaces",
    "make_rng",
    "register_space",
    "space_class",
    "space_options",
    "step_along",
]

#: An encoding: nested tuples of ints and strings (JSON-able, hashable).
Encoding = Any


class NextTokens(NamedTuple):
    """What a space's grammar allows after a prefix: the next ``tokens`` (ascending) and
    whether the sequence may stop there (``can_end``)."""

    tokens: tuple[int, ...]
    can_end: bool


class SpaceError(FitnasError):
    """A search space was asked for something it cannot give (unknown name, bad argument)."""


class InvalidEncoding(SpaceError):
    """An encoding is malformed: wrong structure, a value out of range, an unknown op."""


class FailValidArch(InvalidEncoding):
    """The encoding is well formed but its network cannot run (paper 002 Algorithm I's
    ``FailValidArch``), e.g. a feature map would shrink below 1x1."""


_FINGERPRINTS_KEPT = 65536


def make_rng(seed: int | random.Random | None) -> random.Random:
    """A ``random.Random`` from a seed (``None`` means seed 0: sampling is always reproducible)."""
    if isinstance(seed, random.Random):
        return seed
    return random.Random(0 if seed is None else seed)


def _pick(options: Sequence[Encoding], rng: random.Random, empty: str) -> Encoding:
    if not options:
        raise InvalidEncoding(empty)
    return options[rng.randrange(len(options))]


def step_along(values: Sequence[Any], current: Any, direction: int, what: str) -> Any:
    """The value next to ``current`` in the ordered ``values`` (cheapest first), one step in
    ``direction`` (+1 or -1); :class:`InvalidEncoding` past either end."""
    if direction not in (1, -1):
        raise InvalidEncoding(f"a coordinate step goes +1 or -1, got {direction!r}")
    k = list(values).index(current) + direction
    if not 0 <= k < len(values):
        raise InvalidEncoding(f"{what} is already at its {'largest' if direction > 0 else 'smallest'} "
                              f"value {current!r}")
    return values[k]


def check_shape(shape: Sequence[int] | None, default: tuple[int, ...]) -> tuple[int, ...]:
    """A batch-first image shape ``(N, C, H, W)`` of positive ints (``default`` when ``None``)."""
    if shape is None:
        return default
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise SpaceError(f"input_shape must be 4 positive ints (N, C, H, W), got {shape!r}"
                         ) from None
    if len(dims) != 4 or min(dims) < 1:
        raise SpaceError(f"input_shape must be 4 positive ints (N, C, H, W), e.g. 1x3x32x32, "
                         f"got {'x'.join(map(str, dims))}")
    return dims


#: The most channels (or hidden units) a space's options may ask for in one layer.
MAX_CHANNELS = 2**20
#: The most cells a cell-based space's options may stack.
MAX_CELLS = 1000


def check_int(value: Any, what: str, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; :class:`SpaceError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpaceError(f"{what} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"in {low}..{high}"
        raise SpaceError(f"{what} must be {bound}, got {value}")
    return value


class SearchSpace(ABC):
    """A set of architectures for one input shape and number of classes.

    Args:
        input_shape: batch-first ``(N, C, H, W)``; default :attr:`default_input`.
        classes: outputs of the classifier; default :attr:`default_classes`.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    default_input: ClassVar[tuple[int, ...]] = (1, 3, 32, 32)
    default_classes: ClassVar[int] = 10

    def __init__(self, input_shape: Sequence[int] | None = None, classes: int | None = None):
        self.input_shape = check_shape(input_shape, self.default_input)
        self.classes = check_int(self.default_classes if classes is None else classes,
                                 "classes", 1)
        self._graphs: OrderedDict[Any, ArchGraph] = OrderedDict()
        self._fingerprints: OrderedDict[Any, str] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_graphs"] = OrderedDict()  # the caches stay behind (graphs are cheap to remake)
        state["_fingerprints"] = OrderedDict()
        return state

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this space with :func:`create_space`."""
        return {"input_shape": list(self.input_shape), "classes": self.classes}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------- essentials
    @abstractmethod
    def sample(self, seed: int | random.Random | None = None) -> Encoding:
        """One encoding drawn at random (same seed, same encoding)."""

    @abstractmethod
    def from_data(self, data: Any) -> Encoding:
        """The canonical encoding of JSON data (lists accepted); :class:`InvalidEncoding` if bad."""

    @abstractmethod
    def to_data(self, enc: Encoding) -> Any:
        """JSON-able plain data of an encoding (``from_data`` reads it back)."""

    @abstractmethod
    def decode(self, enc: Encoding) -> ArchGraph:
        """The network of an encoding, as an :class:`ArchGraph` on :attr:`input_shape`."""

    @abstractmethod
    def mutations(self, enc: Encoding) -> list[Encoding]:
        """Every encoding one mutation away (distinct, valid, without ``enc`` itself)."""

    def grow(self, enc: Encoding) -> list[Encoding]:
        """Every 'augment' neighbour (a larger network); none by default."""
        return []

    def trim(self, enc: Encoding) -> list[Encoding]:
        """Every 'trim' neighbour (a smaller network); none by default."""
        return []

    def grow_roots(self) -> list[Encoding]:
        """The smallest networks a progressive search grows from with :meth:`grow` (DPP-Net's
        1-layer cells, paper 003 section 4.1); :class:`SpaceError` where the space has none."""
        raise SpaceError(f"the {self.name} space has no smallest networks to grow from")

    # ------------------------------------- coordinate descent (paper 002, Algorithm II)
    def coordinates(self, enc: Encoding) -> list[Any]:
        """The coordinates a layer move may step along (Algorithm II's ``(L_i, key)``); a
        space without an ordered parameter has none."""
        return []

    def step(self, enc: Encoding, coordinate: Any, direction: int) -> Encoding:
        """One step along ``coordinate``: ``direction`` +1 increases the value (Algorithm II's
        ``alpha = 1.5`` for numbers, the next costlier choice for an ordered list of ops), -1
        decreases it (``alpha = 0.66``); :class:`InvalidEncoding` when it leaves the space."""
        raise InvalidEncoding(f"the {self.name} space has no coordinate {coordinate!r}")

    def add_layer(self, enc: Encoding, rng: random.Random) -> Encoding:
        """Algorithm II's meta move ``AddLayer``: here a random 'grow' neighbour;
        :class:`InvalidEncoding` when there is none."""
        return _pick(self.grow(enc), rng, f"the {self.name} network cannot grow further")

    def remove_layer(self, enc: Encoding, rng: random.Random) -> Encoding:
        """Algorithm II's meta move ``RemoveLayer``: here a random 'trim' neighbour."""
        return _pick(self.trim(enc), rng, f"nothing of the {self.name} network can be removed")

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of distinct tokens: every token is in ``range(vocab_size)``."""

    @abstractmethod
    def to_tokens(self, enc: Encoding) -> list[int]:
        """The token sequence of an encoding."""

    @abstractmethod
    def from_tokens(self, tokens: Sequence[int]) -> Encoding:
        """The encoding of a token sequence; :class:`InvalidEncoding` if it is not one."""

    def next_tokens(self, prefix: Sequence[int]) -> NextTokens:
        """The grammar: the tokens allowed after ``prefix`` and whether it may end there.
        Raises :class:`InvalidEncoding` when ``prefix`` itself leaves the grammar (naming the
        position and the tokens that were allowed there)."""
        raise SpaceError(f"the {self.name} space has no token grammar yet")

    def sample_tokens(self, seed: int | random.Random | None = None, end_weight: float = 1.0,
                      max_length: int = 100_000) -> list[int]:
        """A random walk over the grammar: at each step one of the allowed tokens, or the end
        (where allowed) with ``end_weight`` times a token's chance; always a sentence, so
        ``from_tokens`` of it is a valid encoding."""
        rng = make_rng(seed)
        tokens: list[int] = []
        while len(tokens) < max_length:
            allowed, can_end = self.next_tokens(tokens)
            if can_end and (not allowed or rng.random() < end_weight / (end_weight + len(allowed))):
                return tokens
            if not allowed:
                raise SpaceError(f"the {self.name} grammar is stuck after {tokens}: no token "
                                 "is allowed and the sequence may not end")
            tokens.append(rng.choice(allowed))
        raise SpaceError(f"a walk over the {self.name} grammar ran past {max_length} tokens")

    def _walk(self, state: Any, prefix: Sequence[int]) -> NextTokens:
        """Feed ``prefix`` to a grammar ``state`` (an object with ``allowed()``, ``take(token)``
        and ``can_end()``), refusing the first token it does not allow."""
        for position, token in enumerate(self._check_tokens(prefix)):
            allowed = state.allowed()
            if token not in allowed:
                raise self._refuse(position, token, allowed)
            state.take(token)
        return NextTokens(state.allowed(), state.can_end())

    def _refuse(self, position: int, token: int, allowed: Sequence[int]) -> InvalidEncoding:
        shown = ", ".join(map(str, allowed[:12])) + (", ..." if len(allowed) > 12 else "")
        return InvalidEncoding(f"{self.name} token {token} at position {position} is not allowed "
                               f"there; allowed: {shown or 'none (the sequence is complete)'}")

    # ---------------------------------------------------------- conveniences
    def validate(self, enc: Encoding) -> Encoding:
        """The canonical form of ``enc``; raises when it is invalid."""
        return self.from_data(enc)

    def to_json(self, enc: Encoding) -> str:
        return json.dumps(self.to_data(enc), separators=(",", ":"))

    def from_json(self, text: str) -> Encoding:
        data = loads(text, f"the {self.name} encoding {text[:60]!r}", InvalidEncoding)
        return self.from_data(data)

    def parse(self, text: str) -> Encoding:
        """An encoding from text a user typed (the JSON form; spaces may accept more)."""
        return self.from_json(text)

    def format(self, enc: Encoding) -> str:
        """The text form :meth:`parse` reads."""
        return self.to_json(enc)

    def graph(self, enc: Encoding) -> ArchGraph:
        """:meth:`decode` with a small cache of the latest graphs (a search decodes the same
        candidate for its fingerprint, its constraint check and its evaluation)."""
        cache = self._graphs
        try:
            cache.move_to_end(enc)
            return cache[enc]
        except (KeyError, TypeError):  # not cached, or an unhashable (list) form
            pass
        graph = self.decode(enc)
        try:
            cache[enc] = graph
        except TypeError:
            return graph
        while len(cache) > 32:
            cache.popitem(last=False)
        return graph

    def fingerprint(self, enc: Encoding) -> str:
        """The de-duplication key of the decoded network (:meth:`ArchGraph.fingerprint`).

        The last 65,536 fingerprints are kept by encoding: a local search asks for those of
        the same neighbours again and again, and each would otherwise cost a decode."""
        cache = self._fingerprints
        try:
            found = cache.get(enc)
        except TypeError:  # an unhashable (list) form
            return self.graph(enc).fingerprint()
        if found is not None:
            cache.move_to_end(enc)
            return found
        found = cache[enc] = self.graph(enc).fingerprint()
        if len(cache) > _FINGERPRINTS_KEPT:
            cache.popitem(last=False)
        return found

    def is_valid(self, enc: Encoding) -> bool:
        """Whether ``enc`` decodes (a well-formed encoding of a runnable network)."""
        try:
            self.decode(self.validate(enc))
        except InvalidEncoding:
            return False
        return True

    def _check_tokens(self, tokens: Sequence[int]) -> list[int]:
        out = []
        for t in tokens:
            if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < self.vocab_size:
                raise InvalidEncoding(f"{self.name} token {t!r} is not in 0..{self.vocab_size - 1}")
            out.append(t)
        return out


_REGISTRY: dict[str, type[SearchSpace]] = {}


def register_space(cls: type[SearchSpace]) -> type[SearchSpace]:
    """Class decorator: add a space to the registry under ``cls.name`` (``fitnas estimate``
    then reads ``NAME:ENCODING`` too, through ``fitnas.modelspec``)."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"search space {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def list_spaces() -> list[str]:
    """Names of the registered search spaces, sorted."""
    return sorted(_REGISTRY)


def space_class(name: str) -> type[SearchSpace]:
    """The class of a registered space; an unknown name lists the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpaceError(f"unknown search space {name!r}; known: {', '.join(list_spaces())}"
                         ) from None


def space_options(name: str) -> list[str]:
    """The keyword arguments of space ``name`` (its constructor's), ``input_shape`` and
    ``classes`` included."""
    params = inspect.signature(space_class(name).__init__).parameters
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p for p, param in params.items() if p != "self" and param.kind in kinds]


def create_space(name: str, **kwargs: Any) -> SearchSpace:
    """A space by name, with keyword arguments (see each space's class); an unknown keyword
    raises :class:`SpaceError` listing the accepted ones."""
    cls = space_class(name)
    accepted = space_options(name)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise SpaceError(f"search space {name!r} has no option {unknown[0]!r}; accepted: "
                         f"{', '.join(accepted)}")
    try:
        return cls(**kwargs)
    except SpaceError as err:
        raise type(err)(f"search space {name!r}: {err}") from None
    except (TypeError, ValueError, OverflowError) as err:
        raise SpaceError(f"bad arguments for search space {name!r}: {err}") from None
