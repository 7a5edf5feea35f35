"""Structured channel pruning of a trained model folder (python -m train.prune).

    python -m train.prune --model models/signs --out models/signs-slim --target-macs 0.3

graph       channel tracing through the Keras graph, rebuilding with fewer filters, MACs
importance  filter importance: first-order Taylor, mean activation, L1 norm
select      which filters go in one step (importance per MAC saved, down to a target)
distill     the distillation loss and one fine-tuning epoch
run         the step loop, checkpoints, the validation allowance
output      the pruned model folder, prune.json, prune.png
compare     both folders converted: accuracy, size, int8 latency side by side (no TensorFlow)
latency     two .tflite files timed alternately (no TensorFlow; bench/prune.py uses it)
"""
