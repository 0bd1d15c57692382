"""Reports over embeddings and scores: evaluation (verification, retrieval), inspection (a health
report of one set), losses (contrastive, triplet, margin sweeps) and plots of them.

Each is imported on first use (`siamcli.evaluate`, the CLI's commands): nothing here is loaded at
start-up.
"""
