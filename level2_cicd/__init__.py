"""Level 2, CI/CD: tested code, a model registry, a validation gate and automatic deployment."""

#: The package's own name. It also names the package's flow, deployment, experiment and state
#: folder, so a copy renamed by ``make template NAME=…`` names its own.
PACKAGE = __name__
