"""The machinery every stage runs under: the loop, torchrun, resumable state, the optimiser step."""
