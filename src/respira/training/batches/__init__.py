"""The Trainer's batches: samplers that set each batch's make-up by the order of indices (bags kept
whole), and the collator that turns cycles into padded, labelled tensors."""
