"""HLO analysis: parse an HloModuleProto, cost its ops, draw the graph around one.

Pure functions only (bytes in, dataclasses/dicts out): no Flask, no store I/O.
`proto/` holds our own subset of XLA's protos (regenerate with gen_protos.sh).
"""

from xdiag.analysis.hlo.cost import (
    CATEGORIES,
    CATEGORY_LABELS,
    CostTotals,
    ModuleCost,
    OpCost,
    categorize,
    categorize_instruction,
    instruction_cost,
    module_cost,
)
from xdiag.analysis.hlo.graph import neighborhood, to_dot
from xdiag.analysis.hlo.module import (
    Computation,
    HloModule,
    Instruction,
    Shape,
    format_module,
    parse_module,
)

__all__ = [
    "CATEGORIES",
    "CATEGORY_LABELS",
    "Computation",
    "CostTotals",
    "HloModule",
    "Instruction",
    "ModuleCost",
    "OpCost",
    "Shape",
    "categorize",
    "categorize_instruction",
    "format_module",
    "instruction_cost",
    "module_cost",
    "neighborhood",
    "parse_module",
    "to_dot",
]
