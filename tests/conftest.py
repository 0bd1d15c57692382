"""Test-suite rules that hold for every test module."""

from __future__ import annotations

import pytest


#: Tests that take seconds (memory budgets over many blocks, every thread count, figures, README help):
#: the slow suite runs them, the fast loop (`pytest -m "not slow"`) leaves them out. By function name,
#: so a test keeps its mark when it moves to another module.
SLOW_TESTS = frozenset({
    "test_a_matrix_saved_in_another_type_is_scored_within_the_memory_budget",
    "test_bad_input_fails_before_any_cluster_starts",
    "test_bad_zarr_input_is_one_error_line_naming_it",
    "test_blockwise_matrix_equals_one_shot",
    "test_bootstrap_draws_as_a_plain_pair_bootstrap_does",
    "test_cdist_metrics_match_long_double_over_the_whole_range",
    "test_cli_inspect_a_million_dimensions_and_fortran_order",
    "test_cli_max_input_size_lets_the_same_file_through_when_larger",
    "test_compiled_kernels_match_scipy",
    "test_connect_unreachable_scheduler_is_an_input_error_naming_it",
    "test_cosine_is_within_minus_one_and_one_and_one_on_itself",
    "test_delong_variance_agrees_with_a_bootstrap_on_the_digits",
    "test_diff_neighbours_and_jaccard_equal_brute_force_with_ties",
    "test_diff_products_read_in_chunks_give_the_figures_of_one_piece",
    "test_distances_are_nonnegative_and_exactly_zero_on_identical_rows",
    "test_dollar_signs_in_names_are_shown_as_written_not_as_math",
    "test_drift_report_is_an_html_page_with_the_verdict",
    "test_evaluate_copies_with_classes_score_every_pair_and_retrieval_by_brute_force",
    "test_evaluate_metric_all_is_ranked_by_auc_and_skips_what_does_not_apply",
    "test_evaluate_plot_writes_a_png",
    "test_evaluation_figure_all_scores_equal_is_the_chance_line",
    "test_evaluation_figure_any_scores_give_proper_histograms_and_a_drawable_roc",
    "test_evaluation_figure_draws_the_best_six_curves_by_auc_and_names_the_others",
    "test_formats_table_has_a_test_writer_for_every_format",
    "test_help_has_an_examples_section_with_siamcli_command_lines",
    "test_inspect_a_million_dimensions_reads_a_bounded_sample",
    "test_inspect_every_output_format",
    "test_inspect_plot_writes_a_png",
    "test_installed_executable_reports_errors_in_one_line",
    "test_kernel_overall_limit_matches_long_double_over_the_whole_range",
    "test_kernel_topk_matches_long_double_over_the_whole_range",
    "test_load_embeddings_round_trips_random_arrays_from_stdin",
    "test_long_title_and_footnote_fit_the_evaluation_figure",
    "test_loose_threshold_keeps_topk_within_the_memory_budget",
    "test_matrix_output_naming_an_input_is_refused_before_loading_and_the_input_is_intact",
    "test_missing_shards_fail_through_the_executable_without_a_cluster",
    "test_no_module_outside_metrics_names_a_metric",
    "test_operands_made_on_two_threads_give_the_scores_of_one_thread",
    "test_overall_limit_between_two_sets_matches_brute_force",
    "test_overall_limit_on_self_lists_each_unordered_pair_once",
    "test_paired_matches_the_diagonal_of_cdist",
    "test_pipe_to_head_exits_with_the_sigpipe_status",
    "test_pipe_to_head_prints_no_broken_pipe",
    "test_plot_evaluation_writes_a_png_of_the_figure_size",
    "test_plot_format_follows_the_suffix",
    "test_plot_naming_an_input_is_refused",
    "test_plot_same_inputs_give_the_same_bytes",
    "test_plots_never_load_pyplot",
    "test_prepare_on_cluster_fits_on_the_rows_of_dask_arrays_as_the_local_engine",
    "test_product_scores_are_the_same_to_the_last_bit_for_any_thread_count_and_budget",
    "test_rankings_stay_within_the_memory_budget",
    "test_read_fast_agrees_with_the_careful_reader_or_declines",
    "test_readme_example_sessions_print_what_the_readme_shows",
    "test_resampled_figures_equal_the_report_on_the_resampled_pairs",
    "test_retrieval_report_matches_brute_force_with_ties",
    "test_screened_topk_finds_planted_duplicates_in_every_block_and_ties_them_by_index",
    "test_screened_topk_of_many_tiles_with_any_thread_count_equals_brute_force",
    "test_screened_topk_with_threshold_and_self_equals_brute_force",
    "test_self_comparison_excludes_self_by_index_not_by_score",
    "test_siamese_embeddings_recall_at_1_at_least_pixels",
    "test_square_roots_of_many_tiles_fill_a_given_output_and_keep_near_duplicates_exact",
    "test_stepped_quantisers_equal_the_sentence_transformers_formula_on_ordinary_values",
    "test_table_lines_hold_no_raw_control_for_any_ids",
    "test_titles_fit_within_the_figure",
    "test_unreachable_scheduler_exits_2_naming_the_address",
    "test_verification_report_properties",
})


#: The fast loop draws this share of each property test's examples (at least FAST_LOOP_EXAMPLES_MIN);
#: the full run (.ci/run) draws them all. Property tests are 27 of the fast loop's 67 s at full count.
FAST_LOOP_EXAMPLES_SHARE = 4
FAST_LOOP_EXAMPLES_MIN = 5


def pytest_collection_modifyitems(config, items):
    """Runs of the installed `siamcli` executable (the `entry` parameter "executable") start a new
    Python process each, so they belong to the slow suite; their CliRunner twins stay in the fast loop.
    So do the tests named in SLOW_TESTS. In the fast loop, property tests draw fewer examples."""
    slow = pytest.mark.slow
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("entry") == "executable":
            item.add_marker(slow)
        elif getattr(item, "originalname", item.name) in SLOW_TESTS:
            item.add_marker(slow)
    if "not slow" in (config.getoption("markexpr") or ""):
        _draw_fewer_examples(items)


def _draw_fewer_examples(items) -> None:
    """Each hypothesis test's max_examples divided by FAST_LOOP_EXAMPLES_SHARE. Hypothesis has no
    public way to override a test's own @settings, so this replaces the settings it keeps on the test
    (where a later version keeps them elsewhere, the tests simply draw their full count)."""
    from hypothesis import settings

    done = set()
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if not getattr(test, "is_hypothesis_test", False) or own is None or id(test) in done:
            continue
        done.add(id(test))
        fewer = max(FAST_LOOP_EXAMPLES_MIN, own.max_examples // FAST_LOOP_EXAMPLES_SHARE)
        test._hypothesis_internal_use_settings = settings(own, max_examples=min(own.max_examples, fewer))
