"""What the studies return: typed results that reports read by attribute and that serialize to a
run directory's metrics.json. Data only; the studies in `interp.experiments` make them."""
