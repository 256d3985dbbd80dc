"""The one training loop for every model, its schedules, checkpoints and run folders, torchrun process
groups, and CPU threads."""
