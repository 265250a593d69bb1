"""A Siamese network on MNIST pairs as a scopelab experiment family (the entry point: scopelab_siamese.family)."""
