"""forge: build consented deepfake benchmarks (ledger, generation methods, perturbations, builder)."""
