"""How well embeddings separate same from different: verification and retrieval scores as pure
functions over (scores, labels), and `evaluate`, which scores labelled pairs of embeddings.

- verification: ROC, AUC, EER, TAR@FAR, best accuracy, AP, F1, cross-validated accuracy
- retrieval: precision@1, recall@k, mAP@R of a labelled set against itself
- distribution: how same- and different-pair scores spread (summaries, histograms)
- pairs: every pair or a balanced sample of a labelled set; pair labels read as same/different
- uncertainty: DeLong's AUC interval and paired test; bootstrap intervals over pairs and queries
- models: several models of the same items, matched by id or row; the paired test against the best
- variants: smaller copies of a model (its first d dimensions, float16/int8/uint8/binary copies)
- storage: those copies evaluated beside their models, each tested against its model
- gates: fail_under conditions on the figures, each naming the model (or copy) and metric it judges
- evaluator: `evaluate`, the orchestration; layout: its table
"""

from .distribution import CLASS_SUMMARY_FIELDS, ClassSummary, ScoreDistribution, score_distribution, text_histogram
from .evaluator import Evaluation, MetricEvaluation, choose_metrics, evaluate
from .gates import GATE_PREFIXES, GATES, Judgement, check_fail_under, fail_under, judge
from .models import Model, align_models, as_models, rank_and_test
from .pairs import AUTO_LABELS, DEFAULT_PAIR_LIMIT, all_pairs, check_pair_count, check_seed, parse_labels, sample_pairs
from .retrieval import (DEFAULT_KS, RETRIEVAL_FIELDS, RetrievalCounts, RetrievalReport, class_pair_scores,
                        retrieval_counts, retrieval_from_counts, retrieval_report)
from .uncertainty import (DEFAULT_BOOTSTRAP, AucComponents, Intervals, auc_components, auc_interval,
                          bootstrap_means, bootstrap_verification, paired_p_value)
from .verification import DEFAULT_FARS, VERIFICATION_FIELDS, Roc, VerificationReport, far_key, verification_report

__all__ = [
    "CLASS_SUMMARY_FIELDS", "ClassSummary", "ScoreDistribution", "score_distribution", "text_histogram",
    "Evaluation", "MetricEvaluation", "choose_metrics", "evaluate",
    "GATE_PREFIXES", "GATES", "Judgement", "check_fail_under", "fail_under", "judge",
    "Model", "align_models", "as_models", "rank_and_test",
    "DEFAULT_BOOTSTRAP", "AucComponents", "Intervals", "auc_components", "auc_interval", "bootstrap_means",
    "bootstrap_verification", "paired_p_value",
    "AUTO_LABELS", "DEFAULT_PAIR_LIMIT", "all_pairs", "check_pair_count", "check_seed", "parse_labels", "sample_pairs",
    "DEFAULT_KS", "RETRIEVAL_FIELDS", "RetrievalCounts", "RetrievalReport", "class_pair_scores", "retrieval_counts",
    "retrieval_from_counts", "retrieval_report",
    "DEFAULT_FARS", "VERIFICATION_FIELDS", "Roc", "VerificationReport", "far_key", "verification_report",
]
