"""respira: fine-tune audio encoders for respiratory-sound classification on ICBHI 2017."""

__version__ = "0.1.0.dev0"
