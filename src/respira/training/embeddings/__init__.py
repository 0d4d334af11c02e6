"""The embedding store of frozen-encoder runs: every view of a cycle embedded once and shared by the
trainers of a seed."""
