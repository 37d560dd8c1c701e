import numpy as np
import pytest
from sklearn.metrics import auc as sk_auc
from sklearn.metrics import roc_auc_score, roc_curve

from likeness_eval import metrics as m

# 4 genuine, 4 impostor pairs; every number below is worked out by hand.
GEN = [0.9, 0.8, 0.7, 0.6]
IMP = [0.75, 0.5, 0.3, 0.1]
SCORES = np.array(GEN + IMP)
LABELS = np.array([True] * 4 + [False] * 4)


def test_rates_at_hand_example():
    # accept >= 0.7: impostor 0.75 accepted (1/4), genuine 0.6 rejected (1/4)
    assert m.rates_at(SCORES, LABELS, 0.7) == (0.25, 0.25)
    assert m.rates_at(SCORES, LABELS, 0.95) == (0.0, 1.0)
    assert m.rates_at(SCORES, LABELS, 0.0) == (1.0, 0.0)


def test_auc_hand_example():
    # genuine > impostor in 4 + 4 + 3 + 3 = 14 of 16 pairs
    assert m.auc(SCORES, LABELS) == pytest.approx(14 / 16)


def test_auc_counts_ties_as_half():
    scores = np.array([0.5, 0.5])
    labels = np.array([True, False])
    assert m.auc(scores, labels) == pytest.approx(0.5)


def test_eer_hand_example():
    rate, threshold = m.eer(SCORES, LABELS)
    assert rate == pytest.approx(0.25)
    assert 0.6 <= threshold <= 0.75


def test_best_threshold_hand_example():
    # best: accept > 0.5 and >= 0.6 -> 4 genuine + 3 impostors right = 7/8; midpoint 0.55
    threshold, acc = m.best_threshold(SCORES, LABELS)
    assert acc == pytest.approx(7 / 8)
    assert threshold == pytest.approx(0.55)


def test_fnmr_at_fmr_hand_example():
    p = m.fnmr_at_fmr(SCORES, LABELS, 0.25)  # one impostor (0.75) may pass
    assert (p.fmr, p.fnmr) == (0.25, 0.0)
    assert 0.5 < p.threshold <= 0.6
    p = m.fnmr_at_fmr(SCORES, LABELS, 0.1)  # no impostor may pass: threshold above 0.75
    assert (p.fmr, p.fnmr) == (0.0, 0.5)
    assert p.resolvable is False  # 0.1 * 4 impostors < 1
    assert m.fnmr_at_fmr(SCORES, LABELS, 1.0).fnmr == 0.0


KF_SCORES = np.array([0.9, 0.2, 0.8, 0.4, 0.7, 0.62, 0.65, 0.1])
KF_LABELS = np.array([True, False, True, False, True, False, True, False])
KF_FOLDS = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def test_kfold_exact_hand_example():
    res = m.kfold_accuracy(KF_SCORES, KF_LABELS, KF_FOLDS, method="exact")
    # fold 1 held out, trained on fold 0: only the midpoint 0.6 of (0.4, 0.8) is perfect
    #   fold 1 at 0.6: 0.7 ok, impostor 0.62 accepted (wrong), 0.65 ok, 0.1 ok -> 3/4
    # fold 0 held out, trained on fold 1: midpoint 0.635 of (0.62, 0.65); fold 0 all right
    assert res.accuracies.tolist() == [1.0, 0.75]
    assert res.thresholds[0] == pytest.approx(0.635)
    assert res.thresholds[1] == pytest.approx(0.6)
    assert res.mean == pytest.approx(0.875)
    assert res.std == pytest.approx(0.125)


def test_kfold_insightface_hand_example():
    # squared distances 2 - 2 cos: fold 0 genuine 0.2, 0.4, impostor 1.6, 1.2;
    # fold 1 genuine 0.6, 0.7, impostor 0.76, 1.8. Grid 0, 0.01, ...; first best wins.
    res = m.kfold_accuracy(KF_SCORES, KF_LABELS, KF_FOLDS)
    # trained on fold 0: first perfect distance threshold 0.40 (0.4 < 0.4 fails, but
    #   2 - 2 * 0.8 is 0.3999... in floating point, as in InsightFace) -> cos 0.8;
    #   fold 1 at 0.40: both genuine rejected -> 2/4
    # trained on fold 1: first perfect 0.70 (cos 0.65); fold 0 all right
    assert res.accuracies.tolist() == [1.0, 0.5]
    assert res.thresholds == pytest.approx([0.65, 0.8])
    assert res.mean == pytest.approx(0.75)


def test_kfold_insightface_matches_reference_loop():
    """Against a transcription of InsightFace's calculate_roc (no PCA, no shuffle)."""
    rng = np.random.default_rng(7)
    emb = rng.normal(size=(400, 16))
    emb[1::2] = emb[0::2] + rng.normal(scale=1.2, size=(200, 16)) * (rng.random((200, 1)) < 0.5)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    issame = np.linalg.norm(emb[0::2] - emb[1::2], axis=1) < 1.0  # any labels will do
    issame[::7] = ~issame[::7]
    dist = np.sum(np.square(emb[0::2] - emb[1::2]), 1)
    thresholds = np.arange(0, 4, 0.01)
    folds = np.arange(200) // 20
    ref = []
    for k in range(10):
        train, test = folds != k, folds == k
        acc_train = [np.mean((dist[train] < t) == issame[train]) for t in thresholds]
        best = thresholds[int(np.argmax(acc_train))]
        ref.append(np.mean((dist[test] < best) == issame[test]))
    scores = np.sum(emb[0::2] * emb[1::2], 1)
    res = m.kfold_accuracy(scores, issame, folds)
    np.testing.assert_allclose(res.accuracies, ref)


def _random_scores(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    gen = np.round(rng.normal(0.6, 0.15, n), 3)  # rounding makes ties
    imp = np.round(rng.normal(0.05, 0.1, n), 3)
    scores = np.concatenate([gen, imp])
    labels = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    return scores, labels


def test_roc_matches_sklearn():
    scores, labels = _random_scores()
    fmr, tar, thr = m.roc(scores, labels)
    fpr, tpr, sk_thr = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fmr, fpr)
    np.testing.assert_allclose(tar, tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert m.auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert m.auc(scores, labels) == pytest.approx(sk_auc(fpr, tpr), abs=1e-12)


@pytest.mark.parametrize("target", [1e-1, 1e-2, 1e-3, 1e-4])
def test_fnmr_at_fmr_matches_sklearn(target):
    scores, labels = _random_scores(seed=1)
    fpr, tpr, _ = roc_curve(labels, scores)
    expected = 1.0 - tpr[fpr <= target].max()
    p = m.fnmr_at_fmr(scores, labels, target)
    assert p.fnmr == pytest.approx(expected, abs=1e-12)
    assert p.fmr <= target
    assert p.resolvable is (target * 3000 >= 1)


def test_eer_matches_sklearn_crossing():
    scores, labels = _random_scores(seed=2)
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    i = np.argmin(np.abs(fnr - fpr))
    rate, _ = m.eer(scores, labels)
    assert rate == pytest.approx((fpr[i] + fnr[i]) / 2, abs=2e-3)
    assert min(fpr[i], fnr[i]) - 1e-9 <= rate <= max(fpr[i], fnr[i]) + 1e-3


def test_best_threshold_is_the_maximum_over_every_threshold():
    scores, labels = _random_scores(seed=3, n=500)
    _, acc = m.best_threshold(scores, labels)
    brute = max(np.mean((scores >= t) == labels) for t in np.r_[np.unique(scores), 9.0])
    assert acc == pytest.approx(brute)


def test_summarise_keys_and_separable_data():
    scores = np.r_[np.linspace(0.5, 0.9, 60), np.linspace(-0.2, 0.2, 60)]
    labels = np.r_[np.ones(60, bool), np.zeros(60, bool)]
    folds = np.r_[np.arange(60) % 10, np.arange(60) % 10]
    s = m.summarise(scores, labels, folds, 0.3, (0.2, 0.4))
    # InsightFace's first-best grid threshold sits right at the lowest training genuine,
    # so the held-out fold holding the lowest genuine score loses it; exact midpoints don't
    assert s["accuracy"]["mean"] == pytest.approx(1 - 1 / 120)
    assert s["accuracy_exact_thresholds"]["mean"] == 1.0
    assert s["best_accuracy"] == 1.0 and s["eer"] == 0.0 and s["auc"] == 1.0
    assert (s["fmr_at_threshold"], s["fnmr_at_threshold"]) == (0.0, 0.0)
    assert set(s["fnmr_at_fmr"]) == {"1e-1", "1e-2", "1e-3", "1e-4"}
    assert s["tar_at_far"]["1e-2"] == 1.0
    assert [r["threshold"] for r in s["threshold_table"]] == [0.2, 0.4]
    assert s["fmr_resolution"] == pytest.approx(1 / 60)
