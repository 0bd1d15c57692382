"""Test-suite rules that hold for every test module."""

from __future__ import annotations

import pytest


#: Tests that take seconds (memory budgets over many blocks, every thread count, figures, README help):
#: the slow suite runs them, the fast loop (`pytest -m "not slow"`) leaves them out. By function name,
#: so a test keeps its mark when it moves to another module.
SLOW_TESTS = frozenset({
    "test_a_matrix_saved_in_another_type_is_scored_within_the_memory_budget",
    "test_bad_zarr_input_is_one_error_line_naming_it",
    "test_blockwise_matrix_equals_one_shot",
    "test_cdist_metrics_match_long_double_over_the_whole_range",
    "test_cli_inspect_a_million_dimensions_and_fortran_order",
    "test_cli_max_input_size_lets_the_same_file_through_when_larger",
    "test_compiled_kernels_match_scipy",
    "test_connect_unreachable_scheduler_is_an_input_error_naming_it",
    "test_cosine_is_within_minus_one_and_one_and_one_on_itself",
    "test_distances_are_nonnegative_and_exactly_zero_on_identical_rows",
    "test_evaluate_plot_writes_a_png",
    "test_evaluation_figure_any_scores_give_proper_histograms_and_a_drawable_roc",
    "test_help_has_an_examples_section_with_siamcli_command_lines",
    "test_inspect_a_million_dimensions_reads_a_bounded_sample",
    "test_inspect_every_output_format",
    "test_inspect_plot_writes_a_png",
    "test_installed_executable_reports_errors_in_one_line",
    "test_kernel_overall_limit_matches_long_double_over_the_whole_range",
    "test_kernel_topk_matches_long_double_over_the_whole_range",
    "test_loose_threshold_keeps_topk_within_the_memory_budget",
    "test_matrix_output_naming_an_input_is_refused_before_loading_and_the_input_is_intact",
    "test_operands_made_on_two_threads_give_the_scores_of_one_thread",
    "test_overall_limit_between_two_sets_matches_brute_force",
    "test_overall_limit_on_self_lists_each_unordered_pair_once",
    "test_paired_matches_the_diagonal_of_cdist",
    "test_pipe_to_head_prints_no_broken_pipe",
    "test_plot_format_follows_the_suffix",
    "test_plot_same_inputs_give_the_same_bytes",
    "test_plots_never_load_pyplot",
    "test_product_scores_are_the_same_to_the_last_bit_for_any_thread_count_and_budget",
    "test_rankings_stay_within_the_memory_budget",
    "test_readme_example_sessions_print_what_the_readme_shows",
    "test_screened_topk_finds_planted_duplicates_in_every_block_and_ties_them_by_index",
    "test_screened_topk_of_many_tiles_with_any_thread_count_equals_brute_force",
    "test_screened_topk_with_threshold_and_self_equals_brute_force",
    "test_self_comparison_excludes_self_by_index_not_by_score",
    "test_square_roots_of_many_tiles_fill_a_given_output_and_keep_near_duplicates_exact",
    "test_unreachable_scheduler_exits_2_naming_the_address",
    "test_verification_report_properties",
})


def pytest_collection_modifyitems(config, items):
    """Runs of the installed `siamcli` executable (the `entry` parameter "executable") start a new
    Python process each, so they belong to the slow suite; their CliRunner twins stay in the fast loop.
    So do the tests named in SLOW_TESTS."""
    slow = pytest.mark.slow
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("entry") == "executable":
            item.add_marker(slow)
        elif getattr(item, "originalname", item.name) in SLOW_TESTS:
            item.add_marker(slow)
