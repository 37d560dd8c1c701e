"""Clustering faces into people: a kNN graph (FAISS, in chunks) and graph
clusterings under cannot-link and must-link constraints."""

from likeness.clustering.graph import Edges, knn_edges
from likeness.clustering.methods import chinese_whispers, threshold_components

__all__ = ["Edges", "chinese_whispers", "knn_edges", "threshold_components"]
