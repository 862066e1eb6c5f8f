"""Datasets: validated exports of a job's agreed items, and the buyers granted to download them."""
