"""Results: the SQLite store, analysis, plots and the HTML report."""
