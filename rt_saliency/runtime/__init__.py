"""Inference backends behind one runner interface, and the streaming predictors built on them."""
