"""dataprep: detect, validate, convert and prepare fine-tuning data."""

__version__ = "0.1.0"
