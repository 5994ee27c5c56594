"""Pattern GAN: motif corpus, model, training, evaluation and promotion."""
