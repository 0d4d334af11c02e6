"""The torch-free inference core every runner shares: windows, batching, decisions, events, chunks."""
