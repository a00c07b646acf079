"""The terminal's list of skipped statements: one line per cause, the full list stays in analysis.json."""

from nlp_underspec.analysis.display import _skipped_lines


def test_a_constant_metric_is_one_line_and_shared_reasons_name_their_metrics():
    skipped = [
        {"statement": "seed_share", "subject": "coref/dev_accuracy",
         "reason": "coref/dev_accuracy is 1 for every run: there is no variance to split."},
        {"statement": "spread", "subject": "sts_gender/pearson_bls",
         "reason": "coref/dev_accuracy is 1 for all 9 shared runs: the ratio of sts_gender/pearson_bls's spread to it "
                   "is undefined. Compare with an iid metric that varies."},
        {"statement": "iid_vs_stress", "subject": "sts_gender/pearson_bls",
         "reason": "coref/dev_accuracy is 1 for every shared run: its rank correlation with sts_gender/pearson_bls is "
                   "undefined."},
        {"statement": "seed_share", "subject": "winogender/bias_r@pretrained",
         "reason": "winogender/bias_r@pretrained: every seed has one run."},
        {"statement": "seed_share", "subject": "winogender/accuracy@pretrained",
         "reason": "winogender/accuracy@pretrained: every seed has one run."},
        {"statement": "spread", "subject": "x", "reason": "fewer than 2 models."},
    ]
    assert _skipped_lines(skipped) == [
        "  seed_share: winogender/bias_r@pretrained, winogender/accuracy@pretrained: every seed has one run.",
        "  spread: fewer than 2 models.",
        "  coref/dev_accuracy is 1 for every run: 3 statement(s) with it skipped (seed_share, spread, iid_vs_stress); "
        "the list is in analysis.json",
    ]
