"""Machine-level helpers numba lacks, as LLVM intrinsics (compiled once, cached with the kernels).

- ``cycle_counter()``: the CPU time-stamp counter, to time each query inside compiled code (a Python
  round trip per query would add more overhead than a fast query takes). ``ticks_per_ns`` calibrates it.
- ``prefetch(array, i)``: hint the CPU to fetch ``array[i]`` into cache ahead of use.
- ``f16_raw(bits)``: an IEEE half stored as uint16 widened to float32 *scaled by 2**-112*: the half's bits
  shifted into a float32's place. It is exact for finite non-negative halves (subnormals included), costs a
  shift, and the scale folds into the query (multiply query weights by ``F16_SCALE`` once).
- ``dot_avx2(q_dense, fwd, lo, hi)``: the forward-index dot product eight entries at a time with the AVX2
  gather instruction (numba does not vectorise a gather-reduce loop by itself); ``HAVE_AVX2`` says whether
  the CPU runs it. numba's cache is keyed by CPU features, so a cached kernel never reaches a CPU without.
- ``simd_path()``: the search kernels' ``path`` argument, whose *type* picks AVX2 or scalar code (below).
- ``dot8_avx2(q_dense, comps, codes, lo, hi, minimum, step)``: the same for an 8-bit forward index (uint16
  component ids, uint8 codes on a per-document affine scale).
"""

from __future__ import annotations

import os
import time

import numpy as np
from llvmlite import binding as llvm_binding
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

F16_SCALE = np.float32(2.0 ** 112)  # f16_raw(bits) * F16_SCALE == float32(half value)


def _host_has_avx2() -> bool:
    if os.environ.get("NUMBA_CPU_NAME", "host") != "host":
        return False
    try:
        return bool(llvm_binding.get_host_cpu_features().get("avx2"))
    except Exception:  # noqa: BLE001 - no feature report: take the portable path
        return False


HAVE_AVX2 = _host_has_avx2()

# The search kernels take the dot-product path as an argument whose *type* selects the code: numba's cache
# keys compiled code by argument types (and CPU), not by the globals read while compiling, so a choice made
# from a global (as before) let a SIMD build cached by one process reach a process run with LILSR_NO_SIMD=1.
SIMD = np.uint8(1)
SCALAR = np.int8(0)


def simd_path():
    """``SIMD`` when the CPU has AVX2 and ``LILSR_NO_SIMD`` is unset (read at each call), else ``SCALAR``."""
    return SIMD if HAVE_AVX2 and not os.environ.get("LILSR_NO_SIMD") else SCALAR


def is_simd(path_type) -> bool:
    """At compile time: does a ``path`` argument of this numba type ask for the AVX2 code?"""
    return HAVE_AVX2 and path_type == types.uint8


@intrinsic
def cycle_counter(typingctx):
    def codegen(context, builder, signature, args):
        fn_type = ir.FunctionType(ir.IntType(64), [])
        fn = cgutils.get_or_insert_function(builder.module, fn_type, "llvm.readcyclecounter")
        return builder.call(fn, [])

    return types.int64(), codegen


@intrinsic
def prefetch(typingctx, array, index):
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        array_type, _ = signature.args
        arr = context.make_array(array_type)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, array_type, arr, [args[1]], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn_type = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fn_type, "llvm.prefetch.p0i8")
        # read access, high temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@intrinsic
def f16_raw(typingctx, bits):
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth < 32:
            value = builder.zext(value, ir.IntType(32))
        elif bits.bitwidth > 32:
            value = builder.trunc(value, ir.IntType(32))
        return builder.bitcast(builder.shl(value, ir.IntType(32)(13)), ir.FloatType())

    return types.float32(bits), codegen


@njit(cache=True)
def _read_counter():
    return cycle_counter()


def ticks_per_ns(sleep_s: float = 0.02) -> float:
    """Time-stamp-counter ticks per nanosecond, measured against ``perf_counter_ns``."""
    _read_counter()  # compile (or load from cache) first, outside the measured interval
    t0, c0 = time.perf_counter_ns(), _read_counter()
    time.sleep(sleep_s)
    t1, c1 = time.perf_counter_ns(), _read_counter()
    return (c1 - c0) / max(t1 - t0, 1)


@intrinsic
def dot_avx2(typingctx, q_dense, fwd, lo, hi):
    """sum over j in [lo, hi) of q_dense[component(fwd[j])] * f16_raw(bits(fwd[j])), for uint32 words
    (16-bit component, float16 bits above): eight lanes per step (AVX2 gather), lanes summed in a fixed
    order, then the remainder one by one."""
    if not (isinstance(fwd, types.Array) and fwd.dtype == types.uint32 and isinstance(q_dense, types.Array)
            and q_dense.dtype == types.float32):
        return None

    def codegen(context, builder, signature, args):
        q_type, f_type, lo_type, hi_type = signature.args
        q = context.make_array(q_type)(context, builder, args[0])
        f = context.make_array(f_type)(context, builder, args[1])
        lo = context.cast(builder, args[2], lo_type, types.int64)
        hi = context.cast(builder, args[3], hi_type, types.int64)
        f32, i32, i64, i8 = ir.FloatType(), ir.IntType(32), ir.IntType(64), ir.IntType(8)
        v8f, v8i = ir.VectorType(f32, 8), ir.VectorType(i32, 8)

        def splat(scalar_type, value):
            return ir.Constant(ir.VectorType(scalar_type, 8), [ir.Constant(scalar_type, value)] * 8)

        gather = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v8f, [v8f, i8.as_pointer(), v8i, v8f, i8]),
                                                "llvm.x86.avx2.gather.d.ps.256")
        base = builder.bitcast(q.data, i8.as_pointer())
        every_lane = builder.bitcast(splat(i32, -1), v8f)
        zero = splat(f32, 0.0)
        acc = cgutils.alloca_once_value(builder, zero)
        stop = builder.add(lo, builder.and_(builder.sub(hi, lo), ir.Constant(i64, ~7)))
        with cgutils.for_range_slice(builder, lo, stop, ir.Constant(i64, 8)) as (j, _):
            words = builder.load(builder.bitcast(builder.gep(f.data, [j]), v8i.as_pointer()), align=4)
            comps = builder.and_(words, splat(i32, 0xFFFF))
            # (word >> 16) << 13: the float16 bits in a float32's place (see f16_raw)
            weights = builder.bitcast(builder.and_(builder.lshr(words, splat(i32, 3)), splat(i32, 0x1FFFE000)), v8f)
            query = builder.call(gather, [zero, base, comps, every_lane, ir.Constant(i8, 4)])
            builder.store(builder.fadd(builder.load(acc), builder.fmul(query, weights)), acc)
        lanes_vec = builder.load(acc)
        lane = [builder.extract_element(lanes_vec, ir.Constant(i32, i)) for i in range(8)]
        total = builder.fadd(builder.fadd(builder.fadd(lane[0], lane[4]), builder.fadd(lane[2], lane[6])),
                             builder.fadd(builder.fadd(lane[1], lane[5]), builder.fadd(lane[3], lane[7])))
        rest = cgutils.alloca_once_value(builder, ir.Constant(f32, 0.0))
        with cgutils.for_range_slice(builder, stop, hi, ir.Constant(i64, 1)) as (j, _):
            word = builder.load(builder.gep(f.data, [j]))
            comp = builder.zext(builder.and_(word, ir.Constant(i32, 0xFFFF)), i64)
            weight = builder.bitcast(builder.and_(builder.lshr(word, ir.Constant(i32, 3)),
                                                  ir.Constant(i32, 0x1FFFE000)), f32)
            builder.store(builder.fadd(builder.load(rest), builder.fmul(builder.load(builder.gep(q.data, [comp])),
                                                                        weight)), rest)
        return builder.fadd(total, builder.load(rest))

    return types.float32(q_dense, fwd, lo, hi), codegen


@intrinsic
def dot8_avx2(typingctx, q_dense, comps, codes, lo, hi, minimum, step):
    """An 8-bit forward-index row scored against the dense query, eight entries at a time (AVX2 gather):
    minimum * sum(q[comp]) + step * sum(q[comp] * code) over j in [lo, hi), for uint16 component ids and
    uint8 codes; lanes summed in a fixed order, then the remainder one by one."""
    if not (isinstance(comps, types.Array) and comps.dtype == types.uint16 and isinstance(codes, types.Array)
            and codes.dtype == types.uint8 and isinstance(q_dense, types.Array) and q_dense.dtype == types.float32):
        return None

    def codegen(context, builder, signature, args):
        q_type, c_type, b_type, lo_type, hi_type, min_type, step_type = signature.args
        q = context.make_array(q_type)(context, builder, args[0])
        c = context.make_array(c_type)(context, builder, args[1])
        b = context.make_array(b_type)(context, builder, args[2])
        lo = context.cast(builder, args[3], lo_type, types.int64)
        hi = context.cast(builder, args[4], hi_type, types.int64)
        minimum = context.cast(builder, args[5], min_type, types.float32)
        step = context.cast(builder, args[6], step_type, types.float32)
        f32, i32, i64, i16, i8 = ir.FloatType(), ir.IntType(32), ir.IntType(64), ir.IntType(16), ir.IntType(8)
        v8f, v8i = ir.VectorType(f32, 8), ir.VectorType(i32, 8)
        zero = ir.Constant(v8f, [ir.Constant(f32, 0.0)] * 8)
        gather = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v8f, [v8f, i8.as_pointer(), v8i, v8f, i8]),
                                                "llvm.x86.avx2.gather.d.ps.256")
        base = builder.bitcast(q.data, i8.as_pointer())
        every_lane = builder.bitcast(ir.Constant(v8i, [ir.Constant(i32, -1)] * 8), v8f)
        acc_q = cgutils.alloca_once_value(builder, zero)
        acc_c = cgutils.alloca_once_value(builder, zero)
        stop = builder.add(lo, builder.and_(builder.sub(hi, lo), ir.Constant(i64, ~7)))
        with cgutils.for_range_slice(builder, lo, stop, ir.Constant(i64, 8)) as (j, _):
            ids = builder.load(builder.bitcast(builder.gep(c.data, [j]), ir.VectorType(i16, 8).as_pointer()), align=2)
            query = builder.call(gather, [zero, base, builder.zext(ids, v8i), every_lane, ir.Constant(i8, 4)])
            raw = builder.load(builder.bitcast(builder.gep(b.data, [j]), ir.VectorType(i8, 8).as_pointer()), align=1)
            weights = builder.uitofp(raw, v8f)
            builder.store(builder.fadd(builder.load(acc_q), query), acc_q)
            builder.store(builder.fadd(builder.load(acc_c), builder.fmul(query, weights)), acc_c)

        def lanes(vector):
            lane = [builder.extract_element(vector, ir.Constant(i32, i)) for i in range(8)]
            return builder.fadd(builder.fadd(builder.fadd(lane[0], lane[4]), builder.fadd(lane[2], lane[6])),
                                builder.fadd(builder.fadd(lane[1], lane[5]), builder.fadd(lane[3], lane[7])))

        rest_q = cgutils.alloca_once_value(builder, lanes(builder.load(acc_q)))
        rest_c = cgutils.alloca_once_value(builder, lanes(builder.load(acc_c)))
        with cgutils.for_range_slice(builder, stop, hi, ir.Constant(i64, 1)) as (j, _):
            comp = builder.zext(builder.load(builder.gep(c.data, [j])), i64)
            value = builder.load(builder.gep(q.data, [comp]))
            code = builder.uitofp(builder.load(builder.gep(b.data, [j])), f32)
            builder.store(builder.fadd(builder.load(rest_q), value), rest_q)
            builder.store(builder.fadd(builder.load(rest_c), builder.fmul(value, code)), rest_c)
        return builder.fadd(builder.fmul(minimum, builder.load(rest_q)), builder.fmul(step, builder.load(rest_c)))

    return types.float32(q_dense, comps, codes, lo, hi, minimum, step), codegen
