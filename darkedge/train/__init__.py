"""Training: the distillation loss, one loop for every model, evaluation, run directories, the pipeline."""
