"""One embedding pass spread over the processes of a launch: each embeds its share, every one gets the table.

Under ``accelerate launch`` (or ``torchrun``) every process builds the same trainer, so without sharing
each would embed the whole split for its own copy of the cache. A :class:`ProcessShare` gives process
``i`` of ``n`` one contiguous block of the pass's rows (as accelerate's ``split_between_processes``
splits a list: the first ``rows % n`` processes take one row more), and the blocks are gathered with
accelerate's ``gather_object``, in process order, so every process ends with the whole table in the
rows' order, as one process would have embedded it. Each pass is noted
(:class:`~respira.run_record.EmbeddingPass`: the split, its rows, the rows each process embedded) for
the run record.

The cache lives in memory: a resumed run, or one whose process was killed (the launcher then stops the
others), embeds again from the start, and the views are drawn from ``(seed, view, cycle)`` whichever
process draws them, so the table does not depend on the number of processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ...run_record import EmbeddingPass

if TYPE_CHECKING:
    from ..recipe.arguments import RespiraTrainingArguments

__all__ = ["ProcessShare"]

T = TypeVar("T")


def _gather_with_accelerate(part: Any) -> list[Any]:
    from accelerate.utils import gather_object

    return list(gather_object([part]))


class ProcessShare:
    """Process ``index`` of ``count``; ``gather(part)`` returns every process's part, in process order
    (a collective: every process calls it, with the same passes in the same order). :attr:`passes`: the
    passes made so far."""

    def __init__(
        self, index: int = 0, count: int = 1, gather: Callable[[Any], list[Any]] | None = None
    ) -> None:
        if not 0 <= index < count:
            raise ValueError(f"process {index} of {count} does not exist")
        self.index, self.count = index, count
        self._gather = gather if gather is not None else (lambda part: [part])
        self.passes: list[EmbeddingPass] = []

    @classmethod
    def of_training(cls, args: RespiraTrainingArguments) -> ProcessShare:
        """The share of this process in the launch ``args`` trains under (one process: all of it)."""
        count = args.world_size
        return cls(args.process_index, count, _gather_with_accelerate if count > 1 else None)

    def rows(self, total: int) -> range:
        """This process's block of ``range(total)``."""
        size, extras = divmod(total, self.count)
        start = self.index * size + min(self.index, extras)
        return range(start, start + size + (1 if self.index < extras else 0))

    def run(self, split: str, total: int, embed: Callable[[range], tuple[T, int]]) -> list[T]:
        """Every process's ``embed(rows)`` of a pass over ``total`` rows, in process order; ``embed``
        returns its part and how many rows it ran the encoder on (rows a store answered do not count)."""
        part, embedded = embed(self.rows(total))
        gathered = self._gather((part, embedded))
        self.passes.append(EmbeddingPass(split, total, [count for _, count in gathered]))
        return [part for part, _ in gathered]

    def describe(self) -> str:
        """How a pass is shared, for its progress line ("" for one process)."""
        return f", process {self.index + 1} of {self.count} embedding its share" if self.count > 1 else ""
