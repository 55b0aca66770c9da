"""A cache hint for compiled loops: ``prefetch(rows, r, offset)`` asks the core to start
loading the line at byte ``offset`` of row ``r`` of a 2-D array, for writing, so that a loop
can ask for the rows it will need a few steps before it needs them. numba has no such call;
this is LLVM's own ``llvm.prefetch``. A hint only: it never faults, and results do not
change."""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_I32 = ir.IntType(32)
WRITE = 1
KEEP_NEAR = 3  # locality: keep in every level of cache
DATA = 1


@intrinsic
def prefetch(typingctx: Any, rows: Any, row: Any, offset: Any) -> Any:
    signature = types.void(rows, row, offset)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        array = context.make_array(sig.args[0])(context, builder, args[0])
        strides = cgutils.unpack_tuple(builder, array.strides, sig.args[0].ndim)
        r = context.cast(builder, args[1], sig.args[1], types.intp)
        extra = context.cast(builder, args[2], sig.args[2], types.intp)
        start = builder.ptrtoint(array.data, cgutils.intp_t)
        address = builder.add(start, builder.add(builder.mul(r, strides[0]), extra))
        pointer = builder.inttoptr(address, ir.IntType(8).as_pointer())
        kind = ir.FunctionType(ir.VoidType(), [pointer.type, _I32, _I32, _I32])
        # The name for an i8* argument; LLVM 14 (numba 0.59) and LLVM 22 both take it.
        hint = cgutils.get_or_insert_function(builder.module, kind, "llvm.prefetch.p0i8")
        builder.call(hint, [pointer, ir.Constant(_I32, WRITE), ir.Constant(_I32, KEEP_NEAR),
                            ir.Constant(_I32, DATA)])  # fmt: skip
        return context.get_dummy_value()

    return signature, codegen
