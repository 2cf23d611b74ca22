"""Reproducible benchmarks that print ratios against peers (``blindsum bench ...``)."""
