"""Experiments: commands that need a trained model and arguments, run by hand to answer one
question (the answer and the command are in docs/). Benchmarks that run as they are live in
bench/ (`make bench`). Nothing here is shipped to the device (the bundle holds edge/ only)."""
