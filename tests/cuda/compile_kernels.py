"""Compile every CUDA kernel of numbann to PTX, for float32 and float64.

Run without the simulator: numba's CUDA compiler types and lowers each
kernel as it would for a GPU (which the simulator, running them as Python,
never does). Needs libNVVM, not a GPU. Exit status 77: libNVVM is missing.
"""
import sys
import types

from numba import cuda
from numba import types as nt
from numba.cuda import dispatcher

from numbann.kernels import cuda as ck
from numbann.kernels import cuda_layers as cl
from numbann.kernels import (cuda_gemm, cuda_optim, cuda_plan, cuda_rnn, cuda_sequence,
                             cuda_step, cuda_train)

TARGET = (9, 0)  # compute capability compiled for

try:
    from numba.cuda.cudadrv import nvvm
    nvvm_found = nvvm.is_available()
except Exception:  # an install without the module: no compiler either
    nvvm_found = False
if not nvvm_found:
    print("libNVVM is not available")
    sys.exit(77)
if not cuda.is_available():  # device functions ask the current device for its compute capability
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=TARGET)

i64, f64, u64 = nt.int64, nt.float64, nt.uint64


def array(dtype, ndim=1):
    return nt.Array(dtype, ndim, "C")


def signatures(dtype):
    """Each kernel with the argument types its host function launches it with."""
    A, F64, I64 = array(dtype), array(f64), array(i64)
    F, MASK = dtype, nt.UniTuple(u64, 2)  # scalars in the dtype; dropout (seed, limit)
    dense_forward, backward_layer, _ = cuda_gemm.gemm_kernels(cuda_gemm.MAIN, dtype.name)
    first_forward, _ = cuda_step.step_kernels(cuda_gemm.MAIN, dtype.name)
    loss_head = ck.loss_kernel(128, dtype.name)
    clip_and_sum_squares = cuda_train.norm_kernel(128, dtype.name)
    forward_product, weight_product, cols_product = cl.conv_products(16, dtype.name)
    forward_channels, backward_channels = cl.norm_kernels(128)
    ints = (i64,) * 9  # m, C, H, W, then the window (and padding) or the output size
    (input_product, recurrent_step, through_time, input_weight_product,
     recurrent_weight_gradient, input_delta_product) = cuda_rnn.rnn_kernels(16, dtype.name)
    return {
        dense_forward: (A, i64, i64, A, i64, i64, A, i64, i64, i64, i64, i64, F, F, MASK),
        first_forward: (A, i64, i64, A, A, I64, i64, A, i64, i64, A, i64, A, i64, i64, i64, i64,
                        i64, F, F, MASK),
        backward_layer: (A, A, i64, i64, A, i64, A, i64, i64, i64, i64, F, F, F, nt.boolean, A,
                         i64, i64, i64, i64, A, i64, F, F, MASK),
        loss_head: (i64, f64, i64, F, A, i64, A, i64, A, i64, A, i64, i64, i64, F64, i64,
                    nt.boolean),
        ck.activate_elements: (i64, F, A, A, i64),
        ck.softmax_rows: (A, i64, A, i64, i64, i64, F, MASK),
        ck.backprop_elements: (i64, F, A, A, A, F, i64),
        ck.softmax_jacobian_rows: (A, i64, A, i64, i64, i64),
        ck.dropout_elements: (A, F, MASK, i64, i64),
        cuda_optim.update_elements: (i64, A, A, array(dtype, 2), nt.UniTuple(dtype, 10),
                                     nt.UniTuple(i64, 5), I64),
        cuda_step.update_kernel(128, dtype.name): (
            i64, A, A, array(dtype, 2), nt.UniTuple(dtype, 10), nt.UniTuple(i64, 5), A, i64, F64,
            i64, F, I64),
        cuda_step.gather_batch: (array(dtype, 2), array(dtype, 2), I64, i64, i64, A, i64, A),
        cuda_train.penalize_weights: (A, A, i64, i64, F, F),
        clip_and_sum_squares: (A, F, A),
        cl.im2col_elements: (A,) + ints + (i64, i64, A),
        cl.col2im_elements: (A,) + ints + (i64, i64, A),
        cl.nchw_to_rows: (A, A, i64, i64, i64),
        forward_product: (A, A, A, A, i64, i64, i64, i64),
        weight_product: (A, A, A, A, i64, i64, i64),
        cols_product: (A, A, A, i64, i64, i64),
        cl.maxpool_elements: (A, A, I64) + ints,
        cl.maxpool_back_elements: (A, I64, A) + ints,
        cl.avgpool_elements: (A, A) + ints + (F,),
        cl.avgpool_back_elements: (A, A) + ints + (F,),
        forward_channels: (A,) * 6 + (i64, i64, i64, i64, I64),
        backward_channels: (A,) * 6 + (nt.boolean, i64, i64, i64, i64),
        cuda_plan.activate_from: (A, A, A, i64, i64, F, F, MASK, i64),
        cuda_plan.finish_delta: (A, A, A, A, i64, i64, F, F, MASK, i64),
        input_product: (A,) * 4 + (i64,) * 4,
        recurrent_step: (A,) * 3 + (i64,) * 7 + (F,),
        through_time: (A,) * 4 + (i64,) * 7 + (F,),
        input_weight_product: (A,) * 4 + (i64,) * 4,
        recurrent_weight_gradient: (A,) * 3 + (i64,) * 5,
        input_delta_product: (A,) * 3 + (i64,) * 4,
        cuda_rnn.output_steps: (A, A) + (i64,) * 4 + (nt.boolean,),
        cuda_sequence.batched_product: (A, i64, i64, i64, A, i64, i64, i64, A) + (i64,) * 7,
        cuda_sequence.layernorm_rows: (A,) * 5 + (i64,) * 2,
        cuda_sequence.layernorm_input_delta: (A,) * 4 + (i64,) * 2,
        cuda_sequence.layernorm_params: (A,) * 4 + (i64,) * 2,
        cuda_sequence.softmax_scores: (A, i64, i64, F, i64),
        cuda_sequence.score_deltas: (A, A, A, i64, i64, F),
        cuda_sequence.add_positions: (A, A, A, i64, i64),
        cuda_sequence.position_gradient: (A, A, i64, i64),
        cuda_sequence.copy_elements: (A, A, i64),
        cuda_sequence.add_elements: (A, A, A, i64),
        cuda_sequence.last_step_elements: (A, A, i64, i64, i64),
        cuda_sequence.last_step_back: (A, A, i64, i64, i64),
    }


def main():
    failures = []
    for dtype in (nt.float32, nt.float64):
        for kernel, args in signatures(dtype).items():
            try:
                cuda.compile_ptx(kernel.py_func, nt.void(*args), cc=TARGET)
            except Exception as error:  # report every kernel that fails, then fail
                failures.append(f"{kernel.py_func.__name__} ({dtype}): {error}")
    print("\n\n".join(failures) or "every kernel compiles")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
