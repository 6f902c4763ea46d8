"""What the stages compute with the models: the differentiable causal rollout (`unroll`), the
teachers' and critic's bidirectional view of a clip (`clip_model`) and the losses."""
