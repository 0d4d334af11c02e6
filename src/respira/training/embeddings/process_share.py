"""One embedding pass spread over the processes of a launch: each embeds one contiguous block of rows (as
accelerate's ``split_between_processes``), every one gets the whole table."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ...run_record import EmbeddingPass

if TYPE_CHECKING:
    from ..recipe.arguments import RespiraTrainingArguments

__all__ = ["ProcessShare"]

T = TypeVar("T")


class ProcessShare:
    """Process ``index`` of ``count``."""

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
        """This process's share in the launch ``args`` trains under."""
        from accelerate.utils import gather_object

        count = args.world_size
        return cls(
            args.process_index, count, (lambda part: list(gather_object([part]))) if count > 1 else None
        )

    def rows(self, total: int) -> range:
        """This process's block of ``range(total)``."""
        size, extras = divmod(total, self.count)
        start = self.index * size + min(self.index, extras)
        return range(start, start + size + (1 if self.index < extras else 0))

    def run(self, split: str, total: int, embed: Callable[[range], tuple[T, int]]) -> list[T]:
        """Every process's ``embed(rows)`` of a pass over ``total`` rows, in process order."""
        part, embedded = embed(self.rows(total))
        gathered = self._gather((part, embedded))
        self.passes.append(EmbeddingPass(split, total, [count for _, count in gathered]))
        return [part for part, _ in gathered]

    def describe(self) -> str:
        """How a pass is shared, for its progress line ("" for one process)."""
        return f", process {self.index + 1} of {self.count} embedding its share" if self.count > 1 else ""
