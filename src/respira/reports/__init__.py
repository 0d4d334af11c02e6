"""Reports: what an evaluation, a training run or a prediction draws and writes (PNG figures on Agg
``Figure`` objects, written atomically)."""
