"""Reports: what an evaluation, a training run or a prediction draws and writes."""
