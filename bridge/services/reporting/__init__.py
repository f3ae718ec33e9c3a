"""What creators, operators and the public read; nothing here writes.

The outcome report (``report``); the public outcome pages' figures (``public_outcomes``);
cohorts' capacity, roster and waitlist (``cohorts``); the console's home page (``home``) and its
business figures (``money``: the report's own figures for this month and last).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.reporting.cohorts import UnknownCohortCode, cohort_roster, list_cohorts
from bridge.services.reporting.home import catalogue_report, catalogue_rows, console_home
from bridge.services.reporting.money import business_home
from bridge.services.reporting.public_outcomes import load_public_outcomes
from bridge.services.reporting.report import build_report

__all__ = [
    "UnknownCohortCode",
    "build_report",
    "business_home",
    "catalogue_report",
    "catalogue_rows",
    "cohort_roster",
    "console_home",
    "list_cohorts",
    "load_public_outcomes",
]
