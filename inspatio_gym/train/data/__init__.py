"""What the stages train on: procedural clips (vae), condition pairs (generator stages) and
their latents, every sample a function of the run's seed and the step."""
