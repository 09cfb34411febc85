"""Models: masked-LM presets, the SPLADE document encoder, query encoders, the Li-LSR table."""
