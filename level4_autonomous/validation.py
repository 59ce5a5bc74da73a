"""Data validation: is this dataset fit to train on? Checked before any training starts.

Two layers. The file contract (columns, types, ranges, nulls, keys) is the one every level shares,
:func:`data.validate_dataset`, which names the file, column and first bad line. On top, the
level's own expectations from ``config.toml``: enough volume to learn from, and plausible values
(a price feed that switches from euros to cents still fits the contract, but not the
expectations). No validation library is used: the contract checks already live in ``data/``, and
four expectations read more clearly as four comparisons than as a schema in another dialect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from data import Dataset, validate_dataset

from .config import Expectations


@dataclass(frozen=True)
class Check:
    """One check (an expectation of the data, a check of the gate): whether it held, and why."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class ValidationReport:
    """Everything validation found; ``problems`` name file and column, one line each."""

    checks: list[Check] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the dataset may be trained on: nothing was found wrong with it."""
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        """The report as JSON data, logged with the run as ``validation.json``."""
        return {
            "passed": self.passed,
            "problems": self.problems,
            "checks": [asdict(check) for check in self.checks],
        }


class DataValidationError(ValueError):
    """The dataset failed validation; the report says why, and nothing was trained."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(
            "data validation failed:\n" + "\n".join(f"  - {p}" for p in report.problems)
        )


def validate(dataset: Dataset, expectations: Expectations) -> ValidationReport:
    """Check the file contract, then (only if it holds) the level's expectations."""
    contract = [str(problem) for problem in validate_dataset(dataset)]
    contract_check = Check(
        "file contract", not contract, f"{len(contract)} problems" if contract else "ok"
    )
    if contract:
        return ValidationReport(checks=[contract_check], problems=contract)
    checks = [contract_check, *expectation_checks(dataset, expectations)]
    problems = [check.detail for check in checks if not check.passed]
    return ValidationReport(checks=checks, problems=problems)


def expectation_checks(dataset: Dataset, expectations: Expectations) -> list[Check]:
    """The level's expectations as checks: enough interactions, users, items; plausible prices."""
    interactions = dataset.interactions
    volume = {
        "user_id": (interactions["user_id"].nunique(), expectations.min_users, "users"),
        "item_id": (interactions["item_id"].nunique(), expectations.min_items, "items"),
    }
    checks = [
        Check(
            "volume: interactions",
            len(interactions) >= expectations.min_interactions,
            f"interactions.csv: {len(interactions):,} rows "
            f"(expected at least {expectations.min_interactions:,})",
        )
    ]
    for column, (found, minimum, what) in volume.items():
        checks.append(
            Check(
                f"volume: {what}",
                found >= minimum,
                f"interactions.csv, column '{column}': {found:,} distinct {what} "
                f"(expected at least {minimum:,})",
            )
        )
    if "price" in interactions.columns:
        highest = float(interactions["price"].max())
        plausible = highest <= expectations.max_price
        checks.append(
            Check(
                "range: price",
                plausible,
                f"interactions.csv, column 'price': highest value {highest:,.2f} "
                f"(expected at most {expectations.max_price:,.2f}"
                + (")" if plausible else "; were prices sent in cents?)"),
            )
        )
    return checks
