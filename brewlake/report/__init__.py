"""The HTML report: gold and the recent runs as one self-contained page (`brewlake report`)."""
