"""The machinery every paper's stages share: presets, data and corpus, models, the training loop with
its checkpoints, evaluation, the caches of trained teachers, the results pipeline, report and CLI."""
