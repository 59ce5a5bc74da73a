"""Level 2, CI/CD: tested code, a model registry, a validation gate and automatic deployment."""
