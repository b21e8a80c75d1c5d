"""Training detectors. Submodules import their heavy dependencies (torch, scikit-learn) lazily."""
