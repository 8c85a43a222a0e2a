"""Transfer learning: classifier heads trained on the gallery's people, cached bottlenecks, fine-tuning."""
