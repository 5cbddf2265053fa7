"""Tables that fit the terminal: a table when it fits, else the same cells stacked per row.

Rich squeezes a table wider than the console by cutting headers and cells to ``inst…``; a
stacked row (``first cell`` then ``column: value`` lines) keeps every word at any width.
"""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text


def print_table(console: Console, table: Table, lead: int = 0) -> None:
    """Print ``table`` when its narrowest layout fits ``console``, else print it stacked with
    column ``lead`` as each row's heading."""
    if narrowest_width(table) <= console.width:
        for column in table.columns:
            column.overflow = "fold"  # a squeezed cell wraps rather than ending in "…"
        console.print(table)
        return
    for line in stacked(table, lead):
        console.print(line)


def narrowest_width(table: Table) -> int:
    """The width below which rich would cut words: every column as wide as its longest word,
    plus padding and borders."""
    width = 1
    for column in table.columns:
        words = [_text(column.header).plain, *(_text(cell).plain for cell in column.cells)]
        longest = max((len(word) for text in words for word in text.split()), default=0)
        width += longest + 3
    return width


def stacked(table: Table, lead: int = 0) -> list[RenderableType]:
    """The rows of ``table`` as a heading line (column ``lead``) and indented ``header: value``."""
    lines: list[RenderableType] = []
    if table.title:
        lines.append(_text(table.title))
    columns = table.columns
    cells = [list(column.cells) for column in columns]
    for index in range(table.row_count):
        lines.append(_text(cells[lead][index]))
        for number, column in enumerate(columns):
            if number == lead:
                continue
            entry = Text("  ")
            entry.append(_text(column.header))
            entry.append(": ")
            entry.append(_text(cells[number][index]))
            lines.append(entry)
    return lines


def _text(value: object) -> Text:
    """A cell as Text: markup strings are rendered, Text kept, anything else as its str."""
    if isinstance(value, Text):
        return value
    if isinstance(value, str):
        return Text.from_markup(value)
    return Text(str(value))
