"""Level 4, autonomous: production monitoring retrains, checks live, promotes and rolls back."""

#: The package's own name. It also names the package's flow, deployment, experiment and state
#: folder, so a copy renamed by ``make template NAME=…`` names its own.
PACKAGE = __name__
