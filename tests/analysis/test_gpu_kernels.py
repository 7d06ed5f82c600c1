"""gpu_kernels.align: kernels of one command-buffer run placed on the entry schedule."""

from xdiag.analysis.gpu_kernels import COPY, LIBRARY, OTHER, SORT, TRITON, Schedule, align, family

SCHED = Schedule(
    names=["copy.3", "loop_add_fusion.1", "loop_add_fusion.2", "custom-call.7",
           "wrapped_convert.4", "pallas_call.2", "fusion.9", "loop_add_fusion.5",
           "custom-call.8", "input_reduce_fusion"],
    kinds=[COPY, OTHER, OTHER, LIBRARY, OTHER, TRITON, SORT, OTHER, LIBRARY, OTHER],
    triton=["", "", "", "", "", "gmm", "", "", "", ""],
    aliases=[frozenset(), frozenset(), frozenset(), frozenset(), frozenset(), frozenset(),
             frozenset({"sort"}), frozenset(), frozenset(), frozenset()])

RUN = ["memcpy32_post", "loop_add_fusion_1", "loop_add_fusion_1", "Memset 0",
       "nvjet_sm90_tst_128x128_NNT", "wrapped_convert", "gmm__1", "memcpy128", "sort_12_1",
       "sort_12_2", "loop_add_fusion_1", "nvjet_sm90_tss_64x64_TNT", "input_reduce_fusion"]


def test_family_drops_trailing_numbers() -> None:
    assert family("wrapped_convert.11") == family("wrapped_convert_11") == "wrapped_convert"
    assert family("sort_33_1") == family("sort.33") == "sort"


def test_a_run_follows_the_schedule() -> None:
    """Shared kernels (identical fusions) by place, a library call's memset and GEMM,
    a Pallas variant, a sort's copy and passes, the copy before the first named kernel."""
    assert align(RUN, SCHED) == [0, 1, 2, 3, 3, 4, 5, 6, 6, 6, 7, 8, 9]


def test_runs_start_where_the_previous_left_the_schedule() -> None:
    tail = ["loop_add_fusion_1", "nvjet_x", "input_reduce_fusion"]
    assert align(tail, SCHED) == [1, 3, 9]
    assert align(tail, SCHED, lo=7) == [7, 8, 9]


def test_a_kernel_that_fits_nothing_is_left_out_and_the_rest_placed() -> None:
    run = ["loop_add_fusion_1", "mystery", "loop_add_fusion_2", "Memset 0", "nvjet_a"]
    assert align(run, SCHED) == [1, -1, 2, 3, 3]
    assert align(["mystery"], SCHED) == [-1]
