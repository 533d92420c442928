"""Turn the rows of a forward pass into a table tree, in time linear in the number of rows.

torchinfo scans every descendant of every row (quadratic on deep models); here each value that
needs the subtree of a row (its extent, leftover params, leaf mult-adds) comes from one pass.
"""

from __future__ import annotations

from collections.abc import Callable

from summarytool.capture.registry import Placement
from summarytool.records import LayerInfo, scan_leftover


def insert_missing_ancestors(
    rows: list[LayerInfo], make_row: Callable[[Placement], LayerInfo]
) -> list[LayerInfo]:
    """Add rows for containers that never ran but hold rows that did.

    ModuleList/ModuleDict have no forward, and a Sequential can be iterated instead of
    called; their children's rows still belong under them. `open_path[d]` is the module of
    the row shown last at depth d (deeper entries are dropped when a shallower row shows),
    so a row whose structural parent is open needs nothing, and otherwise the missing
    ancestors are found by walking up to the first open one.
    """
    out: list[LayerInfo] = []
    open_path: list[int] = []
    made: dict[int, list[LayerInfo]] = {}
    for row in rows:
        place: Placement | None = getattr(row, "_placement", None)
        depth = row.depth
        if place is not None and depth > 1:
            missing = []
            anc = place.parent
            while anc is not None and anc.depth > 0:
                if anc.depth < len(open_path) and open_path[anc.depth] == id(anc.module):
                    break
                missing.append(anc)
                anc = anc.parent
            for anc in reversed(missing):
                made.setdefault(id(anc), []).append(made_row := make_row(anc))
                out.append(made_row)
                del open_path[anc.depth :]
                while len(open_path) < anc.depth:
                    open_path.append(0)
                open_path.append(id(anc.module))
        out.append(row)
        del open_path[depth:]
        while len(open_path) < depth:
            open_path.append(0)
        open_path.append(id(row.module))
    # One container inserted again between other calls (torchinfo's #327 case): torchinfo inserts
    # the same row object each time, so all its copies are (recursive) and show the last index.
    for copies in made.values():
        if len(copies) > 1:
            for made_row in copies:
                made_row.is_recursive = True
                made_row._index_twin = copies[-1]
            copies[0].first_of_repeats = True
    return out


def link_rows(rows: list[LayerInfo], mark_recursive: bool = False) -> None:
    """Set depth indices, subtree extents, leftover params and leaf mult-adds of every row.

    With `mark_recursive`, also mark repeats (in the same pass): a row is a repeat when its
    module, or every parameter it owns directly, was already shown.
    """
    seen_modules: set[int] = set()
    seen_params: set[int] = set()
    counters: dict[int, int] = {}
    covered: list[int] = [0] * len(rows)
    covered_trainable: list[int] = [0] * len(rows)
    # Whether a recursive row lies below: only then does torchinfo's rule need a scan of the subtree.
    recursive_below: list[bool] = [False] * len(rows)
    leaf_macs: list[int] = [0] * len(rows)
    stack: list[int] = []

    def close(i: int, end: int) -> None:
        row = rows[i]
        row._subtree_end = end
        if recursive_below[i]:
            below = rows[i + 1 : end]
            row._leftover = scan_leftover(row.num_params, below, "num_params")
            row._leftover_trainable = scan_leftover(row.trainable_params, below, "trainable_params")
        else:
            row._leftover = row.num_params - covered[i]
            row._leftover_trainable = row.trainable_params - covered_trainable[i]
        row._leaf_macs = leaf_macs[i]
        if stack:
            parent = stack[-1]
            recursive_below[parent] = recursive_below[parent] or recursive_below[i] or row.is_recursive
            if not row.is_recursive:
                covered[parent] += row.num_params if row.is_leaf_layer else row._leftover
                covered_trainable[parent] += (
                    row.trainable_params if row.is_leaf_layer else row._leftover_trainable
                )
            covered[parent] += covered[i]
            covered_trainable[parent] += covered_trainable[i]
            leaf_macs[parent] += leaf_macs[i] + (row.macs if row.is_leaf_layer else 0)

    for i, row in enumerate(rows):
        if mark_recursive:
            params = row.module._parameters
            direct = [id(p) for p in params.values() if p is not None] if params else ()
            if row.layer_id in seen_modules or (direct and all(p in seen_params for p in direct)):
                row.is_recursive = True
            seen_modules.add(row.layer_id)
            if direct:
                seen_params.update(direct)
        counters[row.depth] = counters.get(row.depth, 0) + 1
        row.depth_index = counters[row.depth]
        row._rows = rows
        row._index = i
        while stack and rows[stack[-1]].depth >= row.depth:
            close(stack.pop(), i)
        stack.append(i)
    while stack:
        close(stack.pop(), len(rows))
    for row in rows:
        if row._index_twin is not None:
            row.depth_index = row._index_twin.depth_index
