"""Pairwise and BCubed scores and cannot-link counts on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from likeness_eval.cluster_metrics import bcubed, cannot_link_violations, pairwise


def test_a_perfect_clustering_scores_one_whatever_its_label_names():
    truth = np.array([0, 0, 1, 1, 2])
    clusters = np.array([7, 7, 3, 3, 9])
    assert pairwise(clusters, truth)["f1"] == bcubed(clusters, truth)["f1"] == 1.0


def test_merging_two_people_costs_precision_only():
    truth = np.array([0, 0, 1, 1])
    merged = np.array([0, 0, 0, 0])
    p = pairwise(merged, truth)
    assert p["recall"] == 1.0 and p["precision"] == pytest.approx(2 / 6)
    b = bcubed(merged, truth)
    assert b["recall"] == 1.0 and b["precision"] == pytest.approx(0.5)


def test_splitting_a_person_costs_recall_only_and_unlabelled_faces_do_not_count():
    truth = np.array([0, 0, 0, 0, -1])
    split = np.array([0, 0, 1, 1, 0])  # the unlabelled background face sits with them
    b = bcubed(split, truth)
    assert b["precision"] == 1.0 and b["recall"] == pytest.approx(0.5)
    p = pairwise(split, truth)
    assert p["precision"] == 1.0 and p["recall"] == pytest.approx(2 / 6)


def test_cannot_link_violations_count_pairs_of_one_photo_in_one_cluster():
    clusters = np.array([0, 0, 0, 1, 1])
    photos = np.array([5, 5, 5, 6, 7])
    assert cannot_link_violations(clusters, photos) == 3
    assert cannot_link_violations(np.arange(5), photos) == 0
