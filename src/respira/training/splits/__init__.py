"""The data of a run: the dataset splits its data options build, other corpora mixed in, the split
``respira evaluate`` scores."""
