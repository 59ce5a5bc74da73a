"""Level 4, monitoring and governance: production is logged, monitored daily, and raises alerts."""

#: The package's own name. It also names the package's flow, deployment, experiment and state
#: folder, so a copy renamed by ``make template NAME=…`` names its own.
PACKAGE = __name__
